"""The embedded road router: the ETA engine's :class:`~collector.router.Router` on the force's roads.

It answers every incident's request from one :class:`~collector.roads.times.RoadTimes`:
the units of all requests are snapped to the roads at once, then one Dijkstra
per incident (with the cut-off) gives every unit's time and road distance.
Units beyond the cut-off, or off the roads, get nan and keep the model's
estimate (``method: "model"``).

What the fleet's history teaches (:mod:`collector.roads.learn`) comes in
through :meth:`RoadRouter.learned`: a speed factor per road class and an
overall factor on the times, both for the current time of day.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from collector.eta import RouteRequest, RouteTable
from collector.roads.graph import RoadGraph
from collector.roads.osm import load_graph
from collector.roads.profile import RoadProfile
from collector.roads.snap import Snapped
from collector.roads.times import RoadTimes

__all__ = ["DEFAULT_CUTOFF_S", "RoadRouter"]

DEFAULT_CUTOFF_S = 1800.0  # half an hour: no unit farther than that is worth a route


class RoadRouter:
    """Many units to each incident, on a road graph (thread-safe: one query at a time)."""

    def __init__(self, graph: RoadGraph, profile: RoadProfile | None = None, *, cutoff_s: float = DEFAULT_CUTOFF_S):
        self.graph = graph
        self.times = RoadTimes(graph, profile)
        self.cutoff_s = cutoff_s
        self.time_factor = 1.0
        self._lock = threading.Lock()

    @classmethod
    def from_osm(
        cls, path: Path, profile: RoadProfile | None = None, *, cutoff_s: float = DEFAULT_CUTOFF_S
    ) -> RoadRouter:
        """Read an extract and build its graph (raises RoadGraphError, one line)."""
        graph, _ = load_graph(path, profile)
        return cls(graph, profile, cutoff_s=cutoff_s)

    def learned(self, class_factor: npt.ArrayLike | None, time_factor: float = 1.0) -> None:
        """Use learned speeds: travel times of each road class x ``class_factor``, every time x ``time_factor``."""
        with self._lock:
            self.times.set_class_factor(None if class_factor is None else np.asarray(class_factor, dtype=np.float64))
            self.time_factor = time_factor

    def table(self, request: RouteRequest) -> RouteTable:
        return self.tables([request])[request.incident_id]

    def tables(self, requests: Sequence[RouteRequest]) -> dict[str, RouteTable]:
        """Every request at once: the sources are snapped in one call."""
        sources = [s for r in requests for s in r.sources]
        lat = np.array([s[0] for s in sources], dtype=np.float64)
        lon = np.array([s[1] for s in sources], dtype=np.float64)
        out: dict[str, RouteTable] = {}
        with self._lock:
            snapped = self.times.snap(lat, lon)
            destinations = self.times.snap([r.destination[0] for r in requests], [r.destination[1] for r in requests])
            start = 0
            for k, request in enumerate(requests):
                part = slice(start, start + len(request.sources))
                start = part.stop
                found = self.times.table_to(
                    Snapped(snapped.piece[part], snapped.offset_m[part], snapped.distance_m[part]),
                    Snapped(destinations.piece[k : k + 1], destinations.offset_m[k : k + 1],
                            destinations.distance_m[k : k + 1]),
                    cutoff_s=self.cutoff_s,
                )  # fmt: skip
                out[request.incident_id] = RouteTable(
                    request.incident_id, request.units, found.duration_s * self.time_factor, found.distance_m
                )
        return out
