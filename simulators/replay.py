"""Recorded NMEA logs as timed epochs. Pure: bytes in, epochs out.

The log is cut into receiver cycles ("epochs") and each is stamped with
stream time taken from the sentences' own UTC times, so a replay keeps the
receiver's real rhythm (1 Hz, 5 Hz, 2 s cycles, irregular gaps).

How epochs are found, line by line (``agent.framer.LineFramer`` and
``agent.nmea.parse`` read each line; comment lines ``#`` are skipped):

- a sentence with a time of day that differs from the current epoch's
  starts a new epoch; the gap between the two times is the stream time
  between them (modulo midnight);
- a time earlier than the current one (receivers that send a GLL a second
  late) stays in the current epoch;
- a gap longer than ``max_gap_ms`` (receiver restarts, placeholder times
  of a cold start) is a discontinuity, replayed as ``fallback_interval_ms``;
- a cycle sentence (GGA, RMC, GNS, GLL, VTG, ZDA) repeating its address
  within the epoch starts a new one: that is how logs without times, and
  receivers whose time is frozen, still play at ``fallback_interval_ms``.

Bytes are kept as recorded (junk, bad checksums, odd line endings) unless
``clean`` asks for valid sentences only.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from agent import nmea
from agent.framer import LineFramer
from common.fix import UTC
from simulators.events import Epoch
from simulators.rewrite import shift_time

__all__ = ["DEFAULT_MAX_GAP_MS", "ReplayLog", "read_epochs", "replay"]

DAY_MS: Final = 86_400_000
DEFAULT_MAX_GAP_MS: Final = 30_000
_CYCLE_TYPES: Final = (nmea.GGA, nmea.RMC, nmea.GNS, nmea.GLL, nmea.VTG, nmea.ZDA)


@dataclass
class _Builder:
    lines: list[bytes] = field(default_factory=list)
    offset_ms: int | None = None
    tod: int | None = None
    time: dt.datetime | None = None
    keys: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ReplayLog:
    """A log cut into epochs, with what ``--loop`` and ``--now`` need to know."""

    epochs: tuple[Epoch, ...]
    interval_ms: int  # the log's typical cycle (median gap), or the fallback

    @property
    def duration_ms(self) -> int:
        return 0 if not self.epochs else self.epochs[-1].offset_ms - self.epochs[0].offset_ms

    def start_time(self) -> dt.datetime | None:
        """The UTC time of the first epoch, extrapolated from the first dated one."""
        for epoch in self.epochs:
            if epoch.time is not None:
                return epoch.time - dt.timedelta(milliseconds=epoch.offset_ms - self.epochs[0].offset_ms)
        return None


def read_epochs(
    data: bytes,
    *,
    clean: bool = False,
    fallback_interval_ms: int = 1000,
    max_gap_ms: int = DEFAULT_MAX_GAP_MS,
) -> ReplayLog:
    """Cut a recorded log into epochs (see the module docstring)."""
    if fallback_interval_ms <= 0:
        raise ValueError("the fallback interval must be positive")
    framer = LineFramer()
    builders: list[_Builder] = [_Builder(offset_ms=0)]
    last_tod: int | None = None
    date: dt.date | None = None

    def place(b: _Builder, tod: int | None) -> None:
        """Give a new epoch its stream time from its first time of day."""
        nonlocal last_tod
        previous = builders[-2].offset_ms if len(builders) > 1 else None
        if previous is None:
            b.offset_ms = 0
        elif tod is None or last_tod is None:
            b.offset_ms = previous + fallback_interval_ms
        else:
            gap = (tod - last_tod) % DAY_MS
            b.offset_ms = previous + (gap if 0 < gap <= max_gap_ms else fallback_interval_ms)
        if tod is not None:
            b.tod = last_tod = tod

    for line in data.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        if body.startswith(b"#"):
            continue
        decoded: list[tuple[bytes, nmea.Sentence]] = []
        for candidate in framer.feed(body + b"\n"):
            try:
                decoded.append((candidate, nmea.parse(candidate)))
            except nmea.NmeaError:
                pass
        line_out = [candidate + b"\r\n" for candidate, _ in decoded] if clean else [line]
        tod: int | None = next((t for _, s in decoded if (t := getattr(s, "tod_ms", None)) is not None), None)
        keys = {s.talker + type(s).__name__ for _, s in decoded if isinstance(s, _CYCLE_TYPES)}
        current = builders[-1]
        new_epoch = False
        if tod is not None and current.tod is not None and tod != current.tod:
            # Later time: new epoch. Earlier (by up to half a day): a late sentence.
            new_epoch = (tod - current.tod) % DAY_MS < DAY_MS // 2
        elif keys & current.keys:
            new_epoch = True  # the receiver started its next cycle
        if new_epoch and (current.lines or current.offset_ms is not None):
            current = _Builder()
            builders.append(current)
        if current.offset_ms is None and (tod is not None or new_epoch):
            place(current, tod)
        elif current.tod is None and tod is not None:
            # An epoch opened by a repeated untimed sentence (VTG first):
            # now that its time is known, place it by the time gap.
            place(current, tod)
        current.lines.extend(line_out)
        current.keys |= keys
        for _, s in decoded:
            found = getattr(s, "date", None)
            if found is not None and (not isinstance(s, nmea.RMC) or s.valid):
                date = found
                if current.time is None and current.tod is not None:
                    current.time = dt.datetime(date.year, date.month, date.day, tzinfo=UTC) + dt.timedelta(
                        milliseconds=current.tod
                    )
    epochs: list[Epoch] = []
    offset = 0
    for b in builders:
        if not b.lines:
            continue
        offset = b.offset_ms if b.offset_ms is not None else (offset + fallback_interval_ms if epochs else 0)
        epochs.append(Epoch(offset, tuple(b.lines), b.time))
    gaps = [b.offset_ms - a.offset_ms for a, b in itertools.pairwise(epochs) if b.offset_ms > a.offset_ms]
    interval = round(statistics.median(gaps)) if gaps else fallback_interval_ms
    return ReplayLog(tuple(epochs), interval)


def replay(
    log: ReplayLog,
    *,
    start_epoch: int = 0,
    count: int | None = None,
    loop: bool = False,
    shift: dt.timedelta = dt.timedelta(0),
) -> Iterator[Epoch]:
    """The epochs to play, re-based to stream time 0.

    ``start_epoch``/``count`` select a part (``count`` per pass). ``shift``
    moves every time and date forward (``--now``). With ``loop`` the part
    repeats forever; each pass is moved forward by the part's length
    (rounded up to whole seconds, so whole-second logs stay whole) so times
    and dates keep increasing.
    """
    part = log.epochs[start_epoch : None if count is None else start_epoch + count]
    if not part:
        return
    base = part[0].offset_ms
    period_ms = math.ceil((part[-1].offset_ms - base + log.interval_ms) / 1000) * 1000
    n = 0
    while True:
        delta = shift + dt.timedelta(milliseconds=n * period_ms)
        for epoch in part:
            lines = epoch.lines if not delta else tuple(shift_time(line, delta) for line in epoch.lines)
            time = None if epoch.time is None else epoch.time + delta
            yield Epoch(epoch.offset_ms - base + n * period_ms, lines, time)
        if not loop:
            return
        n += 1
