"""The I/O shell shared by ``replay`` and ``drive``: pace epochs onto a pty,
TCP clients or stdout, answer receiver commands, act out stalls and unplugs.

One thread, one loop: it waits (``select``) for whichever comes first, the
next epoch's due time or bytes from the reader, so a command is answered
within milliseconds even at 1 Hz. Stream time becomes wall time as
``offset / speed`` from the moment the first reader appears; ``speed 0``
sends each epoch as soon as the reader has taken the previous one.

While nobody reads (after the first reader left, before the next one comes)
the receiver goes on as a real one would: epochs falling due are not sent
and are counted as ``unread``; at ``speed 0`` the stream waits instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Final, Protocol

from agent.decoder import NmeaDecoder
from common.fix import Fix
from simulators.events import Epoch, Item, Stall, Unplug
from simulators.pty import PtyPort
from simulators.receiver import Receiver

__all__ = ["Output", "PtyOutput", "ServeStats", "StdoutOutput", "TcpOutput", "serve"]

IDLE_POLL_S: Final = 0.05  # how often we look for a reader while there is none
MAX_CLIENT_BACKLOG: Final = 1 << 20  # a TCP client this far behind is dropped
MAX_PTY_BACKLOG: Final = 64 * 1024  # a reader that stopped reading: like a UART, we overrun


class Output(Protocol):
    closed_for_good: bool  # no reader can ever come again (stdout's reader left)

    def reader_present(self) -> bool: ...
    def read_fds(self) -> list[int]: ...
    def read(self, fd: int) -> bytes: ...
    def send(self, data: bytes) -> None: ...
    def flush(self) -> None: ...
    def write_fds(self) -> list[int]: ...
    def backlog(self) -> int: ...
    def unplug(self) -> None: ...
    def replug(self) -> None: ...
    def close(self) -> None: ...


class PtyOutput:
    closed_for_good = False

    def __init__(self, path: str) -> None:
        self.port = PtyPort(path)
        self._pending = b""
        self.overrun = 0  # bytes dropped because the reader stopped reading

    def reader_present(self) -> bool:
        return self.port.reader_present()

    def read_fds(self) -> list[int]:
        return [self.port.fd] if self.port.fd >= 0 else []

    def read(self, fd: int) -> bytes:
        return self.port.read()

    def send(self, data: bytes) -> None:
        if len(self._pending) + len(data) > MAX_PTY_BACKLOG:
            self.overrun += len(data)  # bounded memory; a real serial port loses bytes too
            return
        self._pending += data
        self.flush()

    def flush(self) -> None:
        if self._pending and self.port.fd >= 0:
            written = self.port.write(self._pending)
            self._pending = self._pending[written:]

    def write_fds(self) -> list[int]:
        return [self.port.fd] if self._pending and self.port.fd >= 0 else []

    def backlog(self) -> int:
        return len(self._pending)

    def unplug(self) -> None:
        self._pending = b""
        self.port.hang_up()

    def replug(self) -> None:
        self.port.open()

    def close(self) -> None:
        deadline = time.monotonic() + 10.0
        while self._pending and self.port.reader_present() and time.monotonic() < deadline:
            self.flush()
            time.sleep(0.005)
        self.port.close()


class TcpOutput:
    """A TCP server sending the stream to every connected client (like a
    vehicle router's serial-over-TCP port); what clients send is a command."""

    closed_for_good = False

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self._clients: dict[int, tuple[socket.socket, bytearray]] = {}
        self._server: socket.socket | None = None
        self.replug()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.getsockname()[1])

    def replug(self) -> None:
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(self.address)
        server.listen(16)
        server.setblocking(False)
        self._server = server
        if self.address[1] == 0:  # keep the port we were given across unplugs
            self.address = (self.address[0], self.port)

    def reader_present(self) -> bool:
        self._accept()
        return bool(self._clients)

    def _accept(self) -> None:
        while self._server is not None:
            try:
                conn, _ = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._clients[conn.fileno()] = (conn, bytearray())

    def read_fds(self) -> list[int]:
        fds = list(self._clients)
        if self._server is not None:
            fds.append(self._server.fileno())
        return fds

    def read(self, fd: int) -> bytes:
        if self._server is not None and fd == self._server.fileno():
            self._accept()
            return b""
        client = self._clients.get(fd)
        if client is None:
            return b""
        try:
            data = client[0].recv(4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            data = b""
        if not data:
            self._drop(fd)
        return data

    def _drop(self, fd: int) -> None:
        conn, _ = self._clients.pop(fd)
        conn.close()

    def send(self, data: bytes) -> None:
        for fd, (_, buf) in list(self._clients.items()):
            buf += data
            if len(buf) > MAX_CLIENT_BACKLOG:
                self._drop(fd)
        self.flush()

    def flush(self) -> None:
        for fd, (conn, buf) in list(self._clients.items()):
            if not buf:
                continue
            try:
                sent = conn.send(buf)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                self._drop(fd)
                continue
            del buf[:sent]

    def write_fds(self) -> list[int]:
        return [fd for fd, (_, buf) in self._clients.items() if buf]

    def backlog(self) -> int:
        return max((len(buf) for _, buf in self._clients.values()), default=0)

    def unplug(self) -> None:
        for fd in list(self._clients):
            self._drop(fd)
        if self._server is not None:
            self._server.close()
            self._server = None

    def close(self) -> None:
        deadline = time.monotonic() + 10.0
        while self.backlog() and time.monotonic() < deadline:
            self.flush()
            time.sleep(0.005)
        self.unplug()


class StdoutOutput:
    def __init__(self) -> None:
        self._out = sys.stdout.buffer
        self.closed_for_good = False

    def reader_present(self) -> bool:
        return not self.closed_for_good

    def read_fds(self) -> list[int]:
        return []

    def read(self, fd: int) -> bytes:
        return b""

    def send(self, data: bytes) -> None:
        if self.closed_for_good:
            return
        try:
            self._out.write(data)
            self._out.flush()
        except BrokenPipeError:
            # The reader (e.g. `head`) has gone: stop quietly.
            self.closed_for_good = True
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def flush(self) -> None:
        pass

    def write_fds(self) -> list[int]:
        return []

    def backlog(self) -> int:
        return 0

    def unplug(self) -> None:
        pass

    def replug(self) -> None:
        pass

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._out.flush()


@dataclass(slots=True)
class ServeStats:
    epochs: int = 0  # epochs sent
    bytes: int = 0
    unread: int = 0  # epochs that fell due while nobody was reading
    thinned: int = 0  # epochs the receiver's rate setting left out
    readers: int = 0  # times a reader appeared
    replies: int = 0  # receiver answers sent
    stalls: int = 0
    unplugs: int = 0
    stopped: bool = False  # by SIGTERM/SIGINT
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("epochs", "bytes", "unread", "thinned", "readers", "replies",
                                              "stalls", "unplugs")}  # fmt: skip


