"""Snap positions to the nearest drivable road piece. Pure (arrays in, arrays out).

Segments are put in a local equirectangular plane about the graph's centre
(x east, y north, metres: over a county the scale error stays well under a
per cent, far below the distances that matter here) and sampled every
``spacing_m``; a k-d tree of the samples finds the candidate segments near a
point, and the exact point-to-segment projection picks the nearest. A segment
whose nearest point lies within ``spacing_m / 2`` of one of its samples is
always among the candidates when it is the nearest by more than that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from collector.roads.graph import RoadGraph
from common.geodesy import EARTH_RADIUS_M

__all__ = ["Snapped", "Snapper"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Snapped:
    """Where points meet the road: piece, metres from the piece's start, and how far off the road they were."""

    piece: IntArray
    offset_m: FloatArray
    distance_m: FloatArray

    def __len__(self) -> int:
        return len(self.piece)


class Snapper:
    def __init__(self, graph: RoadGraph, *, spacing_m: float = 40.0, candidates: int = 8) -> None:
        self.graph = graph
        routable = graph.routable[graph.seg_piece]
        self._seg = np.flatnonzero(routable)  # segment ids in the index
        self.lat0 = float(np.mean(graph.node_lat)) if graph.nodes else 0.0
        self.lon0 = float(np.mean(graph.node_lon)) if graph.nodes else 0.0
        x, y = self.to_xy(graph.seg_lat[self._seg], graph.seg_lon[self._seg])
        self._x0, self._y0 = x[:, 0], y[:, 0]
        self._dx, self._dy = x[:, 1] - x[:, 0], y[:, 1] - y[:, 0]
        plane_len = np.hypot(self._dx, self._dy)
        samples = np.maximum(1, np.ceil(plane_len / spacing_m)).astype(np.int64)
        owner = np.repeat(np.arange(len(self._seg), dtype=np.int32), samples)
        within = np.arange(len(owner)) - np.repeat(np.cumsum(samples) - samples, samples)
        f = (within + 0.5) / samples[owner]
        points = np.column_stack([self._x0[owner] + f * self._dx[owner], self._y0[owner] + f * self._dy[owner]])
        self._owner = owner
        self._tree = cKDTree(points, balanced_tree=False) if len(points) else None
        self._k = min(candidates, len(points))

    def to_xy(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        lat_a, lon_a = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        kx = EARTH_RADIUS_M * np.cos(np.radians(self.lat0))
        return np.radians(lon_a - self.lon0) * kx, np.radians(lat_a - self.lat0) * EARTH_RADIUS_M

    def snap(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> Snapped:
        """The nearest routable piece of each point (lat, lon arrays of one shape, flattened)."""
        px, py = (a.ravel() for a in self.to_xy(lat, lon))
        if self._tree is None or len(px) == 0:
            empty = np.zeros(len(px))
            return Snapped(np.full(len(px), -1, dtype=np.int64), empty, np.full(len(px), np.inf))
        _, near = self._tree.query(np.column_stack([px, py]), k=self._k)
        near = np.asarray(near).reshape(len(px), -1)
        cand = self._owner[near]  # (points, k) indices into the indexed segments
        dx, dy = self._dx[cand], self._dy[cand]
        rx, ry = px[:, None] - self._x0[cand], py[:, None] - self._y0[cand]
        seg2 = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.clip(np.where(seg2 > 0, (rx * dx + ry * dy) / seg2, 0.0), 0.0, 1.0)
        dist = np.hypot(rx - f * dx, ry - f * dy)
        best = np.argmin(dist, axis=1)
        rows = np.arange(len(px))
        seg = self._seg[cand[rows, best]]
        g = self.graph
        offset = g.seg_offset_m[seg] + f[rows, best] * g.seg_length_m[seg]
        return Snapped(g.seg_piece[seg].astype(np.int64), offset, dist[rows, best])

    def position(self, piece: int, offset_m: float) -> tuple[float, float]:
        """(lat, lon) of the point ``offset_m`` along ``piece`` (the inverse of :meth:`snap` on the road)."""
        g = self.graph
        segs = np.flatnonzero(g.seg_piece == piece)
        offsets = g.seg_offset_m[segs]
        i = int(segs[max(0, int(np.searchsorted(offsets, offset_m, side="right")) - 1)])
        f = 0.0 if g.seg_length_m[i] <= 0 else min(1.0, max(0.0, (offset_m - g.seg_offset_m[i]) / g.seg_length_m[i]))
        lat = g.seg_lat[i, 0] + f * (g.seg_lat[i, 1] - g.seg_lat[i, 0])
        lon = g.seg_lon[i, 0] + f * (g.seg_lon[i, 1] - g.seg_lon[i, 0])
        return float(lat), float(lon)
