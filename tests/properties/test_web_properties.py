"""The public site's pure parts: trends aggregation, open-data rows and ranges, the map layer's simplification."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import math
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.public.history import PublishedCall
from collector.web.basemap import Extract, Place, Road, encode, nearest_place, simplify
from collector.web.opendata import FIELDS, MAX_DAYS, OpenDataError, csv_chunks, date_range, geojson_chunks
from collector.web.trends import MIN_FOR_MEDIAN, MIN_FOR_P90, percentile, trends

LONDON = ZoneInfo("Europe/London")
START = dt.date(2026, 3, 20)  # spans the change to summer time (29 March)
PLACES = (Place("Chesterfield", "town", 53.2352, -1.4264), Place("Brampton", "suburb", 53.2320, -1.4586))


@st.composite
def published_calls(draw: st.DrawFn) -> PublishedCall:
    opened = dt.datetime.combine(START, dt.time(), dt.UTC) + dt.timedelta(minutes=draw(st.integers(-1500, 30 * 1440)))
    response = draw(st.none() | st.integers(0, 600))
    return PublishedCall(
        call=draw(st.text("abcdefghijklmnopqrstuvwxyz234567", min_size=8, max_size=8)),
        opened=opened,
        category=draw(st.sampled_from(["theft", "burglary", "traffic"])),
        priority=draw(st.sampled_from(["emergency", "priority", "routine"])),
        lat=draw(st.floats(53.20, 53.27)),
        lon=draw(st.floats(-1.50, -1.38)),
        attending=None if response is None else opened + dt.timedelta(minutes=response),
    )


@settings(max_examples=150, deadline=None)
@given(calls=st.lists(published_calls(), max_size=80), days=st.integers(1, 21))
def test_every_call_in_range_is_counted_once_in_each_view(calls: list[PublishedCall], days: int) -> None:
    end = START + dt.timedelta(days=days - 1)
    doc = trends(calls, START, end, LONDON, PLACES)
    inside = [c for c in calls if START <= c.opened.astimezone(LONDON).date() <= end]
    assert doc["calls"] == len(inside)
    assert sum(map(sum, doc["daily"]["counts"].values())) == len(inside)
    assert sum(map(sum, doc["hour_of_week"]["counts"].values())) == len(inside)
    assert sum(map(sum, doc["areas"]["counts"].values())) == len(inside)
    assert len(doc["daily"]["days"]) == days
    assert set(doc["areas"]["names"]) <= {"Chesterfield", "Brampton"}
    for priority, weekly in doc["response"]["by_priority"].items():
        assert sum(weekly["calls"]) == sum(1 for c in inside if c.priority == priority)
        for n, median, p90 in zip(weekly["timed"], weekly["median"], weekly["p90"]):
            assert (median is None) == (n < MIN_FOR_MEDIAN) and (p90 is None) == (n < MIN_FOR_P90)
            if median is not None and p90 is not None:
                assert median <= p90
    json.dumps(doc, allow_nan=False)  # the document is plain JSON


@given(values=st.lists(st.integers(0, 10_000), min_size=1, max_size=60), q=st.sampled_from([0, 10, 50, 90, 100]))
def test_percentiles_are_numpys_linear_ones(values: list[int], q: int) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_a_week_with_enough_timed_calls_has_its_median_and_p90() -> None:
    monday = dt.datetime(2026, 3, 30, 9, 0, tzinfo=dt.UTC)  # the first Monday of summer time
    calls = [PublishedCall(f"call{n:04d}", monday, "theft", "emergency", 53.23, -1.42, monday + dt.timedelta(minutes=n))
             for n in range(1, 11)]  # fmt: skip
    doc = trends(calls, START, START + dt.timedelta(days=13), LONDON)
    week = doc["response"]["weeks"].index("2026-03-30")
    emergency = doc["response"]["by_priority"]["emergency"]
    assert (emergency["timed"][week], emergency["median"][week], emergency["p90"][week]) == (10, 5.5, 9.1)
    assert doc["areas"]["by"] == "cell" and doc["areas"]["names"] == ["53.2300, -1.4200"]
    # Hour of the week in local time: 09:00 UTC on a Monday of summer time is 10:00 in London.
    assert doc["hour_of_week"]["counts"]["theft"][10] == 10


@given(calls=st.lists(published_calls(), max_size=30))
def test_csv_and_geojson_carry_the_same_rows_with_the_dictionarys_columns(calls: list[PublishedCall]) -> None:
    rows = list(csv.DictReader(io.StringIO(b"".join(csv_chunks(calls, per_chunk=7)).decode())))
    features = json.loads(b"".join(geojson_chunks(calls, per_chunk=7)))["features"]
    assert len(rows) == len(features) == len(calls)
    for row, feature, call in zip(rows, features, calls):
        assert list(row) == [f.name for f in FIELDS]
        assert row["call"] == feature["properties"]["call"] == call.call
        assert float(row["lat"]) == feature["geometry"]["coordinates"][1] == call.lat
        assert row["response_min"] == ("" if call.response_min is None else str(call.response_min))
        assert "seen_open" not in row and "seen_open" not in feature["properties"]


@given(
    start=st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)),
    end=st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)),
)
def test_a_range_is_answered_or_refused_with_a_reason(start: dt.date, end: dt.date) -> None:
    today = dt.date(2026, 12, 5)
    try:
        span = date_range({"from": start.isoformat(), "to": end.isoformat()}, today, LONDON, 31)
    except OpenDataError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert start > end or (end - start).days >= MAX_DAYS or end > today + dt.timedelta(days=1) or start.year < 2000
        return
    assert (span.start, span.end) == (start, end)
    assert span.utc_before - span.utc_from >= dt.timedelta(days=(end - start).days + 1) - dt.timedelta(hours=1)


@pytest.mark.parametrize(
    "query", [{"from": "yesterday"}, {"to": "2026-02-30"}, {"from": "2026-1-1"}, {"to": "9999-01-01"}]
)
def test_bad_dates_are_one_line_errors(query: dict[str, str]) -> None:
    with pytest.raises(OpenDataError):
        date_range(query, dt.date(2026, 12, 5), LONDON, 31)


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    kx = 111_320.0 * math.cos(math.radians(a[1]))
    return math.hypot((a[0] - b[0]) * kx, (a[1] - b[1]) * 111_320.0)


def _to_segment(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    best = min(_metres(p, a), _metres(p, b))
    for k in range(1, 200):  # sampled: a check independent of the implementation's formula
        t = k / 200
        best = min(best, _metres(p, (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))))
    return best


@settings(max_examples=80, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(-2e-4, 2e-4), st.floats(-2e-4, 2e-4)), min_size=2, max_size=40),
    tolerance=st.sampled_from([2.0, 4.0, 10.0]),
)
def test_simplified_roads_stay_within_the_tolerance(steps: list[tuple[float, float]], tolerance: float) -> None:
    points = [(-1.42, 53.23)]
    for dx, dy in steps:
        points.append((points[-1][0] + dx, points[-1][1] + dy))
    simple = simplify(points, tolerance)
    assert simple[0] == points[0] and simple[-1] == points[-1] and set(simple) <= set(points)
    for p in points:
        assert min(_to_segment(p, a, b) for a, b in itertools.pairwise(simple)) <= tolerance + 0.5


def test_the_layer_round_trips_to_within_a_metre_and_names_the_nearest_place() -> None:
    road = Road("minor", ((-1.4264, 53.2352), (-1.4200, 53.2400)))
    layer = encode(Extract((road,), PLACES))
    (deltas,) = layer["roads"]["minor"]
    x, y = deltas[0] + deltas[2], deltas[1] + deltas[3]
    assert _metres((x / 1e5, y / 1e5), road.points[1]) < 1.0
    assert layer["attribution"] == "© OpenStreetMap contributors"
    assert nearest_place(PLACES, 53.2330, -1.4550) == PLACES[1]
