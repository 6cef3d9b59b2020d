"""Estimated times of arrival of every unit at every open incident, and the
unit to send: pure and vectorized.

The default travel-time model (``docs/eta.md`` gives its sources and limits):

    road distance  D = circuity x geodesic distance          (circuity 1.35)
    travel time    T(D) = 2 sqrt(D / a)          if D <= 2 d_c,  d_c = v_c^2 / (2 a)
                        = v_c / a + D / v_c      otherwise
    ETA            = turnout + T(D)              (no turnout for assigned units)

i.e. the unit accelerates at ``a`` up to the cruising speed ``v_c`` and slows
down symmetrically at the end (Kolesar & Walker, RAND R-1449, 1974; Larson &
Odoni, Urban Operations Research, 3.7.2): travel time grows like the square
root of distance for short trips and linearly beyond. ``a`` and ``v_c``
depend on the incident's priority (emergency driving is faster).

A unit whose fix is stale may have driven anywhere within ``roam_mps`` x its
fix age since: its ETA is widened by that distance at cruising speed, and
``eta_min_s`` gives the optimistic end. Such a unit is listed but never
recommended; nor is one that is offline, or not ``available``.

Distances come from ``pyproj.Geod.inv`` on whole arrays (one call for all the
pairs a round needs, never a Python loop over pairs), and are cached per
incident so that a round after a few units moved computes only their rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from pyproj import Geod

from collector.fleet import STATUS_CODES, UnitTable
from common.wire import DutyStatus, EtaConfidence, EtaMethod, EtaReport, EtaRow, Incident

__all__ = [
    "DEFAULT_PROFILES",
    "EtaEngine",
    "EtaPolicy",
    "RouteFailure",
    "RouteRequest",
    "RouteTable",
    "SpeedProfile",
    "TravelModel",
    "geodesic_m",
]

FloatArray = npt.NDArray[np.float64]
GEOD: Final = Geod(ellps="WGS84")


def geodesic_m(lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike) -> FloatArray:
    """Ellipsoidal (WGS 84) distances in metres, inputs broadcast together."""
    a, b, c, d = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (lat1, lon1, lat2, lon2)))
    if a.size == 0:
        return np.zeros(a.shape)
    lon1, lat1, lon2, lat2 = (np.ascontiguousarray(x).ravel() for x in (b, a, d, c))
    _, _, dist = GEOD.inv(lon1, lat1, lon2, lat2, return_back_azimuth=False)
    return np.asarray(dist, dtype=np.float64).reshape(a.shape)


@dataclass(frozen=True, slots=True)
class SpeedProfile:
    """Cruising speed and effective acceleration of the travel-time model.

    ``accel_mps2`` is not the car's acceleration but a fitted constant that
    also absorbs junctions, turns and lights on the way up to cruising speed.
    """

    cruise_mps: float
    accel_mps2: float

    def __post_init__(self) -> None:
        for name in ("cruise_mps", "accel_mps2"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")

    @property
    def crossover_m(self) -> float:
        """2 d_c: below it the unit never reaches cruising speed."""
        return self.cruise_mps**2 / self.accel_mps2

    def travel_time(self, road_m: npt.ArrayLike) -> FloatArray:
        return _travel_time(np.asarray(road_m, dtype=np.float64), self.cruise_mps, self.accel_mps2)


def _travel_time(road_m: FloatArray, cruise: npt.ArrayLike, accel: npt.ArrayLike) -> FloatArray:
    v, a = np.asarray(cruise, dtype=np.float64), np.asarray(accel, dtype=np.float64)
    road = np.maximum(road_m, 0.0)
    short = 2.0 * np.sqrt(road / a)
    long = v / a + road / v
    return np.asarray(np.where(road <= v * v / a, short, long), dtype=np.float64)


# Starting values, by priority 1 (emergency) to 4 (routine), meant to be
# replaced by ``calibrate`` on the fleet's own history (docs/eta.md). Priority
# 4 is ordinary town driving: 54 km/h on the arterials, and an effective
# acceleration that leaves trips under ~2 km in the square-root regime where
# junctions and lights dominate. Blue-light driving cruises faster and gets
# up to speed sooner.
DEFAULT_PROFILES: Final = (
    SpeedProfile(cruise_mps=20.0, accel_mps2=0.20),
    SpeedProfile(cruise_mps=18.0, accel_mps2=0.15),
    SpeedProfile(cruise_mps=16.0, accel_mps2=0.12),
    SpeedProfile(cruise_mps=15.0, accel_mps2=0.10),
)


@dataclass(frozen=True, slots=True)
class TravelModel:
    circuity: float = 1.35  # road distance / geodesic distance
    profiles: tuple[SpeedProfile, ...] = DEFAULT_PROFILES  # index = priority - 1
    turnout_s: float = 15.0  # from dispatch to rolling, for units not yet assigned

    def __post_init__(self) -> None:
        if not (math.isfinite(self.circuity) and self.circuity >= 1.0):
            raise ValueError(f"circuity must be >= 1, got {self.circuity!r}")
        if len(self.profiles) != 4:
            raise ValueError("one speed profile per priority 1-4 is needed")
        if not (math.isfinite(self.turnout_s) and self.turnout_s >= 0):
            raise ValueError(f"turnout_s must be >= 0, got {self.turnout_s!r}")

    def profile(self, priority: int) -> SpeedProfile:
        return self.profiles[priority - 1]

    def travel_time(self, geodesic: npt.ArrayLike, priority: int) -> FloatArray:
        """Driving time (no turnout) over a geodesic distance, in seconds."""
        return self.profile(priority).travel_time(self.circuity * np.asarray(geodesic, dtype=np.float64))


@dataclass(frozen=True, slots=True)
class EtaPolicy:
    max_units: int = 20  # rows per report besides the assigned units and the recommendation
    roam_mps: float = 13.9  # how fast a unit may have moved since a stale fix (50 km/h)
    router_units: int = 25  # candidates per incident (nearest by the model) the router is asked about
    router_time_factor: float = 1.0  # router durations are for ordinary traffic; scale for blue lights

    def __post_init__(self) -> None:
        if self.max_units < 0 or self.router_units < 0:
            raise ValueError("max_units and router_units must be >= 0")
        if not (math.isfinite(self.roam_mps) and self.roam_mps >= 0):
            raise ValueError(f"roam_mps must be >= 0, got {self.roam_mps!r}")
        if not (math.isfinite(self.router_time_factor) and self.router_time_factor > 0):
            raise ValueError(f"router_time_factor must be > 0, got {self.router_time_factor!r}")


# -- routers: values only here; the HTTP backend is in collector.router ----------


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """Ask a router for the travel from each source to one incident."""

    incident_id: str
    units: tuple[str, ...]
    sources: tuple[tuple[float, float], ...]  # (lat, lon) of each unit
    destination: tuple[float, float]  # (lat, lon)


@dataclass(frozen=True, slots=True)
class RouteTable:
    """A router's answer; nan where it found no route."""

    incident_id: str
    units: tuple[str, ...]
    duration_s: FloatArray
    distance_m: FloatArray


