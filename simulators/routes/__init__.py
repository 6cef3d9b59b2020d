"""Routes for ``drive``: the built-in Chesterfield patrol routes, GeoJSON and GPX files.

A route is a polyline of (lat, lon) points, optionally with altitudes, the
indices of the vertices where a vehicle may have to stop (traffic lights,
roundabouts, junctions), and optionally the speed of the road each segment is
on. The built-in routes are GeoJSON files beside this module, fastest paths
over the OpenStreetMap extract's roads; ``README.md`` here says how they were
made.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from common.errors import ActiveCallsError

__all__ = ["Route", "RouteError", "builtin_names", "load_route", "parse_geojson", "parse_gpx"]


class RouteError(ActiveCallsError, ValueError):
    """A route file that cannot be read or has no usable line."""


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    points: tuple[tuple[float, float], ...]  # (lat, lon)
    altitudes: tuple[float, ...] | None = None  # metres, one per point, when the file has them
    stops: tuple[int, ...] = ()  # vertex indices where a stop is possible
    description: str = ""
    speeds: tuple[float, ...] | None = None  # m/s, one per segment (points[i] -> points[i + 1]): the road's speed

    def __post_init__(self) -> None:
        if len(self.points) < 2:
            raise RouteError(f"route {self.name!r} has {len(self.points)} point(s); at least 2 are needed")
        for lat, lon in self.points:
            if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
                raise RouteError(f"route {self.name!r} has a point out of range: {lat}, {lon}")
        if self.altitudes is not None and len(self.altitudes) != len(self.points):
            raise RouteError(f"route {self.name!r} has altitudes for some points only")
        if any(not 0 <= i < len(self.points) for i in self.stops):
            raise RouteError(f"route {self.name!r} names a stop beyond its last vertex")
        if self.speeds is not None and (
            len(self.speeds) != len(self.points) - 1 or not all(math.isfinite(v) and v > 0 for v in self.speeds)
        ):
            raise RouteError(f"route {self.name!r} needs one positive speed per segment")


def builtin_names() -> list[str]:
    files = resources.files(__package__)
    return sorted(p.name.removesuffix(".geojson") for p in files.iterdir() if p.name.endswith(".geojson"))


def load_route(spec: str) -> Route:
    """A built-in route by name, or a ``.geojson``/``.json``/``.gpx`` file by path."""
    if spec in builtin_names():
        text = resources.files(__package__).joinpath(spec + ".geojson").read_text("utf-8")
        return parse_geojson(text, name=spec)
    path = Path(spec)
    if not path.exists():
        known = ", ".join(builtin_names())
        raise RouteError(f"no route file {spec!r} and no built-in route of that name (built-in: {known})")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RouteError(f"cannot read {spec}: {exc}") from None
    if path.suffix.lower() == ".gpx" or text.lstrip().startswith("<"):
        return parse_gpx(text, name=path.stem)
    return parse_geojson(text, name=path.stem)


def parse_geojson(text: str, *, name: str) -> Route:
    """The first LineString (or MultiLineString, joined) of a GeoJSON document."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise RouteError(f"{name}: not JSON: {exc}") from None
    feature = _first_line_feature(doc)
    if feature is None:
        raise RouteError(f"{name}: no LineString or MultiLineString in the GeoJSON")
    geometry, props = feature
    if geometry["type"] == "LineString":
        coords = geometry.get("coordinates", [])
    else:
        coords = [c for line in geometry.get("coordinates", []) for c in line]
    try:
        points = tuple((float(c[1]), float(c[0])) for c in coords)
        alts = tuple(float(c[2]) for c in coords) if coords and all(len(c) >= 3 for c in coords) else None
        stops = tuple(int(i) for i in props.get("stops", []))
        speeds = tuple(float(v) for v in props["speeds_mps"]) if "speeds_mps" in props else None
    except (TypeError, ValueError, IndexError) as exc:
        raise RouteError(f"{name}: bad coordinates: {exc}") from None
    return Route(str(props.get("name", name)), points, alts, stops, str(props.get("description", "")), speeds)


def _first_line_feature(doc: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    if not isinstance(doc, dict):
        return None
    kind = doc.get("type")
    if kind in ("LineString", "MultiLineString"):
        return doc, {}
    if kind == "Feature" and isinstance(doc.get("geometry"), dict):
        found = _first_line_feature(doc["geometry"])
        props = doc.get("properties") or {}
        return None if found is None else (found[0], props if isinstance(props, dict) else {})
    if kind == "FeatureCollection":
        for feature in doc.get("features") or []:
            found = _first_line_feature(feature)
            if found is not None:
                return found
    return None


def parse_gpx(text: str, *, name: str) -> Route:
    """Track points (``trkpt``) of a GPX file, else its route points (``rtept``)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise RouteError(f"{name}: not GPX/XML: {exc}") from None
    points: list[tuple[float, float]] = []
    alts: list[float | None] = []
    for tag in ("trkpt", "rtept"):
        for element in root.iter():
            if element.tag.rsplit("}", 1)[-1] != tag:
                continue
            try:
                points.append((float(element.attrib["lat"]), float(element.attrib["lon"])))
            except (KeyError, ValueError):
                raise RouteError(f"{name}: a {tag} without a numeric lat/lon") from None
            ele = next((c.text for c in element if c.tag.rsplit("}", 1)[-1] == "ele"), None)
            try:
                alts.append(None if ele is None else float(ele))
            except ValueError:
                alts.append(None)
        if points:
            break
    altitudes = tuple(a for a in alts if a is not None)
    return Route(name, tuple(points), altitudes if len(altitudes) == len(points) else None)
