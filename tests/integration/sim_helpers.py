"""Helpers for driving ``activecalls-sim`` as a real process and reading its pty
the way the agent does.

``PtyReader`` is the agent's receive path in miniature: it opens the device
path, feeds every read to ``agent.decoder.NmeaDecoder`` and, when the device
hangs up, reopens the path as soon as it exists again. Tests that need the
decoder's exact counters use it; the real service is ``tests.agentkit.AgentProcess``.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.decoder import NmeaDecoder
from common.fix import Fix

SIM = [sys.executable, "-m", "simulators.cli"]


@contextmanager
def sim_process(*args: str, ready: bool = True) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``activecalls-sim ARGS``; yield it and its first stdout line (the
    'pty PATH -> /dev/pts/N' or 'tcp HOST:PORT' line). Stopped by PID at exit."""
    process = subprocess.Popen([*SIM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip() if ready and process.stdout else ""
        if ready and not line:
            raise RuntimeError(f"simulator did not start: {process.stderr.read() if process.stderr else ''}")
        yield process, line
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


class PtyReader:
    """The agent's serial source in miniature (see the module docstring)."""

    def __init__(self, path: str | Path, *, write: bytes = b"") -> None:
        self.path = str(path)
        self.decoder = NmeaDecoder()
        self.fixes: list[Fix] = []
        self.arrivals: list[float] = []  # monotonic time each fix was decoded
        self.received = bytearray()
        self.reopened = 0
        self.errors: list[BaseException] = []
        self._write = write
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._fd = -1

    def start(self) -> PtyReader:
        self._thread.start()
        return self

    def send(self, data: bytes) -> None:
        """Write to the device, as the agent does to configure the receiver."""
        os.write(self._fd, data)

    def _open(self) -> int:
        while not self._stop.is_set():
            try:
                return os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.02)  # unplugged: wait for the device to come back
        return -1

    def _run(self) -> None:
        try:
            opened = 0
            while not self._stop.is_set():
                fd = self._fd = self._open()
                if fd < 0:
                    return
                opened += 1
                self.reopened = opened - 1
                if self._write:
                    os.write(fd, self._write)
                try:
                    while not self._stop.is_set():
                        ready, _, _ = select.select([fd], [], [], 0.05)
                        if not ready:
                            continue
                        try:
                            chunk = os.read(fd, 4096)
                        except OSError as exc:
                            if exc.errno == errno.EIO:  # hung up
                                break
                            if exc.errno == errno.EAGAIN:
                                continue
                            raise
                        if not chunk:
                            break
                        now = time.monotonic()
                        with self._lock:
                            self.received += chunk
                            found = self.decoder.feed(chunk)
                            self.fixes.extend(found)
                            self.arrivals.extend([now] * len(found))
                finally:
                    os.close(fd)
        except BaseException as exc:  # the point of the fault tests: nothing escapes
            self.errors.append(exc)

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.fixes) >= count or self.errors:
                return len(self.fixes) >= count
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            self.fixes.extend(self.decoder.finish())
