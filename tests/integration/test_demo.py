"""The README's demo, run as a newcomer runs it (``scripts/demo`` execs ``activecalls-sim demo``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SIM = str(Path(sys.executable).with_name("activecalls-sim"))


def test_demo_runs_the_whole_system_and_stops_everything(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run([SIM, "demo", "--workdir", str(workdir)], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Traceback" not in out + result.stderr
    commands = re.findall(r"^\$ (.*)$", out, re.MULTILINE)
    collector_commands = [c for c in commands if c.startswith("activecalls-collector ")]
    assert len(collector_commands) >= 10 and all("--config collector.toml" in c for c in collector_commands), out
    assert "--type 'road traffic collision'" in out  # quoted: every command shown can be pasted
    assert "logs, configs and databases kept in" in out
    # The production configuration: cars and services on TLS with a certificate each, the
    # public feed on its own broker, reached over the bridge.
    assert re.search(r"^public/v1/derbyshire/calls: \d+ bytes, retained", out, re.MULTILINE), out
    assert 'cert_file = "lab-pki/units/PC-01.crt"' in (workdir / "PC-01.toml").read_text()
    assert re.search(r"^the public site: http://127\.0\.0\.1:\d+/", out, re.MULTILINE), out  # served while it ran
    board = r"^the dispatcher's board: http://127\.0\.0\.1:\d+/  \(private: log in with the token [0-9a-f]{48}\)"
    assert re.search(board, out, re.MULTILINE), out
    assert "dispatch board on http://127.0.0.1:" in (workdir / "collector.log").read_text()
    assert (workdir / "public" / "index.html").is_file() and (workdir / "public" / "trends.json").is_file()
    recommended = re.findall(r"^Recommended: (\S+)", out, re.MULTILINE)
    assert len(recommended) >= 2 and recommended[0] != recommended[1], out  # it moves when the nearest goes
    # ETAs by road, and a patrol car sent to a call on its way whose arrival is measured.
    assert re.search(r"^PC-0\d\s.*\srouter\s", out, re.MULTILINE), out
    assert re.search(r"^Predicted vs actual: 1 arrivals measured, 1 with an ETA at dispatch", out, re.MULTILINE), out
    for car in ("PC-01", "PC-02", "PC-03", "PC-04", "PC-05"):  # every real agent's fixes reached the collector
        assert re.search(rf"^{car}\s", out, re.MULTILINE), f"{car} missing from the units table"
    calls = json.loads((workdir / "public" / "calls.geojson").read_text())
    units = json.loads((workdir / "public" / "units.geojson").read_text())
    categories = sorted(f["properties"].get("category") for f in calls["features"])
    assert len(categories) == 2 and "domestic" not in json.dumps(calls), calls  # the domestic abuse call is suppressed
    # The on-duty units appear once their statuses were watched for the delay; by the end the car sent to the
    # concern-for-welfare call is on scene there, and a car on a suppressed call is never shown.
    assert len(units["features"]) >= 23, "the on-duty units appear once their statuses were watched for the delay"
    assert re.search(r"^units as of .*: 2[345] shown$", out, re.MULTILINE), out
    text = json.dumps(units) + json.dumps(calls)
    assert "PC-0" not in text and "SIM-" not in text and "INC-" not in text  # no unit or incident ids
    after = subprocess.run(  # stopped cars first: the collector recorded them going offline
        [str(Path(sys.executable).with_name("activecalls-collector")), "units", "--config", "collector.toml"],
        capture_output=True, text=True, cwd=workdir, check=False,
    )  # fmt: skip
    assert after.returncode == 0, after.stderr
    for car in ("PC-01", "PC-05"):
        assert re.search(rf"^{car}\s+\S+\s+offline", after.stdout, re.MULTILINE), after.stdout
    leftovers = subprocess.run(["pgrep", "-f", str(workdir)], capture_output=True, text=True, check=False)
    assert leftovers.stdout.strip() == "", "the demo stopped every process it started"
