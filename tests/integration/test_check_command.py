"""``activecalls-agent check`` as a technician runs it, against a real broker and a pty receiver."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from tests.agentkit import agent_command, drive, epochs, write_config
from tests.conftest import Broker, PtyPair, free_port

pytestmark = pytest.mark.integration


def check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*agent_command(), "check", "--config", str(config), "--gps-seconds", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_all_good(tmp_path: Path, broker: Broker, pty_pair: PtyPair) -> None:
    stop = threading.Event()

    def receiver() -> None:
        for chunk in epochs(drive(200, hz=5)):
            if stop.wait(0.2):
                return
            pty_pair.write(chunk)

    feeder = threading.Thread(target=receiver, daemon=True)
    feeder.start()
    try:
        result = check(write_config(tmp_path, port=broker.port, gps=pty_pair.path))
    finally:
        stop.set()
        feeder.join(5)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Active Calls agent check: unit PC-101, fleet test"
    names = ("config", "gps device", "gps data", "gps fix", "broker", "outbox")
    table = {name: line for line in lines for name in names if line.startswith(f"  ✓  {name}  ")}
    assert set(table) == set(names), result.stdout
    assert "GPGGA" in table["gps data"] and "GPRMC" in table["gps data"]
    assert "3D fix, 9 satellites, HDOP 0.9" in table["gps fix"]
    assert "accepted PC-101-check" in result.stdout  # not the agent's own client id
    assert "backlog 0 fixes" in result.stdout
    assert result.stdout.endswith("all checks passed\n")


def test_every_failure_has_a_hint_and_the_exit_status_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    config = write_config(
        tmp_path, port=free_port(), gps=str(tmp_path / "ttyACM9"),
        outbox=f'path = "{blocker / "outbox.sqlite"}"\n',
    )  # fmt: skip
    config.write_text(config.read_text().replace(f'path = "{tmp_path / "outbox.sqlite"}"\n', ""))
    result = check(config)
    assert result.returncode == 1
    out = result.stdout
    assert f"✗  gps device  {tmp_path / 'ttyACM9'}: no such device" in out
    assert "hint: device missing: is the receiver plugged in?" in out
    assert "✗  broker" in out and "connection refused" in out and "hint: broker unreachable" in out
    assert "✗  outbox" in out and "hint: the folder must be writable" in out
    assert out.endswith("3 problems found\n")
    assert result.stderr == ""
