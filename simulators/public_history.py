"""A generated public history: a year (or any span) of published calls around Chesterfield.

For the public site's benchmark (how long a year of trends and open data takes
to serve), the demo (whose trends would otherwise be a minute old) and tests.
Rows are what the feed would have recorded: calls at the centres of 500 m
cells of the British National Grid, the public categories and priorities, a
busier Friday and Saturday evening, response times that grow with the
priority, some arrivals not seen to the minute and some calls never attended.
Deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from typing import Final

from collector.public.grid import grid_for
from collector.public.history import PublishedCall
from collector.public.pseudonym import call_token

__all__ = ["CENTRE", "generate_history"]

CENTRE: Final = (53.2352, -1.4264)  # Chesterfield
_CATEGORIES: Final = (
    ("anti_social_behaviour", 18), ("theft", 16), ("traffic", 13), ("violence", 11), ("suspicious", 9),
    ("public_order", 8), ("criminal_damage", 7), ("burglary", 6), ("alarm", 5), ("assistance", 4),
    ("other", 2), ("robbery", 1),
)  # fmt: skip
# Relative call rate by local hour (quiet at 5 am, busy in the evening).
_HOURLY: Final = (4, 3, 2, 1.5, 1, 1, 1.5, 3, 5, 6, 6, 6.5, 7, 7, 7, 7.5, 8, 8.5, 9, 9, 8.5, 8, 7, 5.5)
_SECRET: Final = b"generated-history-not-a-secret-0123456789"


def _rate(t: dt.datetime) -> float:
    weekend_night = (t.weekday() in (4, 5) and t.hour >= 19) or (t.weekday() in (5, 6) and t.hour < 3)
    return _HOURLY[t.hour] * (1.8 if weekend_night else 1.0)


def generate_history(
    start: dt.date, days: int, calls_per_day: float, *, seed: int = 1, cell_m: float = 500.0
) -> Iterator[PublishedCall]:
    """Rows for calls opened from ``start`` (UTC) for ``days`` days, oldest first."""
    rng = random.Random(seed)
    grid = grid_for(27700, cell_m)
    origin = grid.project(*CENTRE)
    assert origin is not None
    categories = [c for c, _ in _CATEGORIES]
    weights = [w for _, w in _CATEGORIES]
    mean_rate = sum(_HOURLY) / 24
    serial = 0
    for day in range(days):
        midnight = dt.datetime.combine(start + dt.timedelta(days=day), dt.time(), dt.UTC)
        for hour in range(24):
            t = midnight + dt.timedelta(hours=hour)
            expected = calls_per_day / 24 * _rate(t) / mean_rate
            for _ in range(_poisson(rng, expected)):
                serial += 1
                opened = t + dt.timedelta(minutes=rng.randrange(60))
                # Around the town centre, thinning out with distance (2.5 km scale).
                distance, angle = rng.expovariate(1 / 2500), rng.uniform(0, 2 * math.pi)
                x, y = origin[0] + distance * math.cos(angle), origin[1] + distance * math.sin(angle)
                lat, lon = grid.centre(grid.cell_at(x, y))
                priority = rng.choices(("emergency", "priority", "routine"), (2, 5, 3))[0]
                typical = {"emergency": 9, "priority": 35, "routine": 150}[priority]
                attended = rng.random() < (0.98 if priority != "routine" else 0.7)
                response = max(1, round(rng.lognormvariate(math.log(typical), 0.5))) if attended else None
                seen = attended and rng.random() < 0.95  # some arrivals fall in a gap of the feed
                attending = opened + dt.timedelta(minutes=response) if response is not None and seen else None
                on_scene = rng.randrange(15, 120)
                closed = opened + dt.timedelta(minutes=(response or 20) + on_scene)
                yield PublishedCall(
                    call_token(_SECRET, f"GEN-{seed}-{serial}"),
                    opened,
                    rng.choices(categories, weights)[0],
                    priority,
                    lat,
                    lon,
                    attending,
                    closed,
                )


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: the means here are small (a few calls an hour).
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
