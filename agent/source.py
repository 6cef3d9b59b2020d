"""The GPS source: a receiver behind any pyserial URL, read without ever giving up.

``/dev/ttyACM0``, ``/dev/serial/by-id/...``, ``socket://router:4001`` (vehicle
routers that forward NMEA over TCP), ``rfc2217://...``: pyserial opens them
all. :class:`SerialSource` reads in a thread of its own (pyserial blocks) and
hands each chunk of bytes to the asyncio loop. A missing device, a read error,
an unplugged receiver or a closed socket ends the read; the thread reports it
and opens the URL again after a jittered backoff, for as long as the agent runs.

:class:`GpsHealth` is the pure part: given when bytes and fixes arrived, is the
source ok, silent ("no data") or without a fix ("no fix") for too long?
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import serial

from common.backoff import Backoff

__all__ = ["GpsHealth", "OpenFailure", "SerialSource", "SourceState", "describe_open_error", "open_port"]

READ_TIMEOUT_S: Final = 0.25  # how often the reader thread looks at its stop flag


class SourceState(enum.StrEnum):
    CONNECTING = "connecting"  # not opened yet
    DISCONNECTED = "disconnected"  # open failed or the device went away
    NO_DATA = "no-data"  # open, but silent for no_data_s
    NO_FIX = "no-fix"  # data, but no fix for no_fix_s
    OK = "ok"


class OpenFailure(enum.StrEnum):
    """Why a device could not be opened, as a technician would fix it."""

    MISSING = "missing"  # no such device: unplugged, wrong path
    PERMISSION = "permission"  # the user is not in the dialout group
    BUSY = "busy"
    UNREACHABLE = "unreachable"  # socket:// or rfc2217:// peer not answering
    BAD_URL = "bad-url"
    OTHER = "other"


def describe_open_error(exc: BaseException) -> tuple[OpenFailure, str]:
    """Classify an exception from opening a pyserial URL; return (kind, one line)."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, ValueError) or "invalid url" in lowered:
        return OpenFailure.BAD_URL, text
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO) or "no such file" in lowered:
        return OpenFailure.MISSING, "no such device"
    if code in (errno.EACCES, errno.EPERM) or "permission denied" in lowered:
        return OpenFailure.PERMISSION, "permission denied"
    if code == errno.EBUSY or "busy" in lowered:
        return OpenFailure.BUSY, "device busy (another program has it open)"
    if "refused" in lowered or "timed out" in lowered or "unreachable" in lowered or "name or service" in lowered:
        return OpenFailure.UNREACHABLE, text
    return OpenFailure.OTHER, text


def open_port(url: str, baud: int, timeout: float = READ_TIMEOUT_S) -> Any:
    """Open a pyserial URL for reading NMEA (8N1, no flow control)."""
    return serial.serial_for_url(url, baudrate=baud, timeout=timeout)


def read_available(port: Any) -> bytes:
    """Block up to the port's timeout for the first byte, then take what is buffered."""
    data: bytes = port.read(1)
    if data:
        waiting = port.in_waiting
        if waiting:
            data += port.read(waiting)
    return data


@dataclass
class GpsHealth:
    """When did bytes and fixes last arrive; is that too long ago? Times are
    monotonic seconds passed in by the caller."""

    no_data_s: float
    no_fix_s: float
    opened_at: float | None = None
    last_data: float | None = None
    last_fix: float | None = None
    error: str = ""

    def opened(self, now: float) -> None:
        self.opened_at = now
        self.error = ""

    def closed(self, error: str) -> None:
        self.opened_at = None
        self.error = error

    def data(self, now: float) -> None:
        self.last_data = now

    def fix(self, now: float) -> None:
        self.last_fix = now

    def state(self, now: float) -> SourceState:
        opened = self.opened_at
        if opened is None:
            return SourceState.DISCONNECTED if self.error else SourceState.CONNECTING
        since_data = now - max(opened, self.last_data or opened)
        if since_data >= self.no_data_s:
            return SourceState.NO_DATA
        since_fix = now - max(opened, self.last_fix or opened)
        if since_fix >= self.no_fix_s:
            return SourceState.NO_FIX
        return SourceState.OK

    def describe(self, now: float) -> str:
        """One human line, for logs and systemd's STATUS=."""
        state = self.state(now)
        if state is SourceState.DISCONNECTED:
            return f"GPS disconnected: {self.error}"
        if state is SourceState.CONNECTING:
            return "GPS: opening"
        if state is SourceState.NO_DATA:
            return f"GPS: no data for {now - max(self.opened_at or now, self.last_data or 0.0):.0f} s"
        if state is SourceState.NO_FIX:
            return f"GPS: no fix for {now - max(self.opened_at or now, self.last_fix or 0.0):.0f} s"
        return "GPS: ok"


class SerialSource:
    """Read ``url`` forever in a thread; deliver on the asyncio loop:
    ``on_open()``, ``on_chunk(bytes)``, ``on_closed(reason)``."""

    def __init__(
        self,
        url: str,
        baud: int,
        *,
        on_open: Callable[[], None],
        on_chunk: Callable[[bytes], None],
        on_closed: Callable[[str], None],
        backoff: Backoff | None = None,
    ) -> None:
        self.url = url
        self.baud = baud
        self._on_open = on_open
        self._on_chunk = on_chunk
        self._on_closed = on_closed
        self._backoff = backoff or Backoff(0.5, 10.0)
        self._loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gps-reader", daemon=True)
        self.reconnects = 0
        self.bytes = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _deliver(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            self._loop.call_soon_threadsafe(fn, *args)

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            if not first:
                self.reconnects += 1
            first = False
            try:
                port = open_port(self.url, self.baud)
            except (serial.SerialException, OSError, ValueError) as exc:
                _kind, reason = describe_open_error(exc)
                self._deliver(self._on_closed, f"cannot open {self.url}: {reason}")
                self._stop.wait(self._backoff.next_delay())
                continue
            self._deliver(self._on_open)
            try:
                self._read(port)
            except (serial.SerialException, OSError) as exc:
                self._deliver(self._on_closed, f"{self.url}: {exc}")
                self._stop.wait(self._backoff.next_delay())
            finally:
                with contextlib.suppress(Exception):
                    port.close()

    def _read(self, port: Any) -> None:
        got_data = False
        while not self._stop.is_set():
            data = read_available(port)
            if data:
                self.bytes += len(data)
                if not got_data:  # the device works: the next failure starts the backoff afresh
                    got_data = True
                    self._backoff.reset()
                self._deliver(self._on_chunk, data)
