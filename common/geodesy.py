"""Distances and small offsets on the Earth as a sphere: the one copy the agent's
report policy and the simulators share (the collector's ETAs use pyproj)."""

from __future__ import annotations

import math
from typing import Final

__all__ = ["EARTH_RADIUS_M", "distance_m", "offset"]

EARTH_RADIUS_M: Final = 6_371_008.8  # IUGG mean radius


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine: exact enough at any range)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    """The point ``east_m``/``north_m`` metres from (lat, lon) (small offsets;
    the cosine is floored so a point near a pole stays finite)."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * max(0.01, math.cos(math.radians(lat)))))
    return lat + dlat, lon + dlon
