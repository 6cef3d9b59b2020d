"""Helpers for the road tests: small graphs and an independent reference router.

The reference does not use the virtual-node trick, scipy or the packed
weights of :mod:`collector.roads.times`: it cuts every road piece at the
points on it into a graph of its own and runs a plain heapq Dijkstra from the
source's point, with (time in ms, length in dm) as lexicographic weights.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict

from collector.roads.graph import RoadGraph
from collector.roads.snap import Snapped


def reference_time(graph: RoadGraph, src: tuple[int, float], dst: tuple[int, float]) -> tuple[float, float]:
    """(seconds, metres) by road from a point (piece, offset) to another, on the
    road itself (no access legs); (inf, inf) if there is no route."""
    if src == dst:  # already there, whichever way the road runs (the chain below would order them by name)
        return 0.0, 0.0
    adjacency: dict[object, list[tuple[object, float, float]]] = defaultdict(list)
    points: dict[int, list[tuple[float, object]]] = defaultdict(list)
    points[src[0]].append((src[1], "src"))
    points[dst[0]].append((dst[1], "dst"))
    for p in range(graph.pieces):
        if not (graph.forward_ok[p] or graph.backward_ok[p]):
            continue
        length, travel = float(graph.length_m[p]), float(graph.travel_s[p])
        chain: list[tuple[float, object]] = [(0.0, ("n", int(graph.start[p]))), *sorted(points.get(p, [])),
                                             (length, ("n", int(graph.end[p])))]  # fmt: skip
        last = len(chain) - 2
        for k in range(len(chain) - 1):
            (oa, a), (ob, b) = chain[k], chain[k + 1]
            cost = 0.0 if length <= 0 else (ob - oa) / length * travel
            if graph.forward_ok[p]:
                adjacency[a].append((b, cost + (float(graph.penalty_end_s[p]) if k == last else 0.0), ob - oa))
            if graph.backward_ok[p]:
                adjacency[b].append((a, cost + (float(graph.penalty_start_s[p]) if k == 0 else 0.0), ob - oa))
    best: dict[object, tuple[float, float]] = {"src": (0.0, 0.0)}
    heap: list[tuple[float, float, int, object]] = [(0.0, 0.0, 0, "src")]
    counter = 1
    while heap:
        t, metres, _, node = heapq.heappop(heap)
        if node == "dst":
            return t, metres
        if best.get(node, (math.inf, 0.0)) < (t, metres):
            continue
        for nxt, cost, length in adjacency[node]:
            candidate = (t + cost, metres + length)
            if candidate < best.get(nxt, (math.inf, 0.0)):
                best[nxt] = candidate
                heapq.heappush(heap, (candidate[0], candidate[1], counter, nxt))
                counter += 1
    return math.inf, math.inf


def point(snapped: Snapped, i: int) -> tuple[int, float]:
    return int(snapped.piece[i]), float(snapped.offset_m[i])
