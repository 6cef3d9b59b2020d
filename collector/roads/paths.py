"""Fastest paths on the road graph, as the roads' own geometry. Pure.

:class:`RoadPaths` finds the fastest path between junctions (scipy's Dijkstra
with predecessors on the forward graph) and turns it into a polyline that
follows each road piece's OSM geometry in the direction driven, with, for
every vertex, the speed of the road it starts and whether it is a junction
where a car may have to stop (signals, giving way). The simulators drive
these paths; the public-feed benchmark patrols them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from collector.roads.graph import RoadGraph
from collector.roads.profile import RoadProfile
from common.errors import ActiveCallsError

__all__ = ["NoPathError", "PathGeometry", "RoadPaths"]

FloatArray = npt.NDArray[np.float64]


class NoPathError(ActiveCallsError, ValueError):
    """No path between two junctions (should not happen inside one strongly connected graph)."""


@dataclass(frozen=True, slots=True)
class PathGeometry:
    """A driven path: vertices, the speed limit of each segment, and the junctions on it."""

    points: tuple[tuple[float, float], ...]  # (lat, lon)
    speeds_mps: tuple[float, ...]  # one per segment: points[i] -> points[i + 1]
    junctions: tuple[int, ...]  # vertex indices where a stop may come (signals, give-way)
    road_classes: tuple[int, ...]  # one per segment
    length_m: float
    travel_s: float  # at the graph's speeds, junction costs included


class RoadPaths:
    def __init__(self, graph: RoadGraph, profile: RoadProfile | None = None) -> None:
        self.graph = graph
        self.profile = profile or RoadProfile()
        g = graph
        f, b = np.flatnonzero(g.forward_ok), np.flatnonzero(g.backward_ok)
        tail, head, cost, _ = g.edge_arrays()
        piece = np.concatenate([f, b])
        forward = np.concatenate([np.ones(len(f), dtype=np.bool_), np.zeros(len(b), dtype=np.bool_)])
        order = np.lexsort((cost, head, tail))
        tail, head, cost, piece, forward = tail[order], head[order], cost[order], piece[order], forward[order]
        first = np.ones(len(tail), dtype=np.bool_)
        first[1:] = (np.diff(tail) != 0) | (np.diff(head) != 0)
        loop = tail == head
        keep = first & ~loop
        self._keys = tail[keep] * g.nodes + head[keep]
        self._piece, self._forward, self._cost = piece[keep], forward[keep], cost[keep]
        self._matrix = csr_matrix((cost[keep], (tail[keep], head[keep])), shape=(g.nodes, g.nodes))
        self._nodes = cKDTree(np.column_stack([g.node_lat, g.node_lon * np.cos(np.radians(g.node_lat.mean()))]))

    def nearest_node(self, lat: float, lon: float, *, max_rank: int | None = None, within_m: float = 250.0) -> int:
        """The junction nearest (lat, lon); with ``max_rank``, preferably one on a road of
        that class or better within ``within_m`` (a waypoint on a main road, not a side street)."""
        scale = np.cos(np.radians(self.graph.node_lat.mean()))
        if max_rank is not None:
            near = self._nodes.query_ball_point([lat, lon * scale], within_m / 111_000)
            g = self.graph
            major = set(g.start[g.routable & (g.road_class <= max_rank)].tolist()) | set(
                g.end[g.routable & (g.road_class <= max_rank)].tolist()
            )
            candidates = [n for n in near if n in major]
            if candidates:
                d = (g.node_lat[candidates] - lat) ** 2 + ((g.node_lon[candidates] - lon) * scale) ** 2
                return int(candidates[int(np.argmin(d))])
        return int(self._nodes.query([lat, lon * scale])[1])

    def fastest(self, source: int, target: int) -> list[tuple[int, bool]]:
        """The pieces (and whether driven forward) of the fastest path source -> target."""
        if source == target:
            return []
        _, pred = dijkstra(self._matrix, directed=True, indices=source, return_predecessors=True)
        if pred[target] < 0:
            raise NoPathError(f"no path from junction {source} to {target}")
        nodes = [target]
        while nodes[-1] != source:
            nodes.append(int(pred[nodes[-1]]))
        nodes.reverse()
        keys = np.array(nodes[:-1], dtype=np.int64) * self.graph.nodes + np.array(nodes[1:], dtype=np.int64)
        at = np.searchsorted(self._keys, keys)
        return list(zip(self._piece[at].tolist(), self._forward[at].tolist()))

    def time(self, source: int, target: int) -> float:
        """Seconds from junction to junction (inf: no path)."""
        return float(dijkstra(self._matrix, directed=True, indices=source)[target])

    def through(self, nodes: Sequence[int]) -> list[tuple[int, bool]]:
        steps: list[tuple[int, bool]] = []
        for a, b in itertools.pairwise(nodes):
            steps += self.fastest(a, b)
        return steps

    def geometry(self, steps: Sequence[tuple[int, bool]]) -> PathGeometry:
        """The polyline of a path, in driving order, with its speeds and junctions."""
        g, profile = self.graph, self.profile
        points: list[tuple[float, float]] = []
        speeds: list[float] = []
        classes: list[int] = []
        junctions: list[int] = []
        length = travel = 0.0
        for piece, forward in steps:
            segs = np.flatnonzero(g.seg_piece == piece)
            lat, lon = g.seg_lat[segs], g.seg_lon[segs]
            line = list(zip(np.append(lat[:, 0], lat[-1, 1]).tolist(), np.append(lon[:, 0], lon[-1, 1]).tolist()))
            if not forward:
                line.reverse()
            if not points:
                points.append(line[0])
            points += line[1:]
            speed = float(g.speed_mps[piece])
            speeds += [speed] * (len(line) - 1)
            classes += [int(g.road_class[piece])] * (len(line) - 1)
            penalty = float(g.penalty_end_s[piece] if forward else g.penalty_start_s[piece])
            if penalty > profile.junction_s:  # signals or giving way: where a car may stop
                junctions.append(len(points) - 1)
            length += float(g.length_m[piece])
            travel += float(g.travel_s[piece]) + penalty
        return PathGeometry(tuple(points), tuple(speeds), tuple(junctions), tuple(classes), length, travel)
