"""replay through a real pty (and TCP), read back with the agent's decoder."""

from __future__ import annotations

import errno
import itertools
import os
import select
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.decoder import NmeaDecoder
from common.fix import Fix
from tests.conftest import GPSD_CORPUS, gpsd_manifest
from tests.integration.sim_helpers import PtyReader, sim_process

pytestmark = pytest.mark.integration

# The 31 logs from gpsd's master branch: through a pty, the other 71 would
# only add run time, not kinds of bytes.
LOGS = sorted(GPSD_CORPUS / name for name, row in gpsd_manifest().items() if row["gpsd_commit"] != "3.22")


def parse_command(path: Path) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "agent.cli", "parse", str(path)], capture_output=True, check=True)
    return out.stdout.decode().splitlines()


def read_to_end(path: str, timeout: float = 30.0) -> tuple[list[Fix], list[float]]:
    """Open the device once and read until it hangs up; fixes and their arrival times."""
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY)
    decoder = NmeaDecoder(skip_comments=True)
    fixes: list[Fix] = []
    arrivals: list[float] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError as exc:
                if exc.errno == errno.EIO:
                    break
                raise
            if not chunk:
                break
            found = decoder.feed(chunk)
            fixes.extend(found)
            arrivals.extend([time.monotonic()] * len(found))
    finally:
        os.close(fd)
    return fixes + decoder.finish(), arrivals


def test_every_corpus_log_through_a_pty_gives_the_fixes_of_parse(tmp_path: Path) -> None:
    """Acceptance: replay --speed 0 through a pty == activecalls-agent parse, for all 31 logs."""
    assert len(LOGS) == 31
    for log in LOGS:
        device = tmp_path / "gps0"
        with sim_process("replay", str(log), "--pty", str(device), "--speed", "0") as (process, line):
            assert line.startswith(f"pty {device} -> /dev/pts/")
            fixes, _ = read_to_end(str(device))
            assert process.wait(timeout=20) == 0
        assert [f.to_json() for f in fixes] == parse_command(log), log.name
        assert not device.exists(), "the symlink is removed at exit"


def spacing(arrivals: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(arrivals)]


def log_spacing(fixes: list[Fix]) -> list[float]:
    return [(b.time - a.time).total_seconds() for a, b in itertools.pairwise(fixes)]


@pytest.mark.slow
def test_timing_at_speed_10_and_1(tmp_path: Path) -> None:
    """At speed 10 a 60 s excerpt keeps the log's spacing within 10 % (median);
    at speed 1 a 10 s excerpt within 50 ms. The full 60 s check at speed 1 is
    bench/replay_timing.py."""
    log = GPSD_CORPUS / "ublox-neo-m9n-nmea.log"
    device = tmp_path / "gps0"
    for speed, count, tolerance in ((10, 61, None), (1, 11, 0.05)):
        with sim_process("replay", str(log), "--pty", str(device), "--speed", str(speed), "--count", str(count)):
            fixes, arrivals = read_to_end(str(device), timeout=60)
        want = log_spacing(fixes)
        got = spacing(arrivals)
        assert len(fixes) >= count - 1
        errors = [abs(g * speed - w) for g, w in zip(got, want)]
        if tolerance is None:
            assert statistics.median(errors) <= 0.10 * statistics.median(want), (speed, errors)
        else:
            assert statistics.median(errors) <= tolerance, (speed, errors)


def test_reader_can_leave_and_come_back(tmp_path: Path) -> None:
    device = tmp_path / "gps0"
    log = GPSD_CORPUS / "ublox-8.log"
    with sim_process("replay", str(log), "--pty", str(device), "--speed", "20", "--loop", "-v") as (process, _):
        first = PtyReader(device).start()
        assert first.wait_for(5)
        first.stop()
        time.sleep(0.3)
        assert process.poll() is None, "keeps serving after the reader left"
        second = PtyReader(device).start()
        assert second.wait_for(5)
        second.stop()
        assert not first.errors and not second.errors
        assert second.fixes[0].time > first.fixes[-1].time  # a live receiver went on meanwhile
    assert process.returncode == 0


def test_exit_on_hangup(tmp_path: Path) -> None:
    device = tmp_path / "gps0"
    log = GPSD_CORPUS / "ublox-8.log"
    with sim_process("replay", str(log), "--pty", str(device), "--speed", "5", "--exit-on-hangup") as (process, _):
        reader = PtyReader(device).start()
        assert reader.wait_for(2)
        reader.stop()
        assert process.wait(timeout=10) == 0
    assert not device.exists()


def test_tcp_clients_get_the_stream(tmp_path: Path) -> None:
    log = GPSD_CORPUS / "ublox-8.log"
    with sim_process("replay", str(log), "--tcp", "127.0.0.1:0", "--speed", "0") as (process, line):
        host, port = line.split()[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            data = bytearray()
            while chunk := conn.recv(65536):
                data += chunk
        assert process.wait(timeout=10) == 0
    decoder = NmeaDecoder(skip_comments=True)
    fixes = decoder.feed(bytes(data)) + decoder.finish()
    assert [f.to_json() for f in fixes] == parse_command(log)


def test_now_makes_an_old_log_look_live(tmp_path: Path) -> None:
    device = tmp_path / "gps0"
    log = GPSD_CORPUS / "ublox-8.log"
    with sim_process("replay", str(log), "--pty", str(device), "--speed", "1", "--now", "--count", "3"):
        fixes, _ = read_to_end(str(device))
    import datetime as dt

    age = abs((dt.datetime.now(dt.UTC) - fixes[0].time).total_seconds())
    assert age < 5, fixes[0]
