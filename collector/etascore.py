"""Scoring ETAs on recorded drives: the trips, the online replay, the figures. Pure.

``activecalls-collector eta score`` (the CLI reads the files) uses this, and so
does ``bench/eta_accuracy.py``, so that every model is judged on exactly the
same trips:

- starts: A at the drive's first point, then at each point at least 30 s after
  the previous start;
- for each start, every later point B whose time difference T is within
  60-900 s and whose whole seconds T mod 60 are below 5 (a few samples at each
  whole minute);
- kept when the geodesic A -> B is at least 300 m and the driven path A -> B
  (the sum of the geodesics between consecutive points) is at most 1.6 x that
  geodesic (the car drove there fairly directly).

Each drive is replayed in time order: before the predictions at A, the
predictor is shown every point up to A's time and nothing later
(:class:`Predictor`), so only what happened before A informs them. The error
of a trip is ``|predicted - T| / T``; per drive its median and p90 (the sorted
errors' element at index ``int(0.9 * (n - 1))``), then the median of the
per-drive medians and the pooled median and p90.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from collector.calibrate import Track
from collector.eta import geodesic_m
from collector.learn import FleetLearner, LearnerSettings, Reference

__all__ = [
    "DriveScore",
    "LearnedPredictor",
    "Predictor",
    "ReferencePredictor",
    "Score",
    "Trips",
    "p90",
    "replay",
    "score",
    "trips",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

START_EVERY_S = 30.0
MIN_T_S, MAX_T_S = 60.0, 900.0
MINUTE_WINDOW_S = 5
MIN_GEODESIC_M = 300.0
MAX_DETOUR = 1.6


@dataclass(frozen=True, slots=True)
class Trips:
    """Trips of one drive: indices of A and B into its points, T, and the geodesic A -> B."""

    a: IntArray
    b: IntArray
    duration_s: FloatArray
    geodesic_m: FloatArray

    def __len__(self) -> int:
        return len(self.a)


def trips(track: Track) -> Trips:
    """The trips of a drive, exactly as the module docstring defines them."""
    t, lat, lon = track.time, track.lat, track.lon
    n = len(t)
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return Trips(empty, empty.copy(), np.zeros(0), np.zeros(0))
    step = geodesic_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    driven = np.concatenate([[0.0], np.cumsum(step)])  # path length from the first point
    starts = [0]
    for i in range(1, n):
        if t[i] - t[starts[-1]] >= START_EVERY_S:
            starts.append(i)
    a_list, b_list = [], []
    for a in starts:
        lo = int(np.searchsorted(t, t[a] + MIN_T_S, side="left"))
        hi = int(np.searchsorted(t, t[a] + MAX_T_S, side="right"))
        if lo >= hi:
            continue
        b = np.arange(lo, hi)
        whole = np.floor(t[b] - t[a]).astype(np.int64)
        b = b[whole % 60 < MINUTE_WINDOW_S]
        a_list.append(np.full(len(b), a, dtype=np.int64))
        b_list.append(b)
    a_idx = np.concatenate(a_list) if a_list else np.zeros(0, dtype=np.int64)
    b_idx = np.concatenate(b_list) if b_list else np.zeros(0, dtype=np.int64)
    geo = geodesic_m(lat[a_idx], lon[a_idx], lat[b_idx], lon[b_idx])
    path = driven[b_idx] - driven[a_idx]
    keep = (geo >= MIN_GEODESIC_M) & (path <= MAX_DETOUR * geo)
    return Trips(a_idx[keep], b_idx[keep], (t[b_idx] - t[a_idx])[keep], geo[keep])


class Predictor(Protocol):
    """An ETA method under test, fed a drive's points in time order."""

    def observe(self, time: FloatArray, lat: FloatArray, lon: FloatArray) -> None:
        """Points that happened (each call's points come after the previous call's)."""
        ...

    def predict(self, now: float, lat: float, lon: float, to_lat: FloatArray, to_lon: FloatArray) -> FloatArray:
        """Seconds from (lat, lon) at ``now`` to each destination."""
        ...


