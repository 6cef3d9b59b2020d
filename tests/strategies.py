"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from common.fix import Fix

UTC = dt.UTC

# RMC carries a two-digit year, pivoting on 1980: 1980-2079 round-trips.
times = st.datetimes(
    min_value=dt.datetime(1980, 1, 6), max_value=dt.datetime(2079, 12, 31, 23, 59, 59), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))


@st.composite
def fixes(draw: st.DrawFn) -> Fix:
    """Fixes a receiver could report (>= 3 satellites: fewer is no fix)."""
    return Fix(
        time=draw(times),
        lat=draw(st.floats(-89.999, 89.999, allow_nan=False)),
        lon=draw(st.floats(-179.999, 179.999, allow_nan=False)),
        alt=draw(st.none() | st.floats(-400.0, 9000.0).map(lambda a: round(a, 1))),
        speed=draw(st.none() | st.floats(0.0, 90.0).map(lambda v: round(v, 2))),
        track=draw(st.none() | st.floats(0.0, 359.99).map(lambda v: round(v, 2))),
        mode=draw(st.sampled_from([2, 3])),
        hdop=draw(st.none() | st.floats(0.5, 50.0).map(lambda v: round(v, 2))),
        sats=draw(st.none() | st.integers(3, 40)),
    )
