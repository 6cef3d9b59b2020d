"""A drivable road graph from OpenStreetMap ways. Pure: ways in, arrays out.

Every way a car may drive (:class:`~collector.roads.profile.RoadProfile`) is
cut at its junctions (nodes shared with another drivable way, and its ends)
into *pieces*. A piece is one stretch of road between two junctions, with its
geometry (the segments between its OSM nodes), length, class and the
directions it may be driven. The graph's nodes are the junctions; each
drivable direction of a piece is a directed edge whose cost is its travel time
plus what arriving at its end junction costs (signals, giving way, any other
junction). Only the largest strongly connected component is kept: from every
node kept, every other can be reached, so no unit is snapped onto a cul-de-sac
island it cannot leave (a car park mapped apart from the streets, a one-way
stub cut off by the extract's edge).

Built with numpy over all ways at once; the only Python loop is over the
input ways, to collect their nodes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from collector.eta import geodesic_m
from collector.roads.profile import CLASS_NAMES, RoadProfile
from common.errors import ActiveCallsError

__all__ = ["OsmWay", "RoadGraph", "RoadGraphError", "build_graph"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MIN_COST_S = 1e-3  # two junctions mapped at one spot: a tiny cost, never zero (sparse zeros vanish)


class RoadGraphError(ActiveCallsError, ValueError):
    """No drivable road graph could be made (no drivable ways, unreadable extract)."""


@dataclass(frozen=True, slots=True)
class OsmWay:
    """An OSM way with its nodes' ids and positions, in the way's order."""

    id: int
    nodes: Sequence[int]
    lat: Sequence[float]
    lon: Sequence[float]
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True, eq=False)
class RoadGraph:
    """Junctions, pieces of road between them, and the pieces' geometry.

    Nodes are numbered 0..n-1 (the largest strongly connected component
    only). A piece's ``forward`` direction runs from ``start`` to ``end`` in the
    way's node order; ``forward_ok``/``backward_ok`` say whether a car may drive
    it that way (and whether both ends are in the graph).
    """

    node_lat: FloatArray
    node_lon: FloatArray
    node_osm: IntArray
    start: IntArray  # piece -> node
    end: IntArray
    length_m: FloatArray
    road_class: npt.NDArray[np.int8]  # index into CLASS_NAMES
    travel_s: FloatArray  # the whole piece at its speed (signals inside it included)
    speed_mps: FloatArray  # the piece's speed (its class's, or a lower tagged limit)
    forward_ok: BoolArray
    backward_ok: BoolArray
    penalty_end_s: FloatArray  # arriving at ``end`` along this piece
    penalty_start_s: FloatArray  # arriving at ``start`` against the way
    way_id: IntArray
    # Geometry: the pieces' segments, in order along each piece.
    seg_piece: IntArray
    seg_offset_m: FloatArray  # from the piece's start to the segment's start
    seg_length_m: FloatArray
    seg_lat: FloatArray  # shape (segments, 2): the two ends
    seg_lon: FloatArray

    @property
    def nodes(self) -> int:
        return len(self.node_lat)

    @property
    def pieces(self) -> int:
        return len(self.start)

    @property
    def edges(self) -> int:
        return int(np.count_nonzero(self.forward_ok) + np.count_nonzero(self.backward_ok))

    @property
    def routable(self) -> BoolArray:
        """Pieces a position may be snapped to (drivable at least one way, inside the graph)."""
        return self.forward_ok | self.backward_ok

    def edge_arrays(self, class_factor: FloatArray | None = None) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """Every directed edge as (tail, head, cost s, length m); travel times
        scaled by ``class_factor[road_class]`` (learned speeds) when given."""
        travel = self.travel_s if class_factor is None else self.travel_s * class_factor[self.road_class]
        f, b = self.forward_ok, self.backward_ok
        tail = np.concatenate([self.start[f], self.end[b]])
        head = np.concatenate([self.end[f], self.start[b]])
        cost = np.concatenate([travel[f] + self.penalty_end_s[f], travel[b] + self.penalty_start_s[b]])
        length = np.concatenate([self.length_m[f], self.length_m[b]])
        return tail, head, np.maximum(cost, MIN_COST_S), length

    def describe(self) -> str:
        km = float(self.length_m[self.routable].sum()) / 1000
        pieces = int(self.routable.sum())
        return f"{self.nodes} junctions, {pieces} road pieces, {self.edges} directed edges, {km:.0f} km"


def build_graph(ways: Iterable[OsmWay], signals: Collection[int] = (), profile: RoadProfile | None = None) -> RoadGraph:
    """The drivable graph of ``ways``; ``signals`` are the ids of nodes tagged
    ``highway=traffic_signals``. Raises RoadGraphError if nothing is drivable."""
    profile = profile or RoadProfile()
    ids: list[int] = []
    lats: list[float] = []
    lons: list[float] = []
    counts: list[int] = []
    info: list[tuple[int, float, bool, bool, int]] = []
    for way in ways:
        found = profile.way(way.tags)
        if found is None or len(way.nodes) < 2:
            continue
        ids.extend(way.nodes)
        lats.extend(way.lat)
        lons.extend(way.lon)
        counts.append(len(way.nodes))
        info.append((*found, way.id))
    if not info:
        raise RoadGraphError("no drivable roads (highway=* ways open to cars) in the data")
    node_id = np.array(ids, dtype=np.int64)
    lat, lon = np.array(lats, dtype=np.float64), np.array(lons, dtype=np.float64)
    way_len = np.array(counts, dtype=np.int64)
    rank, speed, fwd, bwd, osm_way = (np.array(column) for column in zip(*info))
    way_of = np.repeat(np.arange(len(way_len)), way_len)  # entry -> way
    first = np.concatenate([[0], np.cumsum(way_len)[:-1]])
    last = first + way_len - 1

    # Junction entries: a node used more than once among all drivable ways, or a way's end.
    unique_ids, inverse, uses = np.unique(node_id, return_inverse=True, return_counts=True)
    junction = uses[inverse] >= 2
    junction[first] = junction[last] = True
    is_signal = np.isin(node_id, np.fromiter(signals, dtype=np.int64, count=len(signals)))

    # Segments: consecutive entries of one way; pieces: runs of segments between junctions.
    seg_a = np.flatnonzero(np.diff(way_of) == 0)  # entry at the segment's start (its end is +1)
    seg_way = way_of[seg_a]
    seg_len = geodesic_m(lat[seg_a], lon[seg_a], lat[seg_a + 1], lon[seg_a + 1])
    piece_of_seg = np.cumsum(junction[seg_a]) - 1
    piece_first = np.flatnonzero(np.concatenate([[True], np.diff(piece_of_seg) != 0]))
    piece_last = np.concatenate([piece_first[1:] - 1, [len(seg_a) - 1]])
    piece_way = seg_way[piece_first]
    length = np.add.reduceat(seg_len, piece_first)
    inner_signals = np.add.reduceat((is_signal[seg_a] & ~junction[seg_a]).astype(np.float64), piece_first)
    seg_offset = np.cumsum(seg_len) - seg_len
    seg_offset -= np.repeat(seg_offset[piece_first], piece_last - piece_first + 1)

    # Graph nodes: the junctions (by OSM id), numbered in id order.
    junction_ids = np.unique(node_id[junction])
    start = np.searchsorted(junction_ids, node_id[seg_a[piece_first]])
    end = np.searchsorted(junction_ids, node_id[seg_a[piece_last] + 1])
    n = len(junction_ids)
    where = np.searchsorted(unique_ids, junction_ids)
    first_use = np.zeros(len(unique_ids), dtype=np.int64)
    first_use[inverse[::-1]] = np.arange(len(node_id))[::-1]  # an entry of each unique node
    node_lat, node_lon = lat[first_use[where]], lon[first_use[where]]
    node_signal = np.isin(junction_ids, node_id[is_signal])

    piece_rank = rank[piece_way].astype(np.int8)
    piece_speed = speed[piece_way].astype(np.float64)
    travel = length / piece_speed + inner_signals * profile.signals_s
    degree = np.bincount(start, minlength=n) + np.bincount(end, minlength=n)
    best_rank = np.full(n, len(CLASS_NAMES), dtype=np.int8)
    np.minimum.at(best_rank, start, piece_rank)
    np.minimum.at(best_rank, end, piece_rank)

    def arriving(node: IntArray) -> FloatArray:
        junction_here = degree[node] >= 3
        give_way = junction_here & (piece_rank > best_rank[node])
        cost = np.where(junction_here, np.where(give_way, profile.give_way_s, profile.junction_s), 0.0)
        return np.where(node_signal[node], profile.signals_s, cost)

    forward_ok, backward_ok = fwd[piece_way].astype(np.bool_), bwd[piece_way].astype(np.bool_)
    # The largest strongly connected component, over the drivable directions.
    tail = np.concatenate([start[forward_ok], end[backward_ok]])
    head = np.concatenate([end[forward_ok], start[backward_ok]])
    adjacency = csr_matrix((np.ones(len(tail)), (tail, head)), shape=(n, n))
    _, labels = connected_components(adjacency, directed=True, connection="strong")
    keep = labels == np.argmax(np.bincount(labels))
    number = np.cumsum(keep) - 1
    inside = keep[start] & keep[end]
    forward_ok &= inside
    backward_ok &= inside
    if not (forward_ok.any() or backward_ok.any()):
        raise RoadGraphError("no two junctions of the drivable roads are connected")
    return RoadGraph(
        node_lat=node_lat[keep],
        node_lon=node_lon[keep],
        node_osm=junction_ids[keep],
        start=np.where(keep[start], number[start], -1),
        end=np.where(keep[end], number[end], -1),
        length_m=length,
        road_class=piece_rank,
        travel_s=travel,
        speed_mps=piece_speed,
        forward_ok=forward_ok,
        backward_ok=backward_ok,
        penalty_end_s=arriving(end),
        penalty_start_s=arriving(start),
        way_id=osm_way[piece_way].astype(np.int64),
        seg_piece=piece_of_seg,
        seg_offset_m=seg_offset,
        seg_length_m=seg_len,
        seg_lat=np.stack([lat[seg_a], lat[seg_a + 1]], axis=1),
        seg_lon=np.stack([lon[seg_a], lon[seg_a + 1]], axis=1),
    )


def class_speeds_kmh(graph: RoadGraph) -> dict[str, float]:
    """Length-weighted mean speed of each class present (for descriptions and tests)."""
    out: dict[str, float] = {}
    for index, name in enumerate(CLASS_NAMES):
        mask = (graph.road_class == index) & graph.routable
        if mask.any():
            out[name] = float(graph.length_m[mask].sum() / graph.travel_s[mask].sum() * 3.6)
    return out