class _Stop:
    """SIGTERM/SIGINT set a flag; the loop notices within IDLE_POLL_S."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def serve(
    items: Iterator[Item],
    output: Output,
    *,
    speed: float,
    receiver: Receiver | None = None,
    exit_on_hangup: bool = False,
    select: bool = True,
    log: Callable[[str], None] | None = None,
) -> ServeStats:
    """Play ``items`` onto ``output`` until they end, SIGTERM, or (with
    ``exit_on_hangup``) the reader leaves. Closes the output.

    ``select``: let the receiver thin and filter the epochs (a replayed log);
    False when the source already asks the receiver (``drive``)."""
    stats = ServeStats()
    say = log or (lambda line: None)
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    anchor: float | None = None  # wall time of stream time 0
    had_reader = False
    cycle = 0
    item = next(items, None)
    try:
        while item is not None and not stop.requested and not output.closed_for_good:
            present = output.reader_present()
            if present and not had_reader:
                had_reader = True
                stats.readers += 1
                say("reader connected")
            elif not present and had_reader:
                had_reader = False
                say("reader gone")
                if exit_on_hangup:
                    break
            if anchor is None and present:
                anchor = time.monotonic() - (item.offset_ms / 1000 / speed if speed else 0.0)
            now = time.monotonic()
            due = now if anchor is None or not speed else anchor + item.offset_ms / 1000 / speed
            live = anchor is not None and bool(speed)  # the clock runs, reader or not
            if not present and not (live and due <= now):
                time.sleep(min(IDLE_POLL_S, max(0.0, due - now)) if live else IDLE_POLL_S)
                continue
            if not present and isinstance(item, Epoch):
                stats.unread += 1  # a live receiver does not wait for its reader
                item = next(items, None)
                continue
            if present:
                # Wait for the due time, answering commands meanwhile.
                ready_to_send = due <= now and (speed or output.backlog() == 0)
                timeout = 0.0 if ready_to_send else min(IDLE_POLL_S, max(0.0, due - now))
                _pump(output, receiver, timeout, stats)
                if not ready_to_send:
                    continue
            if isinstance(item, Epoch):
                if receiver is not None and select and not receiver.due(item.offset_ms):
                    stats.thinned += 1
                else:
                    lines = item.lines if receiver is None or not select else receiver.select(item.lines, cycle)
                    if receiver is not None and receiver.state.nav_outputs:
                        lines = [*lines, *receiver.binary(*_solution(item), cycle)]
                    cycle += 1
                    data = b"".join(lines)
                    if data:
                        output.send(data)
                    stats.epochs += 1
                    stats.bytes += len(data)
            elif isinstance(item, Stall):
                stats.stalls += 1
                say(f"stall for {item.duration_ms / 1000:g} s")
                if not speed:
                    _sleep(item.duration_ms / 1000, stop)
            elif isinstance(item, Unplug):
                stats.unplugs += 1
                say(f"unplugged for {item.duration_ms / 1000:g} s")
                output.unplug()
                _sleep(item.duration_ms / 1000 / (speed or 1.0), stop)
                output.replug()
                had_reader = False
                say("plugged in again")
            item = next(items, None)
    finally:
        stats.stopped = stop.requested
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        output.close()
    return stats


def _solution(epoch: Epoch) -> tuple[dt.datetime | None, Fix | None]:
    """The time and fix one epoch reports, for a receiver's binary messages:
    a synthetic drive's own, or what the replayed sentences decode to."""
    if epoch.fix is not None:
        return epoch.time or epoch.fix.time, epoch.fix
    decoder = NmeaDecoder()
    fixes = decoder.feed(epoch.data) + decoder.finish()
    fix = fixes[-1] if fixes else None
    return (fix.time if fix is not None else epoch.time), fix


def _sleep(seconds: float, stop: _Stop) -> None:
    deadline = time.monotonic() + seconds
    while not stop.requested and time.monotonic() < deadline:
        time.sleep(min(IDLE_POLL_S, max(0.0, deadline - time.monotonic())))


def _pump(output: Output, receiver: Receiver | None, timeout: float, stats: ServeStats) -> None:
    """Wait up to ``timeout`` for commands or writability; handle what came."""
    rfds = output.read_fds()
    wfds = output.write_fds()
    try:
        readable, writable, _ = select.select(rfds, wfds, [], timeout)
    except InterruptedError:
        return
    except OSError as exc:
        if exc.errno == errno.EBADF:  # the output closed under us (unplug)
            return
        raise
    if writable:
        output.flush()
    for fd in readable:
        data = output.read(fd)
        if not data or receiver is None:
            continue
        replies = receiver.receive(data)
        if replies:
            output.send(b"".join(replies))
            stats.replies += len(replies)
