"""A pseudo-terminal that looks like a serial GPS receiver at a stable path.

``PtyPort(path)`` opens a pty pair in raw mode (no echo, no newline
translation: the bytes a receiver sends), closes our copy of the follower
side and points the symlink ``path`` at ``/dev/pts/N``, so an agent's
config can name one device path whatever pts number the kernel gave.

Why our copy of the follower is closed: Linux then reports POLLHUP on the
controller exactly while nobody has the device open, which is how we know a
reader came or went. The raw settings stay with the pty between openers.
Two kernel facts shape the rest: bytes written while nobody reads are kept
for the next reader (so we do not write then), and closing the controller
throws away what the reader has not read yet (so :meth:`close` drains first).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pty
import select
import struct
import termios
import time
import tty
from pathlib import Path

from common.errors import ActiveCallsError

__all__ = ["PtyError", "PtyPort"]


class PtyError(ActiveCallsError, OSError):
    """The pty or its symlink cannot be made."""


class PtyPort:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.device = ""
        self._fd = -1
        self._poll = select.poll()
        self.open()

    # -- lifetime --------------------------------------------------------------

    def open(self) -> None:
        """Make a new pty and point the symlink at it (again, after an unplug)."""
        controller, follower = pty.openpty()
        try:
            tty.setraw(follower)
            attrs = termios.tcgetattr(follower)
            attrs[4] = attrs[5] = termios.B9600  # what a receiver starts at; a pty ignores it
            termios.tcsetattr(follower, termios.TCSANOW, attrs)
            device = os.ttyname(follower)
        finally:
            os.close(follower)
        os.set_blocking(controller, False)
        try:
            self._link(device)
        except OSError as exc:
            os.close(controller)
            raise PtyError(exc.errno, f"cannot create the symlink {self.path}: {exc.strerror}") from None
        self._fd, self.device = controller, device
        self._poll = select.poll()
        self._poll.register(controller, select.POLLIN)

    def _link(self, device: str) -> None:
        if self.path.exists() and not self.path.is_symlink():
            raise FileExistsError(errno.EEXIST, "exists and is not a symlink")
        # Atomic replace: a reader never finds the path missing or half made.
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        os.symlink(device, temporary)
        os.replace(temporary, self.path)

    def unlink(self) -> None:
        """Remove the symlink if it still points at our device."""
        with contextlib.suppress(OSError):
            if os.readlink(self.path) == self.device:
                self.path.unlink()

    def hang_up(self) -> None:
        """Unplug: close the pty (the reader sees end of file) and remove the path."""
        self.unlink()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def close(self, *, drain_timeout: float = 10.0) -> None:
        """Let the reader take what is buffered (up to ``drain_timeout``), then hang up."""
        if self._fd >= 0 and self.reader_present():
            self._drain(drain_timeout)
        self.hang_up()

    def _drain(self, timeout: float) -> None:
        try:
            own = os.open(self.device, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return
        try:
            deadline = time.monotonic() + timeout
            last, since = -1, time.monotonic()
            empty_since: float | None = None
            while time.monotonic() < deadline:
                now = time.monotonic()
                waiting = struct.unpack("i", fcntl.ioctl(own, termios.FIONREAD, b"\0\0\0\0"))[0]
                if waiting == 0:
                    # FIONREAD does not count bytes still in the kernel's flip
                    # buffer on their way to the reader: empty must stay empty.
                    empty_since = now if empty_since is None else empty_since
                    if now - empty_since >= 0.2:
                        return
                else:
                    empty_since = None
                if waiting != last:
                    last, since = waiting, now
                elif waiting and now - since > 2.0:
                    return  # the reader stopped reading (or left): give up
                time.sleep(0.01)
        finally:
            os.close(own)

    # -- I/O -------------------------------------------------------------------

    @property
    def fd(self) -> int:
        return self._fd

    def reader_present(self) -> bool:
        if self._fd < 0:
            return False
        return all(not events & select.POLLHUP for _, events in self._poll.poll(0))

    def read(self) -> bytes:
        """What the reader wrote to the device (commands), b"" if nothing."""
        try:
            return os.read(self._fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:  # no reader
                return b""
            raise

    def write(self, data: bytes) -> int:
        """Write what the device takes now; returns the number of bytes written."""
        try:
            return os.write(self._fd, data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            if exc.errno == errno.EIO:
                return 0
            raise
