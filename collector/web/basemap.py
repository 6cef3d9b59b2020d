"""The public map's background, drawn from the force's OpenStreetMap extract: no tile server.

The extract (``[eta] osm``, an ``.osm.pbf``) is read once with pyosmium into
roads by class and place names; roads are simplified (Douglas-Peucker, a few
metres: below what a screen shows at street zoom) and written compactly as
integer deltas of 1e-5 degrees (about a metre), which the page turns back
into Leaflet polylines::

    {"v": 1, "attribution": "© OpenStreetMap contributors",
     "bounds": [south, west, north, east],
     "roads": {"major": [[lon0, lat0, dlon1, dlat1, ...], ...], "minor": [...], ...},
     "places": [["Chesterfield", "town", lat, lon], ...]}

Chesterfield's extract (98,000 nodes) becomes about 100 KB (40 KB gzipped).
The result is cached beside the public state under the extract's hash, so a
restart does not read the extract again. The layer is a database derived from
OpenStreetMap: it is offered under the ODbL like the extract
(``data/osm/README.md``), and the map says "© OpenStreetMap contributors".

``simplify`` and ``encode`` are pure; ``read_extract`` and ``basemap_bytes`` are the shell.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from common.errors import ActiveCallsError

__all__ = [
    "ATTRIBUTION",
    "BasemapError",
    "Extract",
    "Place",
    "Road",
    "basemap_bytes",
    "encode",
    "nearest_place",
    "read_extract",
    "simplify",
]

log = logging.getLogger(__name__)

ATTRIBUTION: Final = "© OpenStreetMap contributors"
LAYER_VERSION: Final = 1  # of the encoding and the choice of roads: part of the cache key
SCALE: Final = 100_000  # 1e-5 degree units
# OSM highway -> the page's road class; links are drawn as their road.
ROAD_CLASSES: Final = {
    "motorway": "motorway",
    "motorway_link": "motorway",
    "trunk": "trunk",
    "trunk_link": "trunk",
    "primary": "primary",
    "primary_link": "primary",
    "secondary": "secondary",
    "secondary_link": "secondary",
    "tertiary": "tertiary",
    "tertiary_link": "tertiary",
    "residential": "minor",
    "unclassified": "minor",
    "living_street": "minor",
    "road": "minor",
    "pedestrian": "pedestrian",
}
# Metres a simplified road may stray from the real one.
TOLERANCE_M: Final = {"minor": 4.0, "pedestrian": 4.0}
DEFAULT_TOLERANCE_M: Final = 3.0
# Settlements and their parts; "locality" (a field name, a wood) is not a place people live.
PLACE_KINDS: Final = ("city", "town", "suburb", "village", "quarter", "neighbourhood", "hamlet")


class BasemapError(ActiveCallsError):
    """The OpenStreetMap extract cannot be read."""


@dataclass(frozen=True, slots=True)
class Road:
    kind: str
    points: tuple[tuple[float, float], ...]  # (lon, lat)


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    kind: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Extract:
    roads: tuple[Road, ...]
    places: tuple[Place, ...]


def _perpendicular_m(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float], kx: float) -> float:
    # Local equirectangular metres: exact enough over one road's length.
    ky = 111_320.0
    px, py = (p[0] - a[0]) * kx, (p[1] - a[1]) * ky
    bx, by = (b[0] - a[0]) * kx, (b[1] - a[1]) * ky
    length2 = bx * bx + by * by
    if length2 == 0:
        return math.hypot(px, py)
    t = max(0.0, min(1.0, (px * bx + py * by) / length2))
    return math.hypot(px - t * bx, py - t * by)


def simplify(points: Sequence[tuple[float, float]], tolerance_m: float) -> list[tuple[float, float]]:
    """Douglas-Peucker on (lon, lat) points: the ends kept, no point of the
    original farther than ``tolerance_m`` from the result."""
    if len(points) <= 2:
        return list(points)
    kx = 111_320.0 * math.cos(math.radians(points[0][1]))
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            d = _perpendicular_m(points[i], points[first], points[last], kx)
            if d > worst:
                worst, index = d, i
        if index >= 0 and worst > tolerance_m:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, kept in zip(points, keep) if kept]


def _deltas(points: Sequence[tuple[float, float]]) -> list[int]:
    out: list[int] = []
    previous = (0, 0)
    for lon, lat in points:
        x, y = round(lon * SCALE), round(lat * SCALE)
        if out and (x, y) == previous:
            continue
        out += [x - previous[0], y - previous[1]]
        previous = (x, y)
    return out


def encode(extract: Extract) -> dict[str, Any]:
    """The layer document (see the module's docstring)."""
    roads: dict[str, list[list[int]]] = {}
    lons, lats = [], []
    for road in extract.roads:
        simple = simplify(road.points, TOLERANCE_M.get(road.kind, DEFAULT_TOLERANCE_M))
        encoded = _deltas(simple)
        if len(encoded) >= 4:
            roads.setdefault(road.kind, []).append(encoded)
            lons += [p[0] for p in simple]
            lats += [p[1] for p in simple]
    bounds = [min(lats), min(lons), max(lats), max(lons)] if lats else None
    places = [[p.name, p.kind, round(p.lat, 5), round(p.lon, 5)] for p in sorted(extract.places, key=lambda p: p.name)]
    return {"v": LAYER_VERSION, "attribution": ATTRIBUTION, "bounds": bounds, "roads": roads, "places": places}


def nearest_place(places: Sequence[Place], lat: float, lon: float) -> Place | None:
    """The place whose point is nearest (lat, lon): the named district a grid cell is counted in."""
    if not places:
        return None
    kx = math.cos(math.radians(lat))
    return min(places, key=lambda p: ((p.lon - lon) * kx) ** 2 + (p.lat - lat) ** 2)


def read_extract(path: Path) -> Extract:
    """Roads (by class) and places of an ``.osm.pbf``; BasemapError when unreadable."""
    import osmium  # only the site needs it, and only once

    roads: list[Road] = []
    places: list[Place] = []
    try:
        processor = (
            osmium.FileProcessor(str(path)).with_locations().with_filter(osmium.filter.KeyFilter("highway", "place"))
        )
        for obj in processor:
            if isinstance(obj, osmium.osm.Way):
                kind = ROAD_CLASSES.get(obj.tags.get("highway") or "")
                points = tuple((n.lon, n.lat) for n in obj.nodes if n.location.valid())
                if kind is not None and len(points) >= 2:
                    roads.append(Road(kind, points))
            elif isinstance(obj, osmium.osm.Node):
                name, kind = obj.tags.get("name"), obj.tags.get("place")
                if name and kind in PLACE_KINDS:
                    places.append(Place(name, kind, obj.location.lat, obj.location.lon))
    except (RuntimeError, OSError) as exc:
        raise BasemapError(f"{path}: cannot read the OpenStreetMap extract: {exc}") from None
    return Extract(tuple(roads), tuple(places))


def places_of(layer: dict[str, Any]) -> list[Place]:
    """The places of an encoded layer document."""
    return [Place(name, kind, lat, lon) for name, kind, lat, lon in layer.get("places", ())]


def basemap_bytes(osm: Path, cache_dir: Path) -> bytes:
    """The layer document's bytes for ``osm``, from the cache when the extract is unchanged."""
    try:
        digest = hashlib.sha256(osm.read_bytes()).hexdigest()[:16]
    except OSError as exc:
        raise BasemapError(f"{osm}: cannot read the OpenStreetMap extract: {exc.strerror or exc}") from None
    cached = cache_dir / f"basemap-{digest}-v{LAYER_VERSION}.json"
    try:
        return cached.read_bytes()
    except OSError:
        pass
    data = json.dumps(encode(read_extract(osm)), separators=(",", ":"), ensure_ascii=False).encode()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(cached)
    except OSError as exc:  # a read-only state directory only costs the next start a second
        log.warning("basemap: cannot cache %s: %s", cached, exc.strerror or exc)
    return data
