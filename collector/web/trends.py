"""Trends for the public site: pure aggregation of the public history.

    trends(calls, start, end, tz, places) -> dict   (the ``trends.json`` document)

Input is only :class:`~collector.public.history.PublishedCall` rows (what the
feed published); days and hours are in the site's time zone (``[web]
timezone``), because "Saturday evening" means the residents' evening. Four
views, each per public category so the page can filter:

- ``daily``: calls opened per day, every day of [start, end] (zeros included);
- ``hour_of_week``: calls opened in each of the 168 hours of the week
  (Monday 00:00-00:59 first), summed over the range; ``weeks`` says over how
  many weeks, for averages;
- ``areas``: calls per named district (the OpenStreetMap place nearest the
  call's published cell centre) or, without places, per cell centre;
- ``response``: per week (Monday to Sunday) and priority, how many calls and
  how many with a response time known to the minute, and the median and 90th
  percentile of those times, in minutes. A percentile of a handful of calls
  says nothing: the median needs :data:`MIN_FOR_MEDIAN` times, the 90th
  percentile :data:`MIN_FOR_P90`, else it is null.

Percentiles interpolate linearly between ranks (numpy's default, a
spreadsheet's PERCENTILE.INC), so a researcher can recompute them from the
open data.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final
from zoneinfo import ZoneInfo

from collector.public.history import PublishedCall
from collector.public.policy import CALL_PRIORITIES
from collector.web.basemap import Place, nearest_place

__all__ = ["MAX_AREAS", "MIN_FOR_MEDIAN", "MIN_FOR_P90", "TRENDS_VERSION", "percentile", "trends"]

TRENDS_VERSION: Final = 1
MIN_FOR_MEDIAN: Final = 5
MIN_FOR_P90: Final = 10
MAX_AREAS: Final = 40  # the busiest; the rest are summed as "elsewhere"
ELSEWHERE: Final = "elsewhere"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of non-empty ``values``, interpolating between ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _area(call: PublishedCall, places: Sequence[Place]) -> str:
    place = nearest_place(places, call.lat, call.lon)
    return place.name if place is not None else f"{call.lat:.4f}, {call.lon:.4f}"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def trends(
    calls: Iterable[PublishedCall], start: dt.date, end: dt.date, tz: ZoneInfo, places: Sequence[Place] = ()
) -> dict[str, Any]:
    """The trends document for calls opened on local days ``start`` to ``end`` (inclusive).

    Calls opened outside the range are ignored, so the caller may pass a
    slightly wider selection (a UTC query around local midnights).
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    days = (end - start).days + 1
    daily: dict[str, list[int]] = {}
    hours: dict[str, list[int]] = {}
    areas: dict[str, Counter[str]] = {}
    first_monday = start - dt.timedelta(days=start.weekday())
    weeks = (end - first_monday).days // 7 + 1
    response: dict[str, list[list[int]]] = {p: [[] for _ in range(weeks)] for p in CALL_PRIORITIES}
    totals: dict[str, list[int]] = {p: [0] * weeks for p in CALL_PRIORITIES}
    categories: Counter[str] = Counter()
    area_of: dict[tuple[float, float], str] = {}  # calls share a few hundred cell centres
    for call in calls:
        local = call.opened.astimezone(tz)
        day = local.date()
        if not start <= day <= end:
            continue
        category = call.category
        categories[category] += 1
        daily.setdefault(category, [0] * days)[(day - start).days] += 1
        hours.setdefault(category, [0] * 168)[local.weekday() * 24 + local.hour] += 1
        cell = (call.lat, call.lon)
        if (area := area_of.get(cell)) is None:
            area = area_of[cell] = _area(call, places)
        areas.setdefault(area, Counter())[category] += 1
        week = (day - first_monday).days // 7
        if call.priority in totals:
            totals[call.priority][week] += 1
            if (minutes := call.response_min) is not None:
                response[call.priority][week].append(minutes)

    order = [c for c, _ in sorted(categories.items(), key=lambda item: (-item[1], item[0]))]
    by_total = sorted(areas.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    shown, rest = by_total[:MAX_AREAS], by_total[MAX_AREAS:]
    if rest:
        shown.append((ELSEWHERE, sum((c for _, c in rest), Counter())))
    area_names = [name for name, _ in shown]

    def stat(values: list[int], q: float, minimum: int) -> float | None:
        return _rounded(percentile(values, q)) if len(values) >= minimum else None

    return {
        "v": TRENDS_VERSION,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "timezone": str(tz),
        "calls": sum(categories.values()),
        "categories": order,
        "daily": {
            "days": [(start + dt.timedelta(days=i)).isoformat() for i in range(days)],
            "counts": {c: daily[c] for c in order},
        },
        "hour_of_week": {"weeks": round(days / 7, 2), "counts": {c: hours[c] for c in order}},
        "areas": {
            "by": "place" if places else "cell",
            "names": area_names,
            "counts": {c: [counter[c] for _, counter in shown] for c in order},
        },
        "response": {
            "weeks": [(first_monday + dt.timedelta(weeks=w)).isoformat() for w in range(weeks)],
            "min_for_median": MIN_FOR_MEDIAN,
            "min_for_p90": MIN_FOR_P90,
            "by_priority": {
                p: {
                    "calls": totals[p],
                    "timed": [len(v) for v in response[p]],
                    "median": [stat(v, 50, MIN_FOR_MEDIAN) for v in response[p]],
                    "p90": [stat(v, 90, MIN_FOR_P90) for v in response[p]],
                }
                for p in CALL_PRIORITIES
            },
        },
    }
