"""Which OpenStreetMap ways a car may drive, in which direction, and how fast. Pure.

Tags are read as the OSM wiki's "Key:highway", "Key:oneway" and "Key:access"
pages define them. The speeds per road class are those of OSRM's car profile
(``profiles/car.lua``, ``speeds.highway``, km/h), a free-flow starting point that
the fleet's own history then corrects (:mod:`collector.roads.learn`). A
``maxspeed`` tag lowers a class's speed to 80 % of the limit (OSRM's
``speed_reduction``) where that is slower; it never raises it.

Junctions cost time the speeds do not show. Without a turn-expanded graph the
cost is charged on arriving at a junction node, by what the node is:
traffic signals (``highway=traffic_signals``); a give-way, where a road meets
one of a higher class at that node; any other junction of three or more road
pieces. Turn angles are not modelled.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_SPEEDS_KMH",
    "RoadProfile",
    "class_index",
    "directions",
    "maxspeed_kmh",
]

# Road classes, most important first; a link road ranks with its road.
CLASS_NAMES: Final = (
    "motorway",
    "trunk",
    "primary",
    "secondary",
    "tertiary",
    "unclassified",
    "residential",
    "living_street",
    "service",
)
_RANK: Final = {name: i for i, name in enumerate(CLASS_NAMES)}
_LINKS: Final = {f"{name}_link": name for name in ("motorway", "trunk", "primary", "secondary", "tertiary")}

# OSRM car profile, km/h (links are slower than their road).
DEFAULT_SPEEDS_KMH: Final = MappingProxyType(
    {
        "motorway": 90.0,
        "motorway_link": 45.0,
        "trunk": 85.0,
        "trunk_link": 40.0,
        "primary": 65.0,
        "primary_link": 30.0,
        "secondary": 55.0,
        "secondary_link": 25.0,
        "tertiary": 40.0,
        "tertiary_link": 20.0,
        "unclassified": 25.0,
        "residential": 25.0,
        "living_street": 10.0,
        "service": 15.0,
    }
)

_NO_ACCESS: Final = frozenset({"no", "private", "agricultural", "forestry", "delivery", "customers", "emergency"})
_YES_ACCESS: Final = frozenset({"yes", "permissive", "designated", "destination"})
_NO_SERVICE: Final = frozenset({"parking_aisle", "driveway", "drive-through", "emergency_access"})
_MPH: Final = 1.609344
_NUMBER: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$")


def class_index(highway: str | None) -> int | None:
    """The rank of a ``highway=*`` value among :data:`CLASS_NAMES`, or None if not drivable."""
    if highway is None:
        return None
    return _RANK.get(_LINKS.get(highway, highway))


def maxspeed_kmh(value: str | None) -> float | None:
    """``maxspeed=50``, ``30 mph``, ``50 km/h`` -> km/h; None for anything else
    (``signals``, ``GB:nsl_single``, ``none``...), which leaves the class's speed."""
    if not value:
        return None
    found = _NUMBER.match(value.split(";")[0])
    if found is None:
        return None
    number = float(found.group(1))
    if number <= 0:
        return None
    return number * _MPH if found.group(2) == "mph" else number


def _restricted(tags: Mapping[str, str]) -> bool:
    """Closed to cars by ``access`` and not reopened by a more specific key."""
    for key in ("motorcar", "motor_vehicle", "vehicle"):
        value = tags.get(key)
        if value in _YES_ACCESS:
            return False
        if value in _NO_ACCESS:
            return True
    return tags.get("access") in _NO_ACCESS


def directions(tags: Mapping[str, str]) -> tuple[bool, bool]:
    """(forward, backward): whether a car may drive the way in its node order,
    and against it. A motorway or a roundabout is one-way unless tagged otherwise."""
    oneway = tags.get("oneway")
    if oneway in ("-1", "reverse"):
        return False, True
    if oneway in ("yes", "true", "1"):
        return True, False
    if oneway == "no":
        return True, True
    implied = tags.get("junction") in ("roundabout", "circular") or tags.get("highway") in ("motorway",)
    return True, not implied


@dataclass(frozen=True, slots=True)
class RoadProfile:
    """How fast each road class is driven, and what junctions cost."""

    speeds_kmh: Mapping[str, float] = field(default_factory=lambda: DEFAULT_SPEEDS_KMH)
    maxspeed_factor: float = 0.8  # of a tagged limit, when that is below the class's speed
    signals_s: float = 8.0  # arriving at traffic signals
    give_way_s: float = 5.0  # arriving from a lower-class road where it meets a higher one
    junction_s: float = 2.0  # any other junction of three or more road pieces
    access_mps: float = 5.0  # off the road (a yard, a car park) to the nearest road
    max_snap_m: float = 500.0  # farther than this from every road: not routable

    def __post_init__(self) -> None:
        for name in (*CLASS_NAMES, *_LINKS):
            speed = self.speeds_kmh.get(name)
            if speed is None or not (math.isfinite(speed) and speed > 0):
                raise ValueError(f"road profile: a positive speed for highway={name} is needed, got {speed!r}")
        numbers = (self.signals_s, self.give_way_s, self.junction_s)
        if not all(math.isfinite(x) and x >= 0 for x in numbers):
            raise ValueError("road profile: junction costs must be finite and >= 0")
        if not (0 < self.maxspeed_factor <= 1.5 and self.access_mps > 0 and self.max_snap_m > 0):
            raise ValueError("road profile: maxspeed_factor, access_mps and max_snap_m must be positive")

    def way(self, tags: Mapping[str, str]) -> tuple[int, float, bool, bool] | None:
        """(class rank, speed m/s, forward, backward) of a way a car may drive, else None."""
        highway = tags.get("highway")
        rank = class_index(highway)
        if rank is None or highway is None or tags.get("area") == "yes" or _restricted(tags):
            return None
        if highway == "service" and tags.get("service") in _NO_SERVICE:
            return None
        speed = self.speeds_kmh[highway]
        limit = maxspeed_kmh(tags.get("maxspeed"))
        if limit is not None:
            speed = min(speed, self.maxspeed_factor * limit)
        forward, backward = directions(tags)
        return rank, speed / 3.6, forward, backward