@dataclass(frozen=True, slots=True)
class RouteFailure:
    incident_id: str
    reason: str


RouteOutcome = RouteTable | RouteFailure


# -- the engine -----------------------------------------------------------------

_BUSY: Final = np.array(
    [STATUS_CODES[s] for s in (DutyStatus.DISPATCHED, DutyStatus.ENROUTE, DutyStatus.ONSCENE, DutyStatus.UNAVAILABLE)],
    dtype=np.int8,
)
_AVAILABLE: Final = STATUS_CODES[DutyStatus.AVAILABLE]
_STATUSES: Final = {code: status for status, code in STATUS_CODES.items()}
_METHODS: Final = (EtaMethod.MODEL, EtaMethod.ROUTER, EtaMethod.FALLBACK)
_MODEL, _ROUTER, _FALLBACK = 0, 1, 2


class _DistanceCache:
    """Geodesic distances (unit rows x incident columns), with the unit positions
    and incident locations they were computed from; grown by doubling."""

    def __init__(self) -> None:
        self.columns: dict[str, int] = {}  # incident id -> column
        self.free: list[int] = []
        self.where = np.full((0, 2), np.nan)  # each column's incident (lat, lon)
        self.unit_lat = np.full((0, 0), np.nan)
        self.unit_lon = np.full((0, 0), np.nan)
        self.dist = np.full((0, 0), np.nan)

    def column(self, incident: Incident) -> int:
        j = self.columns.get(incident.id)
        if j is None:
            j = self.free.pop() if self.free else len(self.columns)
            self.columns[incident.id] = j
            self.reserve(self.dist.shape[0], j + 1)
        if self.where[j, 0] != incident.lat or self.where[j, 1] != incident.lon:
            self.where[j] = incident.lat, incident.lon
            self.unit_lat[:, j] = np.nan  # nothing cached is valid for a new location
        return j

    def forget(self, incident_id: str) -> None:
        j = self.columns.pop(incident_id, None)
        if j is not None:
            self.where[j] = np.nan
            self.free.append(j)

    def reserve(self, units: int, columns: int) -> None:
        rows, cols = self.dist.shape
        if units <= rows and columns <= cols:
            return
        shape = (max(units, 2 * rows, 64), max(columns, 2 * cols, 8))

        def grown(a: FloatArray) -> FloatArray:
            out = np.full(shape, np.nan)
            out[:rows, :cols] = a
            return out

        self.unit_lat, self.unit_lon, self.dist = grown(self.unit_lat), grown(self.unit_lon), grown(self.dist)
        where = np.full((shape[1], 2), np.nan)
        where[:cols] = self.where
        self.where = where


