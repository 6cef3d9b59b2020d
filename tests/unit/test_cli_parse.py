"""``activecalls-agent parse`` as a user runs it: the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.nmea import format_sentence
from tests.conftest import GPSD_CORPUS

AGENT = shutil.which("activecalls-agent") or str(Path(sys.executable).with_name("activecalls-agent"))


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([AGENT, *args], input=stdin, capture_output=True, timeout=60, check=False)


def test_parse_prints_one_json_fix_per_line_and_stats() -> None:
    result = run("parse", str(GPSD_CORPUS / "bt-q818.log"), "--stats")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 10
    first = json.loads(lines[0])
    assert first == {
        "time": "2010-06-03T14:52:43.000Z", "lat": 34.03294, "lon": -117.747123333, "alt": 234.7,
        "speed": 0.0, "track": 119.27, "mode": 3, "hdop": 0.87, "sats": 10,
    }  # fmt: skip
    stats = dict(item.split("=") for item in result.stderr.decode().split())
    assert stats["lines"] == "71" and stats["sentences"] == "60" and stats["fixes"] == "10"
    assert stats["checksum_rejected"] == "0" and stats["junk"] == "0"


def test_fields_absent_when_not_reported() -> None:
    result = run("parse", str(GPSD_CORPUS / "firefly-II.log"))
    first = json.loads(result.stdout.decode().splitlines()[0])
    assert "alt" not in first and "sats" not in first and first["mode"] == 2


def test_stdin_and_garbage() -> None:
    data = (GPSD_CORPUS / "ublox-8.log").read_bytes()
    assert run("parse", "-", stdin=data).stdout == run("parse", str(GPSD_CORPUS / "ublox-8.log")).stdout
    garbage = run("parse", "-", "--stats", stdin=os.urandom(5000))
    assert garbage.returncode == 0 and garbage.stdout == b""
    assert b"fixes=0" in garbage.stderr and b"Traceback" not in garbage.stderr


def test_week_rollover_option() -> None:
    log = format_sentence("GPRMC", ["120000.00", "A", "5314.1", "N", "00125.2", "W", "0", "0", "220899", "", "", "A"])
    assert json.loads(run("parse", "-", stdin=log).stdout)["time"] == "1999-08-22T12:00:00.000Z"
    fixed = run("parse", "-", "--week-rollover-ref", "2019-01-01", stdin=log)
    assert json.loads(fixed.stdout)["time"] == "2019-04-07T12:00:00.000Z"
    bad = run("parse", "-", "--week-rollover-ref", "last tuesday", stdin=log)
    assert bad.returncode != 0 and b"YYYY-MM-DD" in bad.stderr and b"Traceback" not in bad.stderr


@pytest.mark.parametrize(
    ("path", "status"),
    [("/nonexistent/file.log", 2), ("/root/../proc/self/mem", 1)],  # the user's mistake; a failing read
)
def test_unreadable_file_is_a_clear_error(path: str, status: int) -> None:
    result = run("parse", path)
    assert result.returncode == status
    assert result.stderr.startswith(b"activecalls-agent parse: error: cannot read")
    assert b"Traceback" not in result.stderr


def test_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = run("parse", str(tmp_path))
    assert result.returncode == 2 and b"is a directory" in result.stderr and b"Traceback" not in result.stderr


def test_closed_pipe_is_not_an_error() -> None:
    script = f"{AGENT} parse {GPSD_CORPUS / 'quectel-l76k-dual.log'} | head -1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr and len(result.stdout.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("run", "--bogus"), "No such option '--bogus'"),
        (("parse",), "Missing argument 'FILE'"),
        (("nonsense",), "No such command 'nonsense'"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(args: tuple[str, ...], reason: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("activecalls-agent") and ": error: " in lines[0] and reason in lines[0]


def test_a_file_without_nmea_says_so_and_cr_only_lines_are_counted() -> None:
    result = run("parse", "-", "--stats", stdin=b"hello\rworld\rnot NMEA\r")
    assert result.returncode == 0 and result.stdout == b""
    note, counters = result.stderr.decode().splitlines()
    assert note == "activecalls-agent parse: no NMEA sentence found in -"
    assert "lines=3 " in counters
    log = (GPSD_CORPUS / "bt-q818.log").read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    stats = run("parse", "-", "--stats", stdin=log)
    assert b"lines=71 " in stats.stderr and b"no NMEA" not in stats.stderr


def test_every_error_names_the_whole_command() -> None:
    """One rule: '<program> <subcommand>: error: <reason>', for usage mistakes and failures alike."""
    bad_date = run("parse", "-", "--week-rollover-ref", "2020-13-01", stdin=b"")
    assert bad_date.stderr.decode().startswith(
        "activecalls-agent parse: error: Invalid value for '--week-rollover-ref'"
    )
    missing = run("parse", "/nonexistent/trace.nmea")
    assert missing.stderr.decode().startswith("activecalls-agent parse: error: cannot read /nonexistent/trace.nmea")
    assert b"ACTIVECALLS_WEEK_ROLLOVER_REF" in run("parse", "--help").stdout
