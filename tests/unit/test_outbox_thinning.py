"""The outbox's thinning decision (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.outbox import thinning_plan


@given(
    window=st.lists(st.integers(1, 10**9), unique=True, max_size=300).map(sorted),
    extra=st.integers(0, 1000),
    keep_every=st.integers(2, 10),
)
def test_thinning_keeps_every_nth_and_only_when_full(window: list[int], extra: int, keep_every: int) -> None:
    count = len(window) * 2 + extra
    max_fixes = count - 1
    doomed = thinning_plan(window, count, max_fixes, keep_every)
    kept = [s for s in window if s not in set(doomed)]
    assert set(doomed) <= set(window)
    assert kept == window[::keep_every]  # the first of each run of keep_every survives
    assert thinning_plan(window, count, count, keep_every) == []  # not over the bound: nothing goes


def test_example() -> None:
    assert thinning_plan([1, 2, 3, 4, 5, 6, 7], 15, 14, 3) == [2, 3, 5, 6]