@dataclass(frozen=True, slots=True)
class _Round:
    """Everything vectorized for one snapshot x incidents: (units, incidents) arrays."""

    geodesic: FloatArray
    road: FloatArray
    travel: FloatArray
    assigned: npt.NDArray[np.bool_]


class EtaEngine:
    """ETA reports for incidents from a :class:`~collector.fleet.UnitTable`.

    Keeps a distance cache keyed by unit index (the fleet's order, which only
    grows) and incident id; call :meth:`forget` when an incident closes.
    """

    def __init__(self, model: TravelModel | None = None, policy: EtaPolicy | None = None) -> None:
        self.model = model or TravelModel()
        self.policy = policy or EtaPolicy()
        self._cache = _DistanceCache()
        self.pairs_computed = 0  # geodesics computed so far (the cache's effect shows here)

    def forget(self, incident_id: str) -> None:
        self._cache.forget(incident_id)

    def distances(
        self, table: UnitTable, incidents: Sequence[Incident], needed: npt.NDArray[np.bool_] | None = None
    ) -> FloatArray:
        """Geodesic metres, shape (units, incidents); nan for units without a fix
        (and for pairs outside ``needed``, if given: they are not computed).
        Only pairs whose unit moved (or whose incident is new or moved) are computed,
        all in one ``Geod.inv`` call; the bookkeeping is whole-matrix too."""
        cache = self._cache
        n = len(table.units)
        cols = np.array([cache.column(incident) for incident in incidents], dtype=np.intp)
        cache.reserve(n, 0)
        lat, lon = table.lat[:, np.newaxis], table.lon[:, np.newaxis]
        same = (cache.unit_lat[:n, cols] == lat) & (cache.unit_lon[:n, cols] == lon)
        wanted = table.has_fix[:, np.newaxis] if needed is None else table.has_fix[:, np.newaxis] & needed
        rows, k = np.nonzero(wanted & ~same)
        if len(rows):
            j = cols[k]
            cache.dist[rows, j] = geodesic_m(table.lat[rows], table.lon[rows], cache.where[j, 0], cache.where[j, 1])
            cache.unit_lat[rows, j], cache.unit_lon[rows, j] = table.lat[rows], table.lon[rows]
            self.pairs_computed += len(rows)
        out = cache.dist[:n, cols]
        out[~wanted] = np.nan
        return out

    def _round(self, table: UnitTable, incidents: Sequence[Incident]) -> _Round:
        index = table.index()
        assigned = np.zeros((len(table.units), len(incidents)), dtype=np.bool_)
        for j, incident in enumerate(incidents):
            rows = [index[u] for u in incident.units if u in index]
            assigned[rows, j] = True
        # A unit busy elsewhere is never a candidate: its distances would go unused.
        # Skipping them is most of the cost of a cold round (Geod.inv is ~1 us a pair).
        needed = ~np.isin(table.status, _BUSY)[:, np.newaxis] | assigned
        geodesic = self.distances(table, incidents, needed)
        profiles = [self.model.profile(i.priority) for i in incidents]
        cruise = np.array([p.cruise_mps for p in profiles])
        accel = np.array([p.accel_mps2 for p in profiles])
        road = self.model.circuity * geodesic
        with np.errstate(invalid="ignore"):
            travel = _travel_time(road, cruise[np.newaxis, :], accel[np.newaxis, :])
        return _Round(geodesic, road, travel, assigned)

    def route_requests(
        self, table: UnitTable, incidents: Sequence[Incident], *, nearest: int | None = None
    ) -> list[RouteRequest]:
        """For each incident, the units worth asking a router about: the assigned
        ones and the ``nearest`` (default ``router_units``) nearest candidates by
        the model; an embedded road router is cheap enough to ask about all."""
        r = self._round(table, incidents)
        candidates = table.has_fix & ~np.isin(table.status, _BUSY)
        requests = []
        for j, incident in enumerate(incidents):
            pool = np.flatnonzero(candidates & ~r.assigned[:, j])
            pool = _smallest(pool, r.travel[pool, j], self.policy.router_units if nearest is None else nearest)
            idx = np.union1d(pool, np.flatnonzero(r.assigned[:, j] & table.has_fix))
            requests.append(
                RouteRequest(
                    incident.id,
                    tuple(table.units[i] for i in idx),
                    tuple(zip(table.lat[idx].tolist(), table.lon[idx].tolist())),
                    (incident.lat, incident.lon),
                )
            )
        return requests

    def reports(
        self,
        table: UnitTable,
        incidents: Sequence[Incident],
        routes: Mapping[str, RouteOutcome] | None = None,
        *,
        learned: FloatArray | None = None,
    ) -> list[EtaReport]:
        """One report per incident, computed at ``table.now``.

        ``learned``: per unit (table order), how much slower (> 1) than the model
        it has been driving lately (:class:`collector.learn.FleetLearner`); it
        scales the model's travel times, not a router's.

        Everything is done on (units x incidents) matrices; Python loops run
        only over the rows that end up in the reports.
        """
        if not incidents:
            return []
        computed = dt.datetime.fromtimestamp(math.floor(table.now * 1000) / 1000, dt.UTC)
        if not table.units:
            return [EtaReport(incident.id, computed, None, (), 0) for incident in incidents]
        r = self._round(table, incidents)
        policy, model = self.policy, self.model
        n, m = r.geodesic.shape
        road, travel = r.road, r.travel
        method = np.full((n, m), _MODEL, dtype=np.int8)
        if learned is not None:
            travel = travel * learned[:, np.newaxis]
        if routes:
            road, travel = road.copy(), travel.copy()
            self._apply_routes(table, incidents, routes, road, travel, method)
        cruise = np.array([model.profile(i.priority).cruise_mps for i in incidents])
        covered = np.where(table.stale & table.has_fix, policy.roam_mps * np.nan_to_num(table.fix_age), 0.0)
        widen = covered[:, np.newaxis] / cruise[np.newaxis, :]
        turnout = np.where(r.assigned, 0.0, model.turnout_s)
        eta = turnout + travel + widen
        eta_min = turnout + np.maximum(travel - widen, 0.0)
        distance = road + covered[:, np.newaxis]

        candidate = (table.has_fix & ~np.isin(table.status, _BUSY))[:, np.newaxis] & ~r.assigned
        fresh_available = (table.status == _AVAILABLE) & ~table.stale & ~table.offline & ~table.excluded
        recommendable = candidate & fresh_available[:, np.newaxis]
        listed = r.assigned & table.has_fix[:, np.newaxis]
        # The max_units soonest candidates of each incident, in one partition.
        pool = np.where(candidate, eta, np.inf)
        k = min(policy.max_units, n)
        if 0 < k < n:
            top = np.argpartition(pool, k - 1, axis=0)[:k]
            listed[top, np.arange(m)[np.newaxis, :]] |= np.isfinite(np.take_along_axis(pool, top, axis=0))
        elif k == n:
            listed |= candidate
        # The recommendation: smallest ETA, ties to the smallest unit id.
        best_eta = np.where(recommendable, eta, np.inf)
        pick = np.argmin(best_eta, axis=0)
        best = best_eta[pick, np.arange(m)]
        recommended: list[str | None] = []
        for j in range(m):
            if not math.isfinite(best[j]):
                recommended.append(None)
                continue
            ties = np.flatnonzero(best_eta[:, j] == best[j])
            unit = table.units[pick[j]] if len(ties) == 1 else min(table.units[i] for i in ties)
            recommended.append(unit)
            listed[table.units.index(unit) if len(ties) > 1 else pick[j], j] = True

        candidates = (candidate | listed).sum(axis=0).tolist()
        rows, cols = np.nonzero(listed)
        # Group by incident; within one, soonest first (as published, to 0.1 s), ties by unit id.
        rounded_eta = np.round(eta[rows, cols], 1)
        order = np.lexsort((table.id_rank()[rows], rounded_eta, cols))
        rows, cols = rows[order], cols[order]
        cells = _Cells(
            units=[table.units[i] for i in rows.tolist()],
            eta=rounded_eta[order].tolist(),
            eta_min=np.round(eta_min[rows, cols], 1).tolist(),
            distance=np.round(distance[rows, cols]).tolist(),
            age=np.round(table.fix_age[rows], 1).tolist(),
            stale=table.stale[rows].tolist(),
            offline=table.offline[rows].tolist(),
            status=table.status[rows].tolist(),
            method=method[rows, cols].tolist(),
            assigned=r.assigned[rows, cols].tolist(),
        )
        bounds = np.searchsorted(cols, np.arange(m + 1)).tolist()
        return [
            EtaReport(incident.id, computed, recommended[j], cells.rows(bounds[j], bounds[j + 1]), candidates[j])
            for j, incident in enumerate(incidents)
        ]

    def _apply_routes(
        self,
        table: UnitTable,
        incidents: Sequence[Incident],
        routes: Mapping[str, RouteOutcome],
        road: FloatArray,
        travel: FloatArray,
        method: npt.NDArray[np.int8],
    ) -> None:
        """Put a router's answers in place of the model's; mark a failure."""
        index = table.index()
        for j, incident in enumerate(incidents):
            outcome = routes.get(incident.id)
            if isinstance(outcome, RouteFailure):
                method[:, j] = _FALLBACK
            elif isinstance(outcome, RouteTable):
                for unit, duration, distance in zip(outcome.units, outcome.duration_s, outcome.distance_m):
                    i = index.get(unit)
                    if i is not None and math.isfinite(duration) and math.isfinite(distance):
                        travel[i, j] = duration * self.policy.router_time_factor
                        road[i, j] = distance
                        method[i, j] = _ROUTER


