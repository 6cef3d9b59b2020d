"""Learning ETAs from the fleet's own history, online and from the past only. Pure.

The collector sees every position of every unit. From each unit's track the
learner cuts *sub-trips*, exactly as ETAs are scored (:mod:`collector.etascore`):
a start every ``start_every_s``, an end every ``end_every_s`` between 1 and 15
minutes later, kept when the unit drove there fairly directly (path at most
``max_detour`` x the geodesic, geodesic at least ``min_geodesic_m``). When a
sub-trip completes, the reference method (the travel-time model on geodesic
distance, or the road router) is asked how long it *would have* predicted,
and the log of actual / predicted is kept with the time it completed.

- **Per-unit recent speed**: a unit's factor is the time-decayed mean of its
  log-ratios (half-life ``half_life_s``), shrunk towards the other units' factor
  for the hour of day by ``prior_weight`` pseudo-trips: a unit on a motorway is
  soon predicted faster than the model, one in town traffic slower.
- **Time of day**: the fleet's log-ratios per UTC hour, the prior of every unit
  (from the other units, so a unit's own trips count once).
- **Circuity per area**, where there is no road graph (``area_circuity``): the
  median of path / geodesic of the sub-trips that ended in each ~2 km cell,
  which the model's reference uses instead of its fixed circuity once a cell
  has some. Off by default: on the recorded drives it gained nothing on top of
  the unit factor (docs/eta.md).
- **Speeds per road class**, with a road graph: :class:`ClassSpeeds` map-matches
  consecutive fixes to road pieces and learns each class's moving speed.

Only what has happened is ever used: a sub-trip counts from the moment its end
was observed, and :meth:`FleetLearner.factor` takes ``now`` and ignores
anything that completed later (a property test holds it to that).
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from collector.eta import TravelModel, geodesic_m

__all__ = ["ClassSpeeds", "FleetLearner", "LearnerSettings", "ModelReference", "Reference"]

FloatArray = npt.NDArray[np.float64]
# (start lat, start lon, end lat, end lon) arrays -> predicted seconds
Reference = Callable[[FloatArray, FloatArray, FloatArray, FloatArray], FloatArray]


@dataclass(frozen=True, slots=True)
class LearnerSettings:
    half_life_s: float = 600.0
    prior_weight: float = 2.0  # pseudo-trips at the fleet's hour-of-day factor
    max_detour: float = 1.6
    min_geodesic_m: float = 300.0
    min_trip_s: float = 60.0
    max_trip_s: float = 900.0
    start_every_s: float = 30.0
    end_every_s: float = 10.0
    memory_s: float = 3600.0  # trips older than this no longer count for a unit
    area_deg: tuple[float, float] = (0.02, 0.03)  # circuity cells, about 2 km at mid latitudes
    max_factor: float = 4.0  # a unit is never thought more than this faster or slower than the reference
    area_circuity: bool = False  # the model's circuity per area, learned (measured: no gain on top of the unit factor)


@dataclass(slots=True)
class _Track:
    time: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    driven: list[float] = field(default_factory=list)  # path length from the first point seen
    last: tuple[float, float, float, float] | None = None  # the newest point seen: time, lat, lon, driven
    starts: list[int] = field(default_factory=list)  # indices of sub-trip starts
    last_end: float = -math.inf
    # One entry per sub-trip end: (completed at, sum of the log ratios of the trips ending there, how many)
    trips: deque[tuple[float, float, int]] = field(default_factory=deque)


class _HourLog:
    """Trips that completed in one hour of the day: (when, unit, log ratio), the newest ``size``."""

    def __init__(self, size: int = 5000) -> None:
        self._rows: deque[tuple[float, str, float]] = deque(maxlen=size)
        self._arrays: tuple[FloatArray, npt.NDArray[np.str_], FloatArray] | None = None

    def add(self, done: float, unit: str, ratio: float) -> None:
        self._rows.append((done, unit, ratio))
        self._arrays = None

    def mean(self, now: float, besides: str | None) -> float:
        if not self._rows:
            return 0.0
        if self._arrays is None:
            done, units, ratios = zip(*self._rows)
            self._arrays = np.array(done), np.array(units), np.array(ratios)
        done_a, units_a, ratios_a = self._arrays
        use = (done_a <= now) & (units_a != besides)
        return float(ratios_a[use].mean()) if use.any() else 0.0


class ModelReference:
    """The travel-time model as the learner's reference, with circuity learned per area."""

    def __init__(self, model: TravelModel | None = None, priority: int = 4) -> None:
        self.model = model or TravelModel(turnout_s=0.0)
        self.priority = priority
        self.circuity: Callable[[FloatArray, FloatArray, float], FloatArray] | None = None

    def __call__(self, a_lat: FloatArray, a_lon: FloatArray, b_lat: FloatArray, b_lon: FloatArray) -> FloatArray:
        geo = geodesic_m(a_lat, a_lon, b_lat, b_lon)
        circuity = self.model.circuity if self.circuity is None else self.circuity(b_lat, b_lon, self.model.circuity)
        return self.model.profile(self.priority).travel_time(circuity * geo)


