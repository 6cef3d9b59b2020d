"""Shared fixtures: a real Mosquitto on a free loopback port, real pseudo-terminals.

Every process a test starts is stopped by the test (by PID) at teardown.
"""

from __future__ import annotations

import os
import pty
import shutil
import signal
import socket
import subprocess
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
GPSD_CORPUS = DATA / "gpsd"


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout} s")


@dataclass
class Broker:
    """A Mosquitto process owned by one test (or module)."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    config: Path
    log: Path

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL); idempotent."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Abrupt death (SIGKILL), as a crash or power cut."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def start(self) -> None:
        """(Re)start on the same port and configuration, e.g. after stop()."""
        self.process = subprocess.Popen(
            [_mosquitto(), "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.host, self.port)


def _mosquitto() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
    )
    if found is None:
        pytest.fail("mosquitto is not installed: run scripts/setup (or: apt-get install -y mosquitto)")
    return found


def start_broker(workdir: Path, extra_config: str = "") -> Broker:
    """Start Mosquitto on a free loopback port with persistence in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "mosquitto.log"
    config = workdir / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {workdir}/\n"
        f"log_dest file {log}\n"
        "max_queued_messages 0\n"  # unlimited: tests count every message
        "max_inflight_messages 100\n"
        # Started as root (CI), Mosquitto would switch to the 'mosquitto' user,
        # which cannot write its log or store into the test's directory.
        + ("user root\n" if os.geteuid() == 0 else "")
        + extra_config
    )
    process = subprocess.Popen([_mosquitto(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    broker = Broker("127.0.0.1", port, process, config, log)
    try:
        wait_for_port(broker.host, port)
    except TimeoutError:
        broker.kill()
        raise
    return broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh Mosquitto for one test."""
    b = start_broker(tmp_path / "broker")
    try:
        yield b
    finally:
        b.stop()


@dataclass
class PtyPair:
    """A pseudo-terminal: the test writes to ``controller``; the code under test
    opens ``path`` like a serial device."""

    controller: int
    path: str
    _follower: int

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.controller, view)
            view = view[written:]

    def close(self) -> None:
        for fd in (self.controller, self._follower):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    controller, follower = pty.openpty()
    tty.setraw(follower)  # no echo, no line discipline: bytes as a receiver sends them
    pair = PtyPair(controller, os.ttyname(follower), follower)
    try:
        yield pair
    finally:
        pair.close()


@pytest.fixture(scope="session")
def gpsd_logs() -> list[Path]:
    logs = sorted(GPSD_CORPUS.glob("*.log"))
    assert len(logs) == 31, f"expected the 31 gpsd corpus logs in {GPSD_CORPUS}, found {len(logs)}"
    return logs
