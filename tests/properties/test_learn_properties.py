"""The learner uses only the past: what it says at ``now`` cannot depend on anything later."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.learn import FleetLearner, ModelReference

# Mostly northwards, at 1-40 m/s with stops and wiggles: many sub-trips are direct enough to count.
steps = st.lists(st.tuples(st.floats(0.5, 10.0), st.floats(-5.0, 60.0), st.floats(-15.0, 15.0)), min_size=5,
                 max_size=400)  # fmt: skip


def track(moves: list[tuple[float, float, float]], t0: float = 1_800_000_000.0) -> tuple[np.ndarray, ...]:  # type: ignore[type-arg]
    dt, north, east = (np.array(c) for c in zip(*moves))
    return t0 + np.cumsum(dt), 53.2 + np.cumsum(north) / 111_320, -1.42 + np.cumsum(east) / 66_800


@settings(max_examples=60, deadline=None)
@given(steps, steps, st.floats(0.0, 1.0), st.integers(0, 3))
def test_a_factor_at_now_ignores_whatever_happened_later(
    past: list[tuple[float, float, float]], future: list[tuple[float, float, float]], cut: float, others: int
) -> None:
    t, lat, lon = track(past + future)
    now = float(t[0] + cut * (t[-1] - t[0]))
    upto = int(np.searchsorted(t, now, side="right"))
    knows_all, knows_past = FleetLearner(ModelReference()), FleetLearner(ModelReference())
    knows_all.observe("PC-1", t, lat, lon)
    knows_past.observe("PC-1", t[:upto], lat[:upto], lon[:upto])
    for k in range(others):  # other units, seen entirely by both: the hour-of-day prior
        ot, olat, olon = track(future, t0=t[0] - 500 * k)
        keep = ot <= now
        knows_all.observe(f"PC-{k + 2}", ot, olat, olon)
        knows_past.observe(f"PC-{k + 2}", ot[keep], olat[keep], olon[keep])
    assert knows_all.factor("PC-1", now) == knows_past.factor("PC-1", now)
