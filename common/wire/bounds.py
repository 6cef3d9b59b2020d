"""How far a fix's time and ``seq`` may stray before a consumer refuses or flags it.

A fix carries the time its receiver gave it, and ``seq`` the agent's count of
reported fixes; both come from another machine. Neither may be taken on
trust: a fix dated a year ahead would stay the unit's newest position (and
"fresh") for a year, and a ``seq`` of 2**63 - 1 would leave every later fix
looking like a duplicate behind ten million "missing" ones.

- Time: a fix more than ``ahead_s`` after the moment it was received
  (default :data:`MAX_FIX_AHEAD_S`, 2 minutes: clocks and GPS disagree by
  seconds, not minutes) is refused as :class:`FutureFixError`; one more than
  ``max_age_s`` before it (default :data:`MAX_FIX_AGE_S`, 30 days: a backlog
  is hours or days old, never from 1970 or from a receiver's GPS week
  rollover) as :class:`StaleFixError`. Judged per fix: a ``track`` keeps the
  fixes that are in bounds.
- ``seq``: a jump of more than :data:`MAX_SEQ_JUMP` from the span seen so far
  is not a gap of missing fixes; a consumer flags it and counts again from
  the new value (``collector.fleet.SeqTracker``).

Pure: the caller passes the time it received the message (POSIX seconds).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from common.wire._codec import OutOfRangeError
from common.wire.units import WireFix

__all__ = [
    "MAX_FIX_AGE_S",
    "MAX_FIX_AHEAD_S",
    "MAX_SEQ_JUMP",
    "FixTimeBounds",
    "FixTimeError",
    "FutureFixError",
    "StaleFixError",
]

MAX_FIX_AHEAD_S: Final = 120.0
MAX_FIX_AGE_S: Final = 30 * 86400.0
# 11.6 days of reports at 1 Hz: more than any outage the agent's outbox
# bridges (it thins beyond 300,000 fixes), far less than 2**63.
MAX_SEQ_JUMP: Final = 1_000_000


class FixTimeError(OutOfRangeError):
    """A well-formed fix whose time is implausible for when it arrived."""


class FutureFixError(FixTimeError):
    """Dated further ahead of its receipt than clocks can disagree."""


class StaleFixError(FixTimeError):
    """Dated further back than any backlog can be (1970, a GPS week rollover)."""


@dataclass(frozen=True, slots=True)
class FixTimeBounds:
    """The window around the receipt time a fix's time must fall in."""

    ahead_s: float = MAX_FIX_AHEAD_S
    max_age_s: float = MAX_FIX_AGE_S

    def __post_init__(self) -> None:
        if self.ahead_s < 0 or self.max_age_s <= 0:
            raise ValueError("fix time bounds: ahead_s must be >= 0 and max_age_s > 0")

    def check(self, fix: WireFix, received: float) -> None:
        """Raise :class:`FutureFixError` or :class:`StaleFixError` if ``fix``
        is out of bounds for a message received at ``received``."""
        offset = fix.fix.time.timestamp() - received
        if offset > self.ahead_s:
            raise FutureFixError(
                f"fix seq {fix.seq} is dated {_span(offset)} after it was received "
                f"(at most {self.ahead_s:g} s allowed): {fix.fix.time.isoformat()}"
            )
        if -offset > self.max_age_s:
            raise StaleFixError(
                f"fix seq {fix.seq} is dated {_span(-offset)} before it was received "
                f"(at most {_span(self.max_age_s)} allowed): {fix.fix.time.isoformat()}"
            )

    def partition(
        self, fixes: Iterable[WireFix], received: float
    ) -> tuple[list[WireFix], list[tuple[WireFix, FixTimeError]]]:
        """The fixes in bounds, and the others with why, in their order."""
        kept: list[WireFix] = []
        refused: list[tuple[WireFix, FixTimeError]] = []
        for fix in fixes:
            try:
                self.check(fix, received)
            except FixTimeError as exc:
                refused.append((fix, exc))
            else:
                kept.append(fix)
        return kept, refused


def _span(seconds: float) -> str:
    """A duration a person reads at a glance: 95 s, 42 min, 5.2 h, 400 days."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{dt.timedelta(seconds=seconds).days} days"