def replay(track: Track, found: Trips, predictor: Predictor) -> FloatArray:
    """Predictions for ``found``, the drive replayed in time order: the points up to
    each start's time are observed before its predictions, later points never."""
    predicted = np.full(len(found), np.nan)
    seen = 0
    for a in np.unique(found.a):
        upto = int(np.searchsorted(track.time, track.time[a], side="right"))
        if upto > seen:
            predictor.observe(track.time[seen:upto], track.lat[seen:upto], track.lon[seen:upto])
            seen = upto
        rows = np.flatnonzero(found.a == a)
        predicted[rows] = predictor.predict(
            float(track.time[a]), float(track.lat[a]), float(track.lon[a]),
            track.lat[found.b[rows]], track.lon[found.b[rows]],
        )  # fmt: skip
    return predicted


def p90(errors: Sequence[float] | FloatArray) -> float:
    """The sorted errors' element at index int(0.9 x (n - 1))."""
    ordered = sorted(float(e) for e in errors)
    return ordered[int(0.9 * (len(ordered) - 1))] if ordered else math.nan


@dataclass(frozen=True, slots=True)
class DriveScore:
    name: str
    trips: int
    median: float
    p90: float
    errors: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Score:
    drives: tuple[DriveScore, ...]

    @property
    def median_of_medians(self) -> float:
        medians = [d.median for d in self.drives if d.trips]
        return statistics.median(medians) if medians else math.nan

    @property
    def pooled(self) -> tuple[float, ...]:
        return tuple(e for d in self.drives for e in d.errors)

    @property
    def pooled_median(self) -> float:
        return statistics.median(self.pooled) if self.pooled else math.nan

    @property
    def pooled_p90(self) -> float:
        return p90(self.pooled)

    def to_json(self) -> str:
        def number(x: float) -> float | None:
            return round(x, 4) if math.isfinite(x) else None

        return json.dumps({
            "drives": [{"name": d.name, "trips": d.trips, "median": number(d.median), "p90": number(d.p90)}
                       for d in self.drives],
            "median_of_medians": number(self.median_of_medians),
            "pooled_median": number(self.pooled_median),
            "pooled_p90": number(self.pooled_p90),
        })  # fmt: skip

    def lines(self) -> list[str]:
        width = max([len(d.name) for d in self.drives] + [5])
        out = [f"{'drive':<{width}}  {'trips':>6}  {'median':>7}  {'p90':>7}"]
        for d in self.drives:
            out.append(f"{d.name:<{width}}  {d.trips:>6}  {_pct(d.median):>7}  {_pct(d.p90):>7}")
        out.append(f"median of the per-drive medians: {_pct(self.median_of_medians)}")
        out.append(f"pooled ({len(self.pooled)} trips): median {_pct(self.pooled_median)}, p90 {_pct(self.pooled_p90)}")
        return out


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %" if math.isfinite(x) else "-"


def score_drive(name: str, track: Track, predictor: Predictor) -> DriveScore:
    found = trips(track)
    predicted = replay(track, found, predictor)
    errors = np.abs(predicted - found.duration_s) / found.duration_s
    median = float(np.median(errors)) if len(errors) else math.nan
    return DriveScore(name, len(found), median, p90(errors), tuple(errors.tolist()))


def score(drives: Sequence[tuple[str, Track]], make_predictor: Callable[[], Predictor]) -> Score:
    """Every drive with a fresh predictor from ``make_predictor()`` (nothing carries over between drives)."""
    return Score(tuple(score_drive(name, track, make_predictor()) for name, track in drives))


class ReferencePredictor:
    """A method as it stands, learning nothing: the model, or the road router without history."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference

    def observe(self, time: FloatArray, lat: FloatArray, lon: FloatArray) -> None:
        pass

    def predict(self, now: float, lat: float, lon: float, to_lat: FloatArray, to_lon: FloatArray) -> FloatArray:
        n = len(to_lat)
        return self.reference(np.full(n, lat), np.full(n, lon), to_lat, to_lon)


class LearnedPredictor:
    """The reference scaled by what :class:`~collector.learn.FleetLearner` learned of the unit so far."""

    UNIT = "drive"

    def __init__(self, reference: Reference, settings: LearnerSettings | None = None) -> None:
        self.learner = FleetLearner(reference, settings)
        self.reference = reference

    def observe(self, time: FloatArray, lat: FloatArray, lon: FloatArray) -> None:
        self.learner.observe(self.UNIT, time, lat, lon)

    def predict(self, now: float, lat: float, lon: float, to_lat: FloatArray, to_lon: FloatArray) -> FloatArray:
        n = len(to_lat)
        base = self.reference(np.full(n, lat), np.full(n, lon), to_lat, to_lon)
        return base * self.learner.factor(self.UNIT, now)
