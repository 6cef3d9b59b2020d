"""The collector's benchmark scripts run, small, so they do not rot between uses."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).parents[2] / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_eta_compute_agrees_with_its_baseline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["eta_compute.py", "60", "6"])
    load("eta_compute").main()  # asserts that engine and per-pair loop give the same reports
    out = capsys.readouterr().out
    assert "60 units (20 busy elsewhere" in out and "6 open incidents" in out and "x the baseline" in out


def test_eta_accuracy_on_the_test_drives(capsys: pytest.CaptureFixture[str]) -> None:
    assert load("eta_accuracy").main(["--synthetic", "0"]) == 0
    out = capsys.readouterr().out
    assert "barefoot__x0001-001" in out and "genivi__munich-gps" in out and "all drives" in out
    assert "without barefoot__x0001-001: circuity" in out and "Synthetic drives: skipped" in out


def test_eta_accuracy_on_synthetic_drives(capsys: pytest.CaptureFixture[str]) -> None:
    module = load("eta_accuracy")
    drives = module.synthetic_drives(1)
    routes = {d.group for d in drives}
    assert len(drives) == 2 * len(routes) and len(routes) >= 3
    assert all(len(d.samples) > 0 for d in drives)
    module.report("Synthetic", drives)
    out = capsys.readouterr().out
    assert "town-centre-ring seed 0 back" in out and "without newbold: circuity" in out


def test_eta_score_bench_prints_every_method(capsys: pytest.CaptureFixture[str]) -> None:
    assert load("eta_score").main(["1"]) == 0
    out = capsys.readouterr().out
    for method in ("model", "model, learned", "roads", "roads, learned"):
        assert f"-- {method} (" in out
    assert "barefoot__x0001-001" in out and "chesterfield tour 0" in out and out.count("summary:") == 2


@pytest.mark.integration
def test_collector_bench_runs_small() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, str(BENCH / "collector.py"), "--units", "10", "--per-unit", "5", "--rounds", "2",
         "--incidents", "3", "--duration", "2"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "round 2: bare" in out.stdout and "ratio collector/bare:" in out.stdout, out.stdout + out.stderr
    assert "cold:" in out.stdout, out.stdout
    assert ", 0 without an update within 2 s" in out.stdout and "p99" in out.stdout, out.stdout


def test_public_tick_bench_runs_small(capsys: pytest.CaptureFixture[str]) -> None:
    load("public_tick").main(["20", "16"])
    out = capsys.readouterr().out
    assert "20 units x 16 min" in out and "x the baseline" in out and "up to 20 units shown" in out


@pytest.mark.integration  # drives Debian's chromium for the page weight
def test_public_site_bench_runs_small(capsys: pytest.CaptureFixture[str]) -> None:
    load("public_site").main(["5", "30", "20"])
    out = capsys.readouterr().out
    assert "KB to show the map and calls" in out and "ratio" in out and "/trends.json (a year): cold" in out, out


def test_scale_history_queries_run_on_both_layouts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["scale.py", "--skip-ingest", "--cars", "3", "--days", "2"])
    assert load("scale").main() == 0  # starts its own PostgreSQL
    out = capsys.readouterr().out
    assert "(864 rows)" in out and out.count("public feed tick (latest_at)") == 2
    assert "day partitions" in out and "one table" in out


def test_paho_receive_measures_stock_and_ours(capsys: pytest.CaptureFixture[str]) -> None:
    assert load("paho_receive").main(["--messages", "3000", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "stock paho:" in out and "+ BufferedClient reads:" in out and "queue_pubacks per 1000:" in out
