from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.backoff import Backoff, backoff_delay


@given(attempt=st.integers(0, 10_000), initial=st.floats(0.01, 10), extra=st.floats(0, 600), rand=st.floats(0, 0.999))
def test_delay_is_within_half_cap_and_cap(attempt: int, initial: float, extra: float, rand: float) -> None:
    maximum = initial + extra
    cap = min(maximum, initial * 2.0 ** min(attempt, 64))
    delay = backoff_delay(attempt, initial_s=initial, max_s=maximum, rand=rand)
    assert cap / 2 <= delay <= cap <= maximum


def test_schedule_grows_then_caps_and_resets() -> None:
    b = Backoff(1.0, 8.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(8)]
    caps = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, caps))
    assert len(set(delays)) == len(delays)  # jittered
    b.reset()
    assert b.next_delay() <= 1.0


def test_bad_bounds() -> None:
    with pytest.raises(ValueError):
        Backoff(5.0, 1.0)
    with pytest.raises(ValueError):
        backoff_delay(-1, initial_s=1, max_s=2, rand=0.5)
