"""Drives on real streets: routes over an OpenStreetMap extract's road graph.

A route is the fastest path through a few places (``via``), or, for
``activecalls-sim drive --osm FILE``, a random tour: from a random junction to
another 1.5-6 km away (as the crow flies), and on, until the tour is
``length_m`` long. Either way the route follows the roads' own geometry,
carries each road's speed (class speed or a lower tagged limit, which the
drive planner uses as its speed there) and marks as possible stops the
junctions where a car meets signals or gives way.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from collector.eta import geodesic_m
from collector.roads.osm import load_graph
from collector.roads.paths import RoadPaths
from simulators.routes import Route

__all__ = ["load_paths", "patrol_loop", "random_tour", "route_via"]

MAIN_ROADS = 4  # tertiary or better: where patrol routes' places are snapped


def load_paths(path: Path) -> RoadPaths:
    """The road graph of an extract, ready for paths (raises RoadGraphError, one line)."""
    graph, _ = load_graph(path)
    return RoadPaths(graph)


def _route(paths: RoadPaths, nodes: Sequence[int], name: str, description: str) -> Route:
    geometry = paths.geometry(paths.through(nodes))
    return Route(name, geometry.points, None, geometry.junctions, description, geometry.speeds_mps)


def route_via(paths: RoadPaths, via: Sequence[tuple[float, float]], *, name: str, description: str = "") -> Route:
    """The fastest path through ``via`` (each place snapped to the nearest junction of a main road)."""
    nodes = [paths.nearest_node(lat, lon, max_rank=MAIN_ROADS) for lat, lon in via]
    return _route(paths, nodes, name, description)


def random_tour(paths: RoadPaths, rng: random.Random, *, length_m: float = 12_000.0, name: str = "tour") -> Route:
    """Fastest paths between random junctions 1.5-6 km apart, until ``length_m`` is driven."""
    g = paths.graph
    node = rng.randrange(g.nodes)
    nodes = [node]
    driven = 0.0
    for _ in range(100):
        if driven >= length_m:
            break
        far = geodesic_m(g.node_lat[node], g.node_lon[node], g.node_lat, g.node_lon)
        choices = np.flatnonzero((far >= 1500) & (far <= 6000))
        if len(choices) == 0:
            choices = np.flatnonzero(far >= np.median(far))
        nxt = int(choices[rng.randrange(len(choices))])
        driven += paths.geometry(paths.fastest(node, nxt)).length_m
        nodes.append(nxt)
        node = nxt
    return _route(paths, nodes, name, f"a random tour of {len(nodes) - 1} legs on the roads")


def patrol_loop(
    paths: RoadPaths, rng: random.Random, lat: float, lon: float, radius_m: float
) -> tuple[tuple[float, float], ...]:
    """A closed patrol on the roads around (lat, lon): from the nearest junction through
    three random junctions within ``radius_m`` and back (the points of its polyline)."""
    g = paths.graph
    home = paths.nearest_node(lat, lon)
    near = np.flatnonzero(geodesic_m(g.node_lat[home], g.node_lon[home], g.node_lat, g.node_lon) <= radius_m)
    via = [int(near[rng.randrange(len(near))]) for _ in range(3)] if len(near) > 1 else []
    steps = paths.through([home, *via, home])
    if not steps:  # nowhere to go: a junction with no other within reach
        steps = paths.through([home, paths.nearest_node(lat + 0.01, lon), home])
    return paths.geometry(steps).points
