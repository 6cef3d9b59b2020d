"""activecalls-sim command line: outputs, and one clear line for every user mistake."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.decoder import NmeaDecoder
from simulators.cli import main
from tests.conftest import GPSD_CORPUS


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "no-such.log"], "does not exist"),
        (["replay", str(GPSD_CORPUS / "ublox-8.log"), "--faults", "checksum=2"], "between 0 and 1"),
        (["replay", str(GPSD_CORPUS / "ublox-8.log"), "--faults", "wobble=0.1"], "unknown fault"),
        (["replay", str(GPSD_CORPUS / "ublox-8.log"), "--tcp", "nowhere"], "HOST:PORT"),
        (["replay", str(GPSD_CORPUS / "ublox-8.log"), "--pty", "/x", "--stdout"], "choose one output"),
        (["replay", str(GPSD_CORPUS / "ublox-8.log"), "--pty", "/nonexistent-dir/gps0"], "cannot create the symlink"),
        (["drive"], "choose an output"),
        (["drive", "-o", "-", "--route", "nowhere-road"], "no route file"),
        (["drive", "-o", "-", "--hz", "20"], "--hz must be within 1..10"),
        (["drive", "-o", "-", "--sentences", "GGA,XYZ"], "unknown sentence type"),
        (["drive", "-o", "-", "--tunnel", "12"], "START:DURATION"),
        (["drive", "-o", "-", "--start", "yesterday"], "ISO 8601"),
        (["fleet", "--units", "1", "--duration", "1", "--fleet", "bad/id"], "fleet id"),
        (["fleet", "--units", "1", "--duration", "1", "--port", "1"], "connection refused (broker down or wrong port); "
                                                                         "is a broker running there?"),
        (["fleet", "--password-file", "/etc/hostname"], "--password-file needs --username"),
        (["fleet", "--host", "broker.lab", "--username", "u", "--password-file", "/etc/hostname"], "in clear"),
        (["fleet", "--cert-dir", "/"], "/SIM-0001.key"),
    ],
)
def test_user_mistakes_are_one_clear_line(args: list[str], message: str) -> None:
    code, _, err = invoke(*args)
    assert code != 0
    assert message in err, err
    assert "Traceback" not in err


def test_replay_to_stdout_keeps_the_bytes() -> None:
    log = GPSD_CORPUS / "ublox-8.log"
    result = CliRunner().invoke(main, ["replay", str(log), "--speed", "0"])
    assert result.exit_code == 0 and "epochs=72" in result.stderr
    expected = b"".join(line for line in log.read_bytes().splitlines(keepends=True) if not line.startswith(b"#"))
    assert result.stdout_bytes == expected


def test_drive_to_file_writes_truth_beside_it(tmp_path: Path) -> None:
    trace = tmp_path / "patrol.nmea"
    code, _, err = invoke("drive", "--route", "town-centre-ring", "--seed", "4", "-o", str(trace))
    assert code == 0, err
    truth = [json.loads(line) for line in (tmp_path / "patrol.truth.jsonl").read_text().splitlines()]
    assert truth[0]["type"] == "route" and truth[0]["name"] == "town-centre-ring"
    decoder = NmeaDecoder()
    fixes = decoder.feed(trace.read_bytes()) + decoder.finish()
    assert len(fixes) == sum(r["type"] == "position" for r in truth) and decoder.stats.rejected_checksum == 0


def test_routes_lists_the_builtin_routes() -> None:
    code, out, _ = invoke("routes", "--json")
    assert code == 0
    routes = [json.loads(line) for line in out.splitlines()]
    assert {r["name"] for r in routes} >= {"a61-sheffield-road", "a619-chatsworth-road", "a617-hasland",
                                            "town-centre-ring", "newbold"}  # fmt: skip
    assert all(2_000 < r["length_m"] < 15_000 for r in routes)


def test_env_vars_set_options() -> None:
    result = CliRunner().invoke(main, ["drive", "-o", "-"], env={"ACTIVECALLS_SIM_DRIVE_HZ": "50"})
    assert result.exit_code != 0 and "--hz must be within 1..10" in result.stderr


def test_demo_says_how_to_reach_the_tools_from_a_new_shell(tmp_path: Path) -> None:
    from simulators.demo import path_hint

    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    tool = venv_bin / "activecalls-collector"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (venv_bin / "activate").write_text("")
    assert path_hint(str(tool), "/usr/bin") == f"In a new shell, put the tools on PATH first: . {venv_bin}/activate"
    assert path_hint(str(tool), f"{venv_bin}:/usr/bin") == ""  # already on PATH: nothing to say
    (venv_bin / "activate").unlink()
    assert str(venv_bin) in path_hint(str(tool), "/usr/bin")


def test_fleet_without_a_broker_says_what_to_start() -> None:
    from simulators.broker import free_port

    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "simulators.cli", "fleet", "--port", str(port), "--duration", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"activecalls-sim fleet: error: no unit could connect: mqtt://127.0.0.1:{port}: connection refused "
        f"(broker down or wrong port); is a broker running there? Start one with 'mosquitto -p {port}', "
        "or give --host/--port"
    )
