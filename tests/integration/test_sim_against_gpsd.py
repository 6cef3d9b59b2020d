"""The simulated receivers judged by a real gpsd (installed by scripts/setup and .ci/run).

gpsd opens the drive simulator's pty as it would a receiver: it identifies
the emulated family, and for a u-blox turns NMEA off and the UBX NAV messages
on (CFG-PRT, CFG-MSG). It must go on reporting the drive's fixes, exactly
(NAV-PVT's 1e-7 degree resolution), after the switch as before. gpsd runs in
the foreground on a free loopback port (``-N -n -S PORT``) and is read over
its JSON socket; the test stops both processes by PID.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from simulators.broker import free_port, wait_for_port
from tests.integration.sim_helpers import sim_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GPSD = shutil.which("gpsd") or ("/usr/sbin/gpsd" if Path("/usr/sbin/gpsd").exists() else None)
START = "2026-01-05T08:00:00Z"


def watch(port: int, seconds: float, enough: int, *, binary: bool) -> list[dict[str, object]]:
    """gpsd's JSON reports for up to ``seconds``, or until ``enough`` 3D TPVs came after
    gpsd identified the receiver (``binary``: and switched it to its binary protocol)."""
    reports: list[dict[str, object]] = []
    identified = False
    fixes: set[object] = set()  # times of 3D TPVs after that
    deadline = time.monotonic() + seconds
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b'?WATCH={"enable":true,"json":true}\n')
        buffer = b""
        while time.monotonic() < deadline and len(fixes) < enough:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                report = json.loads(line)
                reports.append(report)
                if report.get("class") == "DEVICE" and "driver" in report:
                    identified = identified or report.get("native") == 1 or not binary
                elif identified and report.get("class") == "TPV" and report.get("mode") == 3:
                    fixes.add(report.get("time"))
    return reports


@pytest.mark.parametrize("family", ["ublox8", "ublox9", "mtk"])
def test_gpsd_follows_the_simulated_receiver(tmp_path: Path, family: str) -> None:
    assert GPSD is not None, "gpsd is not installed: run scripts/setup (apt-get install gpsd)"
    device, truth = tmp_path / "gps0", tmp_path / "truth.jsonl"
    port = free_port()
    args = ["drive", "--pty", str(device), "--receiver", family, "--speed", "2", "--duration", "120",
            "--start", START, "--truth", str(truth)]  # fmt: skip
    with sim_process(*args):
        gpsd = subprocess.Popen([GPSD, "-N", "-n", "-S", str(port), str(device)], stderr=subprocess.PIPE)
        try:
            wait_for_port("127.0.0.1", port, timeout=20)
            reports = watch(port, seconds=45, enough=20, binary=family != "mtk")
        finally:
            gpsd.send_signal(signal.SIGTERM)
            try:
                gpsd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                gpsd.kill()
                gpsd.wait()
            assert gpsd.stderr is not None
            gpsd.stderr.close()
    reported = {}
    for line in truth.read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "position" and "reported" in record:
            reported[record["time"]] = record["reported"]
    devices = [r for r in reports if r.get("class") == "DEVICE" and "driver" in r]
    tpvs = [r for r in reports if r.get("class") == "TPV" and r.get("mode") == 3 and "time" in r]
    assert devices and tpvs, reports[-5:]
    expected_driver = {"ublox8": "u-blox", "ublox9": "u-blox", "mtk": "MTK-3301"}[family]
    assert devices[-1]["driver"] == expected_driver
    times = []
    for tpv in tpvs:
        truth_fix = reported[str(tpv["time"])]  # a 3D fix only at a time the drive reported one
        assert abs(float(tpv["lat"]) - truth_fix["lat"]) < 2e-7  # type: ignore[arg-type]
        assert abs(float(tpv["lon"]) - truth_fix["lon"]) < 2e-7  # type: ignore[arg-type]
        times.append(tpv["time"])
    if family != "mtk":
        # The u-blox: gpsd turned NMEA off and NAV messages on, and kept reporting.
        switched = next(i for i, r in enumerate(reports) if r.get("class") == "DEVICE" and r.get("native") == 1)
        after = {r["time"] for r in reports[switched:] if r.get("class") == "TPV" and r.get("mode") == 3}
        assert len(after) >= 15, f"only {len(after)} fixes after gpsd switched to UBX"
    assert len(set(times)) >= 15