@dataclass(frozen=True, slots=True)
class _Cells:
    """The listed (unit, incident) cells of one round, as Python lists, grouped by incident."""

    units: list[str]
    eta: list[float]
    eta_min: list[float]
    distance: list[float]
    age: list[float]
    stale: list[bool]
    offline: list[bool]
    status: list[int]
    method: list[int]
    assigned: list[bool]

    def rows(self, start: int, stop: int) -> tuple[EtaRow, ...]:
        built = []
        for k in range(start, stop):
            row_method = _METHODS[self.method[k]]
            stale, offline = self.stale[k], self.offline[k]
            if stale or offline:
                confidence = EtaConfidence.LOW
            elif row_method is EtaMethod.ROUTER:
                confidence = EtaConfidence.HIGH
            else:
                confidence = EtaConfidence.MEDIUM
            eta = self.eta[k]
            built.append(
                EtaRow(  # positional, in field order: this runs for every listed cell
                    self.units[k],
                    eta,
                    self.distance[k],
                    self.age[k],
                    _STATUSES.get(self.status[k]),
                    row_method,
                    stale,
                    confidence,
                    min(self.eta_min[k], eta) if stale else None,
                    self.assigned[k],
                    offline,
                )
            )
        return tuple(built)


def _smallest(idx: npt.NDArray[np.intp], values: FloatArray, k: int) -> npt.NDArray[np.intp]:
    """The k entries of ``idx`` with the smallest ``values`` (unordered)."""
    if len(idx) <= k:
        return idx
    if k <= 0:
        return idx[:0]
    return idx[np.argpartition(values, k - 1)[:k]]
