"""What the collector knows about each unit: newest position, sequence gaps,
connectivity, duty status, and whether its position is still fresh.

Pure: events in (with the time they were received), state out; times are
POSIX seconds passed in by the caller. One owner per fact: the position comes
from fixes, connectivity from ``state``, duty from ``status``; they are kept
apart because a connected car can be busy and a free car can be out of signal.

Besides one record per unit, the fleet keeps the numbers the ETA engine needs
as numpy columns, updated in place, so a snapshot of 500 units is a handful of
array operations rather than a Python loop (see :meth:`FleetState.table`).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from common.fix import Fix
from common.wire import MAX_SEQ_JUMP, DutyStatus, UnitState, WireFix

__all__ = [
    "FixesOutcome",
    "FleetState",
    "SeqTracker",
    "StalenessPolicy",
    "UnitTable",
    "UnitView",
    "STATUS_CODES",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int8]

# Duty status as a small integer for the columns; -1 = unknown.
STATUS_CODES: Final = {status: code for code, status in enumerate(DutyStatus)}
_UNKNOWN_STATUS: Final = -1


@dataclass(frozen=True, slots=True)
class StalenessPolicy:
    """When a position stops being fresh, and when a silent unit stops counting.

    A unit's fix is stale once it is older than ``factor`` x its report
    interval + ``grace_s``. The interval is configured per unit
    (``unit_intervals``), or for the whole fleet (``report_interval_s``), or
    else estimated as the median of the unit's recent fix intervals (between
    ``min_interval_s`` and ``max_interval_s``; ``default_interval_s`` until
    there are at least two fixes).
    """

    factor: float = 2.0
    grace_s: float = 10.0
    report_interval_s: float | None = None
    unit_intervals: Mapping[str, float] = field(default_factory=dict)
    default_interval_s: float = 5.0
    min_interval_s: float = 1.0
    max_interval_s: float = 300.0
    # A unit whose agent has been offline longer than this is not recommended.
    offline_exclude_after_s: float = 120.0

    def __post_init__(self) -> None:
        numbers = (self.factor, self.grace_s, self.default_interval_s, self.min_interval_s, self.max_interval_s)
        if not all(math.isfinite(x) and x >= 0 for x in numbers) or self.min_interval_s > self.max_interval_s:
            raise ValueError("staleness policy: factor, grace and intervals must be finite and >= 0, min <= max")
        if self.offline_exclude_after_s < 0:
            raise ValueError("staleness policy: offline_exclude_after_s must be >= 0")

    def interval(self, unit: str, recent: Sequence[float]) -> float:
        configured = self.unit_intervals.get(unit, self.report_interval_s)
        if configured is not None:
            return configured
        if not recent:
            return self.default_interval_s
        # The median shrugs off a single long silence (a tunnel) or a burst.
        return min(max(statistics.median(recent), self.min_interval_s), self.max_interval_s)

    def stale_after(self, interval_s: float) -> float:
        return self.factor * interval_s + self.grace_s


class SeqTracker:
    """The ``seq`` numbers seen from one unit: duplicates, gaps and jumps.

    Tracks the span [low, high] seen and the missing ranges inside it. A
    backlog arriving after the live position (the agent sends the newest fix
    first) extends the span downwards and fills gaps. At most ``max_ranges``
    gaps are remembered; older ones are forgotten (counted in ``forgotten``),
    after which seqs below ``floor`` are passed on as new: the store's unique
    key on (unit, seq) is the final judge of duplicates, this only saves work
    and counts.

    A seq more than ``max_jump`` beyond either end of the span is not a gap of
    missing fixes (2**63 - 1 would make ten million of them, and every later
    fix a "duplicate"): it is a jump, counted in ``jumps`` and passed on as
    new without touching the span. If the next seq goes on from it (a unit
    that really started counting again, e.g. with a new outbox), the count
    starts again there: the old span's missing fixes stay counted in
    ``forgotten``.
    """

    __slots__ = ("_jumped_to", "_max", "_missing", "floor", "forgotten", "high", "jumps", "low", "max_jump",
                 "missing_count")  # fmt: skip

    def __init__(self, max_ranges: int = 256, max_jump: int = MAX_SEQ_JUMP) -> None:
        self.low: int | None = None
        self.high: int | None = None
        self._missing: list[tuple[int, int]] = []  # sorted, disjoint, inclusive
        self.missing_count = 0
        self.floor = 0
        self.forgotten = 0
        self.jumps = 0
        self.max_jump = max_jump
        self._jumped_to: int | None = None
        self._max = max_ranges

    @classmethod
    def restore(
        cls,
        low: int,
        high: int,
        gaps: Iterable[tuple[int, int]],
        max_ranges: int = 256,
        *,
        around: int | None = None,
        max_jump: int = MAX_SEQ_JUMP,
    ) -> SeqTracker:
        """The tracker of a span the store saw, with its gaps. A gap wider than
        ``max_jump`` was a jump, not missing fixes: only the part of the span
        holding ``around`` (the newest fix's seq; default the top) is kept."""
        tracker = cls(max_ranges, max_jump)
        ordered = sorted(gaps)
        where = high if around is None else around
        for first, last in ordered:
            if last - first + 1 > max_jump:
                tracker.jumps += 1
                if where > last:
                    low = last + 1
                else:
                    high = first - 1
                    break
        tracker.low, tracker.high = low, high
        for first, last in ordered:
            if low <= first and last <= high:
                tracker._add_gap(first, last)
        return tracker

    @property
    def gaps(self) -> tuple[tuple[int, int], ...]:
        return tuple(self._missing)

    def add(self, seq: int) -> bool:
        """Record ``seq``; False if it was seen before (a duplicate)."""
        if self.low is None or self.high is None:
            self.low = self.high = seq
            return True
        if seq > self.high + self.max_jump or seq < self.low - self.max_jump:
            if self._jumped_to is None or seq != self._jumped_to + 1:
                self.jumps += 1
                self._jumped_to = seq
                return True
            self._start_again(self._jumped_to)
        if seq > self.high:
            if seq > self.high + 1:
                self._add_gap(self.high + 1, seq - 1)
            self.high = seq
            return True
        if seq < self.low:
            if seq < self.floor:
                return True
            if seq < self.low - 1:
                self._add_gap(seq + 1, self.low - 1, front=True)
            self.low = seq
            return True
        i = bisect.bisect_right(self._missing, (seq, math.inf)) - 1
        if i < 0 or not self._missing[i][0] <= seq <= self._missing[i][1]:
            return seq < self.floor  # inside the span and not missing: seen
        first, last = self._missing.pop(i)
        pieces = [(a, b) for a, b in ((first, seq - 1), (seq + 1, last)) if a <= b]
        self._missing[i:i] = pieces
        self.missing_count -= 1
        self._trim()
        return True

    def _start_again(self, seq: int) -> None:
        """The unit counts from ``seq`` now: a new span, the old one's gaps forgotten."""
        self.forgotten += self.missing_count
        self.missing_count = 0
        self._missing.clear()
        self.low = self.high = seq
        self.floor = 0
        self._jumped_to = None

    def _add_gap(self, first: int, last: int, *, front: bool = False) -> None:
        if front:
            self._missing.insert(0, (first, last))
        else:
            self._missing.append((first, last))
        self.missing_count += last - first + 1
        self._trim()

    def _trim(self) -> None:
        while len(self._missing) > self._max:
            old_first, old_last = self._missing.pop(0)
            size = old_last - old_first + 1
            self.missing_count -= size
            self.forgotten += size
            self.floor = old_last + 1


@dataclass(frozen=True, slots=True)
class FixesOutcome:
    new: tuple[WireFix, ...]  # not seen before, in arrival order: hand these to the store
    duplicates: int
    moved: bool  # the unit's newest position changed
    seq_jumps: tuple[int, ...] = ()  # seqs that jumped more than MAX_SEQ_JUMP (see SeqTracker)


@dataclass(frozen=True, slots=True)
class UnitView:
    """One unit as the collector sees it at ``now`` (for tables and ``units``)."""

    unit: str
    fix: Fix | None
    seq: int | None  # seq of the newest fix
    fix_age_s: float | None  # now - fix time, never negative
    received: float | None  # when the newest fix arrived
    report_interval_s: float
    stale_after_s: float
    stale: bool  # no fix, or the newest is older than stale_after_s
    connectivity: UnitState | None
    connectivity_since: float | None
    duty: DutyStatus | None
    duty_since: float | None
    excluded: bool  # offline for longer than the policy allows
    fixes: int  # new fixes accepted
    duplicates: int
    missing: int  # seqs never received (within the tracked span)
    gap_ranges: tuple[tuple[int, int], ...]
    seq_jumps: int = 0  # times its seq jumped more than MAX_SEQ_JUMP (a reset, or a forged seq)


@dataclass(frozen=True, slots=True)
class UnitTable:
    """The fleet as columns at one instant, index-aligned with ``units``."""

    now: float
    units: tuple[str, ...]
    has_fix: BoolArray
    lat: FloatArray
    lon: FloatArray
    fix_age: FloatArray  # seconds, >= 0 (nan without a fix)
    stale: BoolArray
    offline: BoolArray
    excluded: BoolArray  # offline too long: never recommended
    status: IntArray  # STATUS_CODES, -1 unknown

    def index(self) -> dict[str, int]:
        return {unit: i for i, unit in enumerate(self.units)}

    def id_rank(self) -> npt.NDArray[np.intp]:
        """Each unit's position in id order (to break ties between equal values)."""
        rank = np.empty(len(self.units), dtype=np.intp)
        rank[sorted(range(len(self.units)), key=self.units.__getitem__)] = np.arange(len(self.units))
        return rank


class _Unit:
    __slots__ = (
        "connectivity",
        "connectivity_since",
        "duplicates",
        "duty",
        "duty_since",
        "fixes",
        "index",
        "intervals",
        "latest",
        "latest_epoch",
        "received",
        "seq",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.latest: WireFix | None = None
        self.latest_epoch = -math.inf
        self.received: float | None = None
        self.seq = SeqTracker()
        self.intervals: deque[float] = deque(maxlen=9)
        self.connectivity: UnitState | None = None
        self.connectivity_since: float | None = None
        self.duty: DutyStatus | None = None
        self.duty_since: float | None = None
        self.fixes = 0
        self.duplicates = 0


class FleetState:
    """Every unit's newest position, sequence gaps, connectivity and duty."""

    def __init__(self, policy: StalenessPolicy | None = None) -> None:
        self.policy = policy or StalenessPolicy()
        self._units: dict[str, _Unit] = {}
        self._ids: list[str] = []
        capacity = 64
        self._lat = np.full(capacity, np.nan)
        self._lon = np.full(capacity, np.nan)
        self._fix_epoch = np.full(capacity, np.nan)
        self._stale_after = np.full(capacity, self.policy.stale_after(self.policy.default_interval_s))
        self._offline_since = np.full(capacity, np.nan)
        self._status = np.full(capacity, _UNKNOWN_STATUS, dtype=np.int8)

    def __contains__(self, unit: object) -> bool:
        return unit in self._units

    def __len__(self) -> int:
        return len(self._units)

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(self._ids)

    def _unit(self, unit: str) -> _Unit:
        record = self._units.get(unit)
        if record is None:
            index = len(self._ids)
            if index == len(self._lat):
                self._grow()
            record = self._units[unit] = _Unit(index)
            self._ids.append(unit)
            self._stale_after[index] = self.policy.stale_after(self.policy.interval(unit, ()))
        return record

    def _grow(self) -> None:
        def bigger(column: npt.NDArray[np.generic], fill: float) -> npt.NDArray[np.generic]:
            out = np.full(len(column) * 2, fill, dtype=column.dtype)
            out[: len(column)] = column
            return out

        self._lat = bigger(self._lat, np.nan).astype(np.float64)
        self._lon = bigger(self._lon, np.nan).astype(np.float64)
        self._fix_epoch = bigger(self._fix_epoch, np.nan).astype(np.float64)
        self._stale_after = bigger(self._stale_after, np.nan).astype(np.float64)
        self._offline_since = bigger(self._offline_since, np.nan).astype(np.float64)
        self._status = bigger(self._status, _UNKNOWN_STATUS).astype(np.int8)

    # -- events ------------------------------------------------------------

    def apply_fixes(self, unit: str, fixes: Iterable[WireFix], received: float) -> FixesOutcome:
        """Take a ``pos`` or ``track`` message's fixes; de-duplicate by seq; let
        the newest position move only forward in fix time."""
        record = self._unit(unit)
        new: list[WireFix] = []
        duplicates = 0
        moved = False
        jumps: list[int] = []
        for wire_fix in fixes:
            jumps_before = record.seq.jumps
            if not record.seq.add(wire_fix.seq):
                duplicates += 1
                continue
            if record.seq.jumps != jumps_before:
                jumps.append(wire_fix.seq)
            new.append(wire_fix)
            epoch = wire_fix.fix.time.timestamp()
            if epoch > record.latest_epoch:
                if math.isfinite(record.latest_epoch):
                    record.intervals.append(epoch - record.latest_epoch)
                record.latest, record.latest_epoch, record.received = wire_fix, epoch, received
                moved = True
        record.fixes += len(new)
        record.duplicates += duplicates
        if moved and record.latest is not None:
            self._put_position(unit, record)
        return FixesOutcome(tuple(new), duplicates, moved, tuple(jumps))

    def apply_state(self, unit: str, state: UnitState, received: float) -> bool:
        """Connectivity from the retained ``state`` topic; True if it changed."""
        record = self._unit(unit)
        if record.connectivity is state:
            return False
        record.connectivity, record.connectivity_since = state, received
        self._offline_since[record.index] = received if state is UnitState.OFFLINE else np.nan
        return True

    def apply_status(self, unit: str, status: DutyStatus | None, received: float) -> bool:
        """Duty status from the retained ``status`` topic; True if it changed."""
        record = self._unit(unit)
        if record.duty is status:
            return False
        record.duty, record.duty_since = status, received
        self._status[record.index] = _UNKNOWN_STATUS if status is None else STATUS_CODES[status]
        return True

    def restore_unit(
        self,
        unit: str,
        latest: WireFix | None,
        *,
        received: float | None = None,
        seq_span: tuple[int, int] | None = None,
        gaps: Iterable[tuple[int, int]] = (),
        recent_intervals: Iterable[float] = (),
    ) -> None:
        """Reload what the store kept, after a restart, before live messages."""
        record = self._unit(unit)
        if seq_span is not None:
            around = None if latest is None else latest.seq
            record.seq = SeqTracker.restore(seq_span[0], seq_span[1], gaps, around=around)
        record.intervals.extend(recent_intervals)
        if latest is not None:
            record.latest, record.latest_epoch = latest, latest.fix.time.timestamp()
            record.received = received
            self._put_position(unit, record)

    def _put_position(self, unit: str, record: _Unit) -> None:
        assert record.latest is not None
        i = record.index
        self._lat[i], self._lon[i] = record.latest.fix.lat, record.latest.fix.lon
        self._fix_epoch[i] = record.latest_epoch
        self._stale_after[i] = self.policy.stale_after(self.policy.interval(unit, record.intervals))

    # -- reading -------------------------------------------------------------

    def view(self, unit: str, now: float) -> UnitView:
        record = self._units[unit]
        interval = self.policy.interval(unit, record.intervals)
        stale_after = self.policy.stale_after(interval)
        age = None if record.latest is None else max(0.0, now - record.latest_epoch)
        excluded = (
            record.connectivity is UnitState.OFFLINE
            and record.connectivity_since is not None
            and now - record.connectivity_since > self.policy.offline_exclude_after_s
        )
        return UnitView(
            unit=unit,
            fix=None if record.latest is None else record.latest.fix,
            seq=None if record.latest is None else record.latest.seq,
            fix_age_s=age,
            received=record.received,
            report_interval_s=interval,
            stale_after_s=stale_after,
            stale=age is None or age > stale_after,
            connectivity=record.connectivity,
            connectivity_since=record.connectivity_since,
            duty=record.duty,
            duty_since=record.duty_since,
            excluded=excluded,
            fixes=record.fixes,
            duplicates=record.duplicates,
            missing=record.seq.missing_count + record.seq.forgotten,
            gap_ranges=record.seq.gaps,
            seq_jumps=record.seq.jumps,
        )

    def views(self, now: float) -> list[UnitView]:
        return [self.view(unit, now) for unit in sorted(self._units)]

    def table(self, now: float) -> UnitTable:
        """The fleet as columns (copies), for the vectorized ETA engine."""
        n = len(self._ids)
        fix_epoch = self._fix_epoch[:n]
        has_fix = ~np.isnan(fix_epoch)
        age = np.maximum(now - fix_epoch, 0.0)  # nan stays nan
        offline_since = self._offline_since[:n]
        offline = ~np.isnan(offline_since)
        with np.errstate(invalid="ignore"):
            stale = ~has_fix | (age > self._stale_after[:n])
            excluded = offline & ((now - offline_since) > self.policy.offline_exclude_after_s)
        return UnitTable(
            now=now,
            units=tuple(self._ids),
            has_fix=has_fix,
            lat=self._lat[:n].copy(),
            lon=self._lon[:n].copy(),
            fix_age=age,
            stale=stale,
            offline=offline,
            excluded=excluded,
            status=self._status[:n].copy(),
        )
