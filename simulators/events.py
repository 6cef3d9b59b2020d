"""What the pure simulators produce and the output shells consume.

A simulator (``replay``, ``drive``) is an iterator of :class:`Epoch`, the
bytes one receiver cycle sends, stamped with stream time: milliseconds since
the start of the stream, in the source's own clock (the log's UTC times, the
synthetic drive's clock). The fault injector may add :class:`Stall` and
:class:`Unplug`; the shells turn stream time into wall time (``--speed``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from common.fix import Fix

__all__ = ["Epoch", "Item", "Stall", "Unplug"]


@dataclass(frozen=True, slots=True)
class Epoch:
    offset_ms: int  # stream time at which these bytes are due
    lines: tuple[bytes, ...]  # each a sentence (or whatever the log held) with its line ending
    time: dt.datetime | None = None  # the UTC time the sentences carry, when known
    fix: Fix | None = None  # the position they report (a synthetic drive's; None: no fix, or not known)

    @property
    def data(self) -> bytes:
        return b"".join(self.lines)


@dataclass(frozen=True, slots=True)
class Stall:
    """The receiver says nothing from ``offset_ms`` for ``duration_ms`` (it hung)."""

    offset_ms: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Unplug:
    """The device disappears at ``offset_ms`` and comes back ``duration_ms`` later
    (a pty hang-up and a new pty behind the same path; TCP clients dropped)."""

    offset_ms: int
    duration_ms: int


Item = Epoch | Stall | Unplug