class FleetLearner:
    def __init__(self, reference: Reference, settings: LearnerSettings | None = None) -> None:
        self.reference = reference
        self.settings = settings or LearnerSettings()
        self._units: dict[str, _Track] = {}
        # hour of day -> the fleet's trips that completed in it: the prior of a unit is the *other* units'
        self._hours: dict[int, _HourLog] = defaultdict(_HourLog)
        self._circuity: dict[tuple[int, int], deque[float]] = defaultdict(lambda: deque(maxlen=200))
        self._factors: tuple[float, tuple[str, ...], FloatArray] | None = None
        if isinstance(reference, ModelReference) and self.settings.area_circuity:
            reference.circuity = self.area_circuity

    # -- learning --------------------------------------------------------------

    def observe(self, unit: str, time: FloatArray, lat: FloatArray, lon: FloatArray) -> None:
        """New positions of ``unit``, in time order (older or repeated times are skipped)."""
        s = self.settings
        track = self._units.setdefault(unit, _Track())
        ends: list[int] = []
        last = track.last
        if last is not None:
            newer = time > last[0]
            time, lat, lon = time[newer], lat[newer], lon[newer]
        if len(time) == 0:
            return
        # Steps between consecutive points (from the newest seen before), in one geodesic call.
        before_lat = np.concatenate([[lat[0] if last is None else last[1]], lat[:-1]])
        before_lon = np.concatenate([[lon[0] if last is None else last[2]], lon[:-1]])
        steps = geodesic_m(before_lat, before_lon, lat, lon).tolist()
        for t, la, lo, step in zip(time.tolist(), lat.tolist(), lon.tolist(), steps):
            if last is not None and t <= last[0]:
                continue  # a repeated time within the batch
            driven = step if last is None else last[3] + step
            last = (t, la, lo, driven)
            start = not track.starts or t - track.time[track.starts[-1]] >= s.start_every_s
            end = t - track.last_end >= s.end_every_s
            if not (start or end):
                continue  # only the path length runs on: the points kept are the sub-trips' ends
            track.time.append(t)
            track.lat.append(la)
            track.lon.append(lo)
            track.driven.append(driven)
            i = len(track.time) - 1
            if start:
                track.starts.append(i)
            if end:
                track.last_end = t
                ends.append(i)
        track.last = last
        if ends:
            self._complete(unit, track, ends)
        self._forget(track)

    def _complete(self, unit: str, track: _Track, ends: list[int]) -> None:
        s = self.settings
        t = np.array(track.time)
        starts = np.array(track.starts)
        a_list, b_list = [], []
        for b in ends:
            span = t[b] - t[starts]
            a = starts[(span >= s.min_trip_s) & (span <= s.max_trip_s)]
            a_list.append(a)
            b_list.append(np.full(len(a), b))
        a_idx, b_idx = np.concatenate(a_list), np.concatenate(b_list)
        if len(a_idx) == 0:
            return
        lat, lon, driven = np.array(track.lat), np.array(track.lon), np.array(track.driven)
        geo = geodesic_m(lat[a_idx], lon[a_idx], lat[b_idx], lon[b_idx])
        path = driven[b_idx] - driven[a_idx]
        direct = (geo >= s.min_geodesic_m) & (path <= s.max_detour * geo)
        a_idx, b_idx, geo, path = a_idx[direct], b_idx[direct], geo[direct], path[direct]
        if len(a_idx) == 0:
            return
        predicted = self.reference(lat[a_idx], lon[a_idx], lat[b_idx], lon[b_idx])
        actual = t[b_idx] - t[a_idx]
        ok = np.isfinite(predicted) & (predicted > 0)
        ratios = np.log(actual[ok] / predicted[ok])
        done_at = t[b_idx][ok]
        for done in np.unique(done_at).tolist():
            mine = ratios[done_at == done]
            track.trips.append((done, float(mine.sum()), len(mine)))
            self._hours[int(done // 3600) % 24].add(done, unit, float(mine.mean()))
        for la, lo, p, g in zip(lat[b_idx].tolist(), lon[b_idx].tolist(), path.tolist(), geo.tolist()):
            self._circuity[self._cell(la, lo)].append(p / g)

    def _forget(self, track: _Track) -> None:
        """Keep the last ``memory_s`` of points (enough for every sub-trip) and of trips."""
        s = self.settings
        newest = track.last[0] if track.last is not None else 0.0
        while track.trips and track.trips[0][0] < newest - s.memory_s:
            track.trips.popleft()
        drop = 0
        while drop < len(track.time) and track.time[drop] < newest - s.max_trip_s - s.start_every_s:
            drop += 1
        if drop > 64:  # trim in blocks: list slicing is O(n)
            for column in (track.time, track.lat, track.lon, track.driven):
                del column[:drop]
            track.starts = [i - drop for i in track.starts if i >= drop]

    # -- predicting --------------------------------------------------------------

    def hour_factor(self, now: float, *, besides: str | None = None) -> float:
        """The fleet's factor at this hour of day (UTC), from the trips of every unit but
        ``besides`` that completed by ``now``."""
        return math.exp(self._hours[int(now // 3600) % 24].mean(now, besides))

    def factor(self, unit: str, now: float) -> float:
        """How much slower (> 1) or faster than the reference ``unit`` is driving now,
        from its sub-trips completed at or before ``now``."""
        s = self.settings
        prior = math.log(self.hour_factor(now, besides=unit))
        track = self._units.get(unit)
        weight = total = 0.0
        if track is not None and track.trips:
            done, sums, counts = (np.array(c) for c in zip(*track.trips))
            use = (done <= now) & (done >= now - s.memory_s)
            w = 0.5 ** ((now - done[use]) / s.half_life_s)
            weight, total = float(np.dot(w, counts[use])), float(np.dot(w, sums[use]))
        estimate = (total + s.prior_weight * prior) / (weight + s.prior_weight)
        return float(min(max(math.exp(estimate), 1 / s.max_factor), s.max_factor))

    def factors(self, units: tuple[str, ...], now: float) -> FloatArray:
        """:meth:`factor` of each unit; the same answer for a second (ETA rounds come every 50 ms)."""
        cached = self._factors
        if cached is not None and cached[1] == units and 0 <= now - cached[0] < 1.0:
            return cached[2]
        found = np.array([self.factor(u, now) for u in units])
        self._factors = (now, units, found)
        return found

    def area_circuity(self, lat: FloatArray, lon: FloatArray, default: float) -> FloatArray:
        """Learned circuity at each point's cell (the median of what ended there), else ``default``."""
        out = np.empty(len(np.atleast_1d(lat)))
        for k, (la, lo) in enumerate(zip(np.atleast_1d(lat).tolist(), np.atleast_1d(lon).tolist())):
            seen = self._circuity.get(self._cell(la, lo))
            out[k] = float(np.median(seen)) if seen and len(seen) >= 5 else default
        return out

    def _cell(self, lat: float, lon: float) -> tuple[int, int]:
        d_lat, d_lon = self.settings.area_deg
        return math.floor(lat / d_lat), math.floor(lon / d_lon)


class ClassSpeeds:
    """Moving speed per road class, from consecutive map-matched fixes.

    A step between two fixes at most ``max_gap_s`` apart, both within
    ``max_snap_m`` of pieces of one class and moving faster than ``moving_mps``,
    counts towards that class's distance and time (time-decayed by
    ``half_life_s``). :meth:`factor` is the class's time multiplier for the
    router: the profile's speed over the learned one, shrunk towards 1 by
    ``prior_s`` seconds of driving at the profile's speed.
    """

    def __init__(self, classes: int, *, half_life_s: float = 3600.0, prior_s: float = 120.0,
                 max_gap_s: float = 10.0, moving_mps: float = 2.0, max_snap_m: float = 25.0) -> None:  # fmt: skip
        self.distance = np.zeros(classes)
        self.time = np.zeros(classes)
        self.half_life_s, self.prior_s = half_life_s, prior_s
        self.max_gap_s, self.moving_mps, self.max_snap_m = max_gap_s, moving_mps, max_snap_m
        self.last = -math.inf

    def observe(self, time: FloatArray, step_m: FloatArray, road_class: npt.NDArray[np.int64],
                snap_m: FloatArray) -> None:  # fmt: skip
        """Consecutive steps of one unit: step i is from fix i to fix i + 1 (``time`` and
        ``road_class``/``snap_m`` have one more entry than ``step_m``)."""
        if len(time) < 2:
            return
        if math.isfinite(self.last):
            decay = 0.5 ** (max(0.0, float(time[-1]) - self.last) / self.half_life_s)
            self.distance *= decay
            self.time *= decay
        self.last = max(self.last, float(time[-1]))
        gap = np.diff(time)
        ok = (gap > 0) & (gap <= self.max_gap_s) & (road_class[:-1] == road_class[1:])
        ok &= (snap_m[:-1] <= self.max_snap_m) & (snap_m[1:] <= self.max_snap_m) & (road_class[:-1] >= 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ok &= step_m / gap > self.moving_mps
        np.add.at(self.distance, road_class[:-1][ok], step_m[ok])
        np.add.at(self.time, road_class[:-1][ok], gap[ok])

    def factor(self, profile_speed_mps: FloatArray) -> FloatArray:
        """Per class: profile speed / learned moving speed, with a prior of ``prior_s`` at the profile's speed."""
        prior = self.prior_s
        learned = (self.distance + prior * profile_speed_mps) / (self.time + prior)
        return np.asarray(profile_speed_mps / learned, dtype=np.float64)
