"""Read an OpenStreetMap extract (``.osm.pbf``, ``.osm``, ``.osm.bz2``...) with pyosmium.

The thin shell around :func:`collector.roads.graph.build_graph`: one pass over
the file with a node-location index, keeping the ways whose ``highway`` value
is a road class a car may use and the nodes tagged as traffic signals; the
rest of the file (buildings, footpaths, relations) is filtered out in C++
before Python sees it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import osmium

from collector.roads.graph import OsmWay, RoadGraph, RoadGraphError, build_graph
from collector.roads.profile import DEFAULT_SPEEDS_KMH, RoadProfile

__all__ = ["OsmRoads", "load_graph", "read_osm"]


@dataclass(frozen=True, slots=True)
class OsmRoads:
    ways: list[OsmWay]
    signals: frozenset[int]


def read_osm(path: Path) -> OsmRoads:
    """The road ways (with node positions) and traffic-signal nodes of an extract.
    Raises RoadGraphError (one line) if the file cannot be read."""
    if not path.is_file():
        raise RoadGraphError(f"{path}: no such OpenStreetMap file")
    wanted = [("highway", value) for value in DEFAULT_SPEEDS_KMH]
    ways: list[OsmWay] = []
    signals: set[int] = set()
    try:
        processor = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.TagFilter(*wanted, ("highway", "traffic_signals")))
        )
        for obj in processor:
            if isinstance(obj, osmium.osm.Way):
                refs = obj.nodes
                try:
                    lat = [r.lat for r in refs]
                    lon = [r.lon for r in refs]
                except osmium.InvalidLocationError:
                    continue  # a way running off the extract's edge
                ways.append(OsmWay(obj.id, [r.ref for r in refs], lat, lon, dict(obj.tags)))
            elif isinstance(obj, osmium.osm.Node):
                signals.add(obj.id)
    except (RuntimeError, OSError, ValueError) as exc:  # libosmium reports corrupt input as RuntimeError
        raise RoadGraphError(f"{path}: cannot read as OpenStreetMap data: {exc}") from None
    return OsmRoads(ways, frozenset(signals))


def load_graph(path: Path, profile: RoadProfile | None = None) -> tuple[RoadGraph, float]:
    """Read ``path`` and build its drivable graph; also the seconds it took."""
    started = time.perf_counter()
    roads = read_osm(path)
    try:
        graph = build_graph(roads.ways, roads.signals, profile)
    except RoadGraphError as exc:
        raise RoadGraphError(f"{path}: {exc}") from None
    return graph, time.perf_counter() - started
