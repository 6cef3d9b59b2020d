"""Sequence tracking and the forward-only newest position, against plain models."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.fleet import FleetState, SeqTracker
from common.fix import Fix
from common.wire import MAX_SEQ_JUMP, WireFix

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def missing_ranges(seen: set[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for n in range(min(seen), max(seen) + 1):
        if n not in seen:
            if ranges and ranges[-1][1] == n - 1:
                ranges[-1] = (ranges[-1][0], n)
            else:
                ranges.append((n, n))
    return ranges


@settings(max_examples=300)
@given(st.lists(st.integers(1, 60), min_size=1, max_size=80))
def test_seq_tracker_agrees_with_a_set(seqs: list[int]) -> None:
    tracker = SeqTracker()
    seen: set[int] = set()
    for seq in seqs:
        assert tracker.add(seq) == (seq not in seen)
        seen.add(seq)
    assert (tracker.low, tracker.high) == (min(seen), max(seen))
    assert list(tracker.gaps) == missing_ranges(seen)
    assert tracker.missing_count == sum(b - a + 1 for a, b in missing_ranges(seen))


@settings(max_examples=300)
@given(st.lists(st.integers(1, 200), min_size=1, max_size=120), st.integers(1, 4))
def test_a_bounded_tracker_never_calls_a_new_seq_a_duplicate(seqs: list[int], max_ranges: int) -> None:
    # Forgetting old gaps may let a duplicate through (the store's key catches it),
    # but must never drop a fix that was not seen: that would lose data.
    tracker = SeqTracker(max_ranges=max_ranges)
    seen: set[int] = set()
    for seq in seqs:
        if not tracker.add(seq):
            assert seq in seen
        seen.add(seq)
        assert len(tracker.gaps) <= max_ranges


def test_seq_tracker_restore_continues() -> None:
    tracker = SeqTracker.restore(10, 20, [(12, 13), (17, 17)])
    assert tracker.missing_count == 3
    assert tracker.add(11) is False and tracker.add(12) is True and tracker.add(12) is False
    assert tracker.gaps == ((13, 13), (17, 17))
    assert tracker.add(25) is True and tracker.gaps[-1] == (21, 24)


@st.composite
def deliveries(draw: st.DrawFn) -> list[list[WireFix]]:
    """Fixes 1..n of a unit (times increasing with seq), delivered in messages of any
    grouping and order, some more than once: live pos first, backlog later, resends."""
    n = draw(st.integers(1, 30))
    fixes = [WireFix("PC-1", s, Fix(T0 + dt.timedelta(seconds=3 * s), 53.0 + s / 1e4, -1.0)) for s in range(1, n + 1)]
    messages = draw(st.lists(st.lists(st.sampled_from(fixes), min_size=1, max_size=5), min_size=1, max_size=20))
    return messages


@settings(max_examples=200)
@given(deliveries())
def test_newest_position_only_moves_forward_and_nothing_is_counted_twice(messages: list[list[WireFix]]) -> None:
    fleet = FleetState()
    newest: WireFix | None = None
    accepted: list[int] = []
    for i, message in enumerate(messages):
        outcome = fleet.apply_fixes("PC-1", message, received=float(i))
        accepted += [f.seq for f in outcome.new]
        for f in message:
            if newest is None or f.fix.time > newest.fix.time:
                newest = f
        view = fleet.view("PC-1", now=1e10)
        assert view.seq == newest.seq and view.fix == newest.fix  # type: ignore[union-attr]
    delivered = {f.seq for m in messages for f in m}
    assert sorted(accepted) == sorted(delivered)  # each once
    view = fleet.view("PC-1", now=1e10)
    assert view.fixes == len(delivered)
    assert view.duplicates == sum(len(m) for m in messages) - len(delivered)
    assert view.missing == sum(b - a + 1 for a, b in missing_ranges(delivered))


def test_a_seq_jump_is_flagged_not_counted_as_missing() -> None:
    """Attack 2's seq half: 2**63 - 1 from a unit at 100 is one jump, not 9e18 missing fixes."""
    tracker = SeqTracker()
    for seq in range(1, 101):
        tracker.add(seq)
    assert tracker.add(2**63 - 1) is True  # passed on (the store judges), flagged
    assert tracker.jumps == 1 and tracker.missing_count == 0 and tracker.high == 100
    assert [tracker.add(s) for s in (101, 102)] == [True, True]  # the real ones are not "duplicates"
    assert tracker.high == 102 and tracker.missing_count == 0
    assert tracker.add(50) is False  # and duplicates are still caught


def test_a_unit_that_really_counts_again_is_followed_after_one_flag() -> None:
    tracker = SeqTracker()
    for seq in (5_000_000, 5_000_001, 5_000_003):
        tracker.add(seq)
    assert tracker.add(1) is True and tracker.jumps == 1  # a new outbox: seq restarts
    assert tracker.add(2) is True and (tracker.low, tracker.high) == (1, 2)  # goes on from it: a new count
    assert tracker.missing_count == 0 and tracker.forgotten == 1  # the old span's gap stays counted


@settings(max_examples=300)
@given(st.lists(st.integers(1, 60) | st.integers(10**6 + 100, 2**63 - 1), min_size=1, max_size=80))
def test_with_jumps_a_new_seq_is_never_called_a_duplicate(seqs: list[int]) -> None:
    tracker = SeqTracker()
    seen: set[int] = set()
    for seq in seqs:
        if not tracker.add(seq):
            assert seq in seen
        seen.add(seq)
    assert tracker.missing_count <= len(seqs) * MAX_SEQ_JUMP  # a jump never counts as missing fixes


def test_restore_keeps_the_part_of_the_span_holding_the_newest_fix() -> None:
    huge = (101, 2**63 - 2)
    below = SeqTracker.restore(1, 2**63 - 1, [(50, 50), huge], around=100)
    assert (below.low, below.high, below.missing_count) == (1, 100, 1)
    above = SeqTracker.restore(1, 2**63 - 1, [(50, 50), huge], around=2**63 - 1)
    assert (above.low, above.high, above.missing_count) == (2**63 - 1, 2**63 - 1, 0)
