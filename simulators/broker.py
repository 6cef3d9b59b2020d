"""A throwaway Mosquitto on a free loopback port: for the demo, the tests and the benchmarks.

Production brokers are configured from ``deploy/mosquitto`` (docs/broker.md);
this one is deliberately plain (anonymous, loopback only, persistence in a
directory the caller owns) so that anything needing "a real broker, now" gets
the same one. Every process it starts is stopped by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from common.errors import ActiveCallsError

__all__ = ["Broker", "BrokerError", "find_mosquitto", "free_port", "spawn_mosquitto", "start_broker", "wait_for_port"]

LOOPBACK = "127.0.0.1"


class BrokerError(ActiveCallsError, RuntimeError):
    """Mosquitto is missing or did not start."""


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
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


def find_mosquitto() -> str:
    """The mosquitto binary (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
    )
    if found is None:
        raise BrokerError("mosquitto is not installed: run scripts/setup (or: apt-get install -y mosquitto)")
    return found


@dataclass
class Broker:
    """A Mosquitto process owned by its starter."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    config: Path
    log: Path
    stderr_log: bool = False  # its configuration logs to stderr: keep that in ``log``

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
        self.process = spawn_mosquitto(self.config, self.log if self.stderr_log else None)
        wait_for_port(self.host, self.port)


def spawn_mosquitto(config: Path, stderr_log: Path | None = None) -> subprocess.Popen[bytes]:
    """``mosquitto -c config``; its stderr appended to ``stderr_log`` if given."""
    if stderr_log is None:
        return subprocess.Popen(
            [find_mosquitto(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    with stderr_log.open("ab") as log:
        return subprocess.Popen([find_mosquitto(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=log)


def start_broker(workdir: Path, extra_config: str = "") -> Broker:
    """Start Mosquitto on a free loopback port with persistence in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "mosquitto.log"
    config = workdir / "mosquitto.conf"
    config.write_text(
        f"listener {port} {LOOPBACK}\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {workdir}/\n"
        f"log_dest file {log}\n"
        "max_queued_messages 0\n"  # unlimited: nothing is dropped for a slow subscriber
        "max_inflight_messages 100\n" + ("user root\n" if os.geteuid() == 0 else "") + extra_config
        # Started as root (CI, a container), Mosquitto would switch to the
        # 'mosquitto' user, which cannot write its log or store into workdir.
    )
    broker = Broker(LOOPBACK, port, spawn_mosquitto(config), config, log)
    try:
        wait_for_port(broker.host, port)
    except TimeoutError:
        broker.kill()
        raise BrokerError(f"mosquitto did not start: see {log}") from None
    return broker
