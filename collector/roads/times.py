"""Many-to-one travel times on a road graph: every unit to one incident, at once. Pure.

One Dijkstra per incident, from the incident on the *reversed* graph (an edge
u -> v of the road becomes v -> u), gives the time from every junction to the
incident; a unit's time is then read off the two ends of the road piece it is
on. scipy's ``csgraph.dijkstra`` runs it in C, with ``limit`` as the cut-off:
junctions farther than that in time are not explored.

The incident lies part-way along a piece, not on a junction. Its node in the
reversed graph is a virtual one, ``n``, whose two edges (rewritten in place
for every query) lead to the piece's start (reached driving forward, at the
fraction of the piece's time up to the incident) and its end (driving
backward), or to a dead sink where that direction is not allowed. So the
sparse matrix is built once and each query costs one Dijkstra.

Road distances follow the fastest route at no extra cost: each edge's weight
packs its time in whole milliseconds and its length in decimetres into one
integer-valued float, ``ms * 2**24 + dm``. Sums of such weights stay exact
integers (below 2**53), the milliseconds dominate the comparison (so the
fastest route wins, ties going to the shorter), and the Dijkstra's distance to
a junction decodes into both the time and the length of that route. Limits:
a route of at most 2**24 dm (1,677 km) and 2**29 ms (149 h).

Off-road positions (a yard, a car park) are joined to the road at
``access_mps``; a position farther than ``max_snap_m`` from every road is not
routable (nan), and neither is one whose road time exceeds the cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from collector.roads.graph import RoadGraph
from collector.roads.profile import RoadProfile
from collector.roads.snap import Snapped, Snapper

__all__ = ["RoadTimes", "TravelTable"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TravelTable:
    """Times (s) and road distances (m) from sources to one destination; nan: no route within the cut-off."""

    duration_s: FloatArray
    distance_m: FloatArray


class RoadTimes:
    """Travel times to a destination from many sources, on one :class:`RoadGraph`.

    Not thread-safe (each query rewrites the virtual node's edges): use one per thread.
    """

    def __init__(self, graph: RoadGraph, profile: RoadProfile | None = None, *, snapper: Snapper | None = None) -> None:
        self.graph = graph
        self.profile = profile or RoadProfile()
        self.snapper = snapper or Snapper(graph)
        self.class_factor: FloatArray | None = None
        self._build(None)

    def set_class_factor(self, factor: FloatArray | None) -> None:
        """Scale each road class's travel times (learned speeds); None: the profile's."""
        if factor is None and self.class_factor is None:
            return
        if factor is not None and self.class_factor is not None and np.array_equal(factor, self.class_factor):
            return
        self._build(None if factor is None else np.asarray(factor, dtype=np.float64))

    def _build(self, factor: FloatArray | None) -> None:
        g = self.graph
        self.class_factor = factor
        self._travel = g.travel_s if factor is None else g.travel_s * factor[g.road_class]
        tail, head, cost, length = g.edge_arrays(factor)
        n = g.nodes
        size = n + 3  # the virtual destination n, and two dead sinks n+1, n+2
        loop = tail == head
        rows, cols, cost, length = head[~loop], tail[~loop], cost[~loop], length[~loop]  # reversed
        order = np.lexsort((cost, cols, rows))
        rows, cols, cost, length = rows[order], cols[order], cost[order], length[order]
        first = np.ones(len(rows), dtype=np.bool_)  # the fastest of parallel edges
        first[1:] = (np.diff(rows) != 0) | (np.diff(cols) != 0)
        rows, cols, cost, length = rows[first], cols[first], cost[first], length[first]
        counts = np.bincount(rows, minlength=size)
        counts[n] = 2
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        indices = np.concatenate([cols, [n + 1, n + 2]]).astype(np.int32)
        data = np.concatenate([_pack(cost, length), _pack(np.ones(2), np.zeros(2))])
        self._matrix = csr_matrix((data, indices, indptr), shape=(size, size))
        self._virtual = int(indptr[n])

    def snap(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> Snapped:
        return self.snapper.snap(lat, lon)

    def table(self, sources: Snapped, lat: float, lon: float, *, cutoff_s: float = np.inf) -> TravelTable:
        """From each snapped source to (lat, lon)."""
        return self.table_to(sources, self.snap([lat], [lon]), cutoff_s=cutoff_s)

    def table_to(self, sources: Snapped, destination: Snapped, *, cutoff_s: float = np.inf) -> TravelTable:
        g, profile = self.graph, self.profile
        count = len(sources)
        nan = np.full(count, np.nan)
        p, o, off = int(destination.piece[0]), float(destination.offset_m[0]), float(destination.distance_m[0])
        if p < 0 or off > profile.max_snap_m or count == 0:
            return TravelTable(nan, nan.copy())
        n = g.nodes
        length_p, travel_p = float(g.length_m[p]), float(self._travel[p])
        frac = 0.0 if length_p <= 0 else min(1.0, max(0.0, o / length_p))
        weights = _pack(np.array([frac * travel_p, (1 - frac) * travel_p]), np.array([o, length_p - o]))
        v = self._virtual
        self._matrix.indices[v : v + 2] = (
            int(g.start[p]) if g.forward_ok[p] else n + 1,
            int(g.end[p]) if g.backward_ok[p] else n + 2,
        )
        self._matrix.data[v : v + 2] = weights
        limit = (np.floor(cutoff_s * 1000) + 1) * _SCALE if np.isfinite(cutoff_s) else np.inf
        packed = dijkstra(self._matrix, directed=True, indices=n, limit=limit)
        node_s, node_m = _unpack(packed)

        q, ou, du = sources.piece, sources.offset_m, sources.distance_m
        ok = (q >= 0) & (du <= profile.max_snap_m)
        q = np.where(ok, q, 0)
        length_q = g.length_m[q]
        with np.errstate(invalid="ignore", divide="ignore"):
            fq = np.clip(np.where(length_q > 0, ou / length_q, 0.0), 0.0, 1.0)
        travel_q = self._travel[q]
        end_q, start_q = g.end[q], g.start[q]  # -1 (the last sink, unreached) where a piece leaves the graph
        same = q == p
        inf = np.inf
        per_m = travel_p / max(length_p, 1e-9)
        options = np.stack([
            np.where(g.forward_ok[q], (1 - fq) * travel_q + g.penalty_end_s[q] + node_s[end_q], inf),
            np.where(g.backward_ok[q], fq * travel_q + g.penalty_start_s[q] + node_s[start_q], inf),
            np.where(same & g.forward_ok[p] & (ou <= o), (o - ou) * per_m, inf),
            np.where(same & g.backward_ok[p] & (ou >= o), (ou - o) * per_m, inf),
        ])  # fmt: skip
        lengths = np.stack([
            (1 - fq) * length_q + node_m[end_q],
            fq * length_q + node_m[start_q],
            np.abs(o - ou),
            np.abs(o - ou),
        ])  # fmt: skip
        best = np.argmin(options, axis=0)
        cols = np.arange(count)
        road_time = options[best, cols]
        reachable = ok & (road_time <= cutoff_s)
        access_m = np.where(ok, du, 0.0) + off
        duration = np.where(reachable, road_time + access_m / profile.access_mps, np.nan)
        distance = np.where(reachable, lengths[best, cols] + access_m, np.nan)
        return TravelTable(duration, distance)


_SCALE = float(2**24)


def _pack(seconds: FloatArray, metres: FloatArray) -> FloatArray:
    """Time and length as one exact integer weight: whole ms (at least 1) above 24 bits of dm."""
    ms = np.maximum(np.round(seconds * 1000.0), 1.0)
    return ms * _SCALE + np.round(np.maximum(metres, 0.0) * 10.0)


def _unpack(packed: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Seconds and metres from packed sums (inf stays inf)."""
    ms = np.floor(packed / _SCALE)
    with np.errstate(invalid="ignore"):
        dm = np.where(np.isfinite(packed), packed - ms * _SCALE, np.inf)
    return ms / 1000.0, dm / 10.0


def pair_times(times: RoadTimes, a_lat: FloatArray, a_lon: FloatArray, b_lat: FloatArray, b_lon: FloatArray,
               *, cutoff_s: float = np.inf) -> FloatArray:  # fmt: skip
    """Seconds from each A to its B (one Dijkstra per distinct B): the road router as a
    :data:`collector.learn.Reference`."""
    out = np.full(len(a_lat), np.nan)
    if len(a_lat) == 0:
        return out
    sources = times.snap(a_lat, a_lon)
    ends = np.column_stack([b_lat, b_lon])
    unique, which = np.unique(ends, axis=0, return_inverse=True)
    which = which.ravel()
    for k, (lat, lon) in enumerate(unique.tolist()):
        rows = np.flatnonzero(which == k)
        part = Snapped(sources.piece[rows], sources.offset_m[rows], sources.distance_m[rows])
        out[rows] = times.table(part, lat, lon, cutoff_s=cutoff_s).duration_s
    return out
