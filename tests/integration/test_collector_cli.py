"""``activecalls-collector`` commands against a real Mosquitto and a running
collector, and its usage errors: one line on stderr, exit status 2."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from collector.cli import main
from common.wire import DutyStatus, IncidentStatus, UnitState, decode_eta, encode_state
from tests.conftest import Broker, free_port
from tests.integration.collectorkit import TOPICS, Client, ServiceThread, fix, load, wait_until, write_config


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _one_line_error(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "error: " in lines[0] and "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--bogus"], ["activecalls-collector: error:", "--bogus"]),
        (["nope"], ["No such command"]),
        (["incident", "open", "--type", "x", "--priority", "9", "--lat", "1", "--lon", "2"], ["incident open", "9"]),
        (["incident", "open", "--type", "x", "--lat", "1", "--lon", "2"], ["Missing option '--priority'"]),
        (["unit-status", "U1", "asleep"], ["unit-status", "asleep"]),
        (["export", "--since", "yesterday"], ["--since", "yesterday"]),
        (["units", "--config", "/nonexistent/collector.toml"], ["/nonexistent/collector.toml", "no such file"]),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(args: list[str], needles: list[str]) -> None:
    _one_line_error(cli(*args), 2, *needles)


def test_config_mistake_names_file_line_and_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, port=1883, extra="[eta]\ncircuity = 0.5\n")
    _one_line_error(cli("units", "--config", str(path)), 2, f"{path}:", "[eta] circuity")
    text = path.read_text().replace("circuity = 0.5", "circuity = 1.3")
    path.write_text(text + "[public]\nenabled = false\n[bogus]\n")
    _one_line_error(cli("units", "--config", str(path)), 2, "bogus", "unknown key")
    path.write_text(path.read_text().replace("\n[bogus]\n", "\ncell_m = 5\n"))
    _one_line_error(cli("units", "--config", str(path)), 2, f"{path}:", "[public] cell_m: must be a number of metres")


def test_the_public_feed_needs_its_secret_and_has_a_preview_command(tmp_path: Path) -> None:
    path = write_config(tmp_path, port=free_port(), extra='[public]\nsecret_file = "public-secret"\n')
    _one_line_error(cli("run", "--config", str(path)), 2, "public-secret", "openssl rand -hex 32")
    (tmp_path / "public-secret").write_text("3f9c0e55b1d2a7c48e6f0a9b2c1d3e4f\n")
    _one_line_error(cli("public", "preview", "--config", str(path)), 2, "collector.sqlite: no such database")


def test_real_entry_point_prints_no_traceback(tmp_path: Path) -> None:
    path = write_config(tmp_path, port=free_port(), extra="[ingest]\nshared_group = 'a/b'\n")
    out = subprocess.run([sys.executable, "-m", "collector.cli", "run", "--config", str(path)],
                         capture_output=True, text=True, timeout=30)  # fmt: skip
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "shared_group" in out.stderr, out.stderr


@pytest.mark.integration
def test_commands_against_a_running_collector(broker: Broker, tmp_path: Path) -> None:
    path = write_config(tmp_path, port=broker.port)
    config = str(path)
    collector = ServiceThread(load(path)).start()
    client = Client(broker.port)
    try:
        now = dt.datetime.now(dt.UTC)
        for unit, lat, age in (("U1", 53.240, 1), ("U2", 53.260, 1), ("U3", 53.236, 600)):
            client.publish(TOPICS.state(unit), encode_state(UnitState.ONLINE), retain=True)
            client.fix(fix(unit, 1, lat, -1.42, at=now - dt.timedelta(seconds=age)))
            assert cli("unit-status", unit, "available", "--config", config).exit_code == 0
        opened = cli("incident", "open", "--id", "INC-7", "--type", "burglary", "--priority", "1",
                     "--lat", "53.235", "--lon", "-1.42", "--config", config)  # fmt: skip
        assert opened.exit_code == 0 and opened.stdout.strip() == "INC-7"
        assert cli("incident", "assign", "INC-7", "U2", "--config", config).exit_code == 0
        wait_until(lambda: collector.call(lambda s: (i := s.incidents.get("INC-7")) is not None and i.units == ("U2",)),
                   5, "assignment")  # fmt: skip
        wait_until(lambda: collector.call(lambda s: s.counters.acked) >= 11, 5, "everything stored")

        table = cli("etas", "--config", config)
        assert table.exit_code == 0, table.stderr
        assert "Recommended: U1" in table.stdout
        u3 = next(line for line in table.stdout.splitlines() if line.startswith("U3"))
        assert "STALE" in u3 and "min ago" in u3  # nearest, but its position is 10 minutes old
        reports = [decode_eta(line) for line in cli("etas", "INC-7", "--json", "--config", config).stdout.splitlines()]
        assert [r.recommended for r in reports] == ["U1"]
        rows = {row.unit: row for row in reports[0].units}
        assert rows["U2"].assigned and rows["U3"].stale and rows["U3"].fix_age_s >= 600

        units = cli("units", "--config", config)
        assert units.exit_code == 0 and "STALE" in units.stdout and units.stdout.count("available") == 3
        assert "INC-7" in cli("incidents", "--config", config).stdout

        csv = cli("export", "--format", "csv", "--unit", "U1", "--config", config).stdout.splitlines()
        assert len(csv) == 2 and csv[1].startswith("U1,1,")
        geojson = json.loads(cli("export", "--since", "1h", "--config", config).stdout)
        assert len(geojson["features"]) == 3
        gpx = cli("export", "--format", "gpx", "--config", config).stdout
        assert gpx.count("<trk>") == 3

        check = cli("check", "--config", config)
        assert check.exit_code == 0 and check.stdout.count("✓") == 3, check.stdout
        assert check.stdout.endswith("\nall checks passed\n")

        _one_line_error(cli("calibrate", "--config", config), 1, "nothing to calibrate")
        _one_line_error(cli("incident", "close", "NOPE", "--config", config), 1, "NOPE", "not on the broker")
        assert cli("incident", "close", "INC-7", "--config", config).exit_code == 0
        wait_until(lambda: collector.call(lambda s: s.incidents.get("INC-7").status) is IncidentStatus.CLOSED, 5,
                   "closed")  # fmt: skip
        time.sleep(0.1)
        assert cli("incidents", "--config", config).stdout.strip() == "No open incidents."
        assert collector.call(lambda s: s.fleet.view("U1", time.time()).duty) is DutyStatus.AVAILABLE
    finally:
        client.close()
        assert collector.stop() == 0


@pytest.mark.integration
def test_check_says_what_is_wrong(tmp_path: Path) -> None:
    path = write_config(tmp_path, port=free_port(), extra="")
    path.write_text(path.read_text().replace('path = "collector.sqlite"', 'path = "missing/dir/c.sqlite"'))
    result = cli("check", "--config", str(path))
    assert result.exit_code == 1
    out = result.stdout
    assert "✓  config" in out
    assert "✗  broker    " in out and "connection refused" in out and "hint: broker unreachable" in out
    assert "✗  database  " in out and "no such directory" in out and "hint: create it, or set [store] path" in out
    assert out.endswith("\n2 problems found\n")
