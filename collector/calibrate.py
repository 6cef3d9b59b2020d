"""Fit the travel-time model to drives that really happened, and measure its error.

A drive is a time-ordered track that ends at a destination (an incident the
unit drove to, or the end of a recording). From every point 1 to 15 minutes
before the end we know three things: the geodesic distance still to go, the
distance actually driven, and the time it actually took. The circuity factor
is the median ratio of the last two distances; the speed profile (cruising
speed and effective acceleration) is the one whose predicted times have the
smallest mean absolute error, found by a vectorized grid search.

Pure: arrays in, numbers out; reading files is limited to :func:`load_jsonl`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from collector.eta import SpeedProfile, TravelModel, geodesic_m
from common.errors import ActiveCallsError
from common.fix import parse_time

__all__ = [
    "Calibration",
    "DriveSamples",
    "ErrorStats",
    "Track",
    "calibrate",
    "cut_at_arrival",
    "drive_samples",
    "evaluate",
    "load_jsonl",
]

FloatArray = npt.NDArray[np.float64]


class TrackError(ActiveCallsError, ValueError):
    """A drive file that cannot be read as a track."""


@dataclass(frozen=True, slots=True)
class Track:
    """Positions in time order: POSIX seconds, degrees."""

    time: FloatArray
    lat: FloatArray
    lon: FloatArray

    def __len__(self) -> int:
        return len(self.time)

    def take(self, keep: npt.NDArray[np.bool_] | slice) -> Track:
        return Track(self.time[keep], self.lat[keep], self.lon[keep])

    @classmethod
    def from_points(cls, points: Iterable[tuple[float, float, float]]) -> Track:
        arr = np.array(sorted(points), dtype=np.float64).reshape(-1, 3)
        return cls(arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy())

    def without_jumps(self, max_speed_mps: float = 70.0) -> Track:
        """Drop points that imply more than ``max_speed_mps`` from the last kept
        point (GPS jumps of hundreds of metres), and repeated timestamps."""
        if len(self) < 2:
            return self
        keep = np.zeros(len(self), dtype=np.bool_)
        keep[0] = True
        step = geodesic_m(self.lat[:-1], self.lon[:-1], self.lat[1:], self.lon[1:])
        last = 0
        for i in range(1, len(self)):
            dt_s = self.time[i] - self.time[last]
            if dt_s <= 0:
                continue
            # The consecutive step is exact when the previous point was kept.
            dist = step[i - 1] if last == i - 1 else float(geodesic_m(self.lat[last], self.lon[last], *self[i]))
            if dist / dt_s <= max_speed_mps:
                keep[i] = True
                last = i
        return self.take(keep)

    def __getitem__(self, i: int) -> tuple[float, float]:
        return float(self.lat[i]), float(self.lon[i])


def load_jsonl(path: Path) -> Track:
    """A ``{"time", "lat", "lon"}`` line per point (the drives' ``*.jsonl``)."""
    points = []
    number = 0
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):  # noqa: B007 - read in the error message
                if not line.strip():
                    continue
                obj = json.loads(line)
                points.append((parse_time(obj["time"]).timestamp(), float(obj["lat"]), float(obj["lon"])))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        where = f"line {number}" if number else "opening"
        raise TrackError(f"{path}: {where}: {exc}") from None
    if len(points) < 2:
        raise TrackError(f"{path}: fewer than two points")
    return Track.from_points(points)


def cut_at_arrival(track: Track, lat: float, lon: float, *, start: float, radius_m: float = 100.0) -> Track | None:
    """The part of ``track`` from ``start`` (e.g. the dispatch time) to the first
    point within ``radius_m`` of (lat, lon); None if it never got there."""
    part = track.take(track.time >= start)
    if len(part) < 2:
        return None
    near = np.flatnonzero(geodesic_m(part.lat, part.lon, lat, lon) <= radius_m)
    if len(near) == 0 or near[0] == 0:
        return None
    return part.take(slice(0, int(near[0]) + 1))


@dataclass(frozen=True, slots=True)
class DriveSamples:
    """Points of drives, each with what remained to its end."""

    geodesic_m: FloatArray  # straight (geodesic) distance to the end
    path_m: FloatArray  # distance actually driven to the end
    remaining_s: FloatArray  # time it actually took

    def __len__(self) -> int:
        return len(self.remaining_s)

    @classmethod
    def concat(cls, parts: Sequence[DriveSamples]) -> DriveSamples:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("geodesic_m", "path_m", "remaining_s")))


def drive_samples(track: Track, *, min_s: float = 60.0, max_s: float = 900.0) -> DriveSamples:
    """Every point from ``max_s`` to ``min_s`` before the track's last point."""
    step = geodesic_m(track.lat[:-1], track.lon[:-1], track.lat[1:], track.lon[1:])
    driven_to_end = np.concatenate([np.cumsum(step[::-1])[::-1], [0.0]])
    remaining = track.time[-1] - track.time
    pick = (remaining >= min_s) & (remaining <= max_s)
    geo = geodesic_m(track.lat[pick], track.lon[pick], track.lat[-1], track.lon[-1])
    return DriveSamples(geo, driven_to_end[pick], remaining[pick])


@dataclass(frozen=True, slots=True)
class ErrorStats:
    n: int
    median_abs_s: float
    p90_abs_s: float
    bias_s: float  # median of predicted - actual: > 0 means pessimistic

    def __str__(self) -> str:
        return (
            f"n={self.n} median |error| {self.median_abs_s:.0f} s, p90 {self.p90_abs_s:.0f} s, "
            f"bias {self.bias_s:+.0f} s"
        )


def evaluate(predicted_s: FloatArray, actual_s: FloatArray) -> ErrorStats:
    if len(actual_s) == 0:
        return ErrorStats(0, math.nan, math.nan, math.nan)
    error = predicted_s - actual_s
    return ErrorStats(
        len(actual_s),
        float(np.median(np.abs(error))),
        float(np.percentile(np.abs(error), 90)),
        float(np.median(error)),
    )


@dataclass(frozen=True, slots=True)
class Calibration:
    circuity: float
    profile: SpeedProfile
    fit: ErrorStats  # of the fitted model on the samples it was fitted on
    samples: int

    def model(self, priority: int = 4, base: TravelModel | None = None) -> TravelModel:
        """``base`` with the fitted circuity and the fitted profile at ``priority``."""
        base = base or TravelModel()
        profiles = list(base.profiles)
        profiles[priority - 1] = self.profile
        return TravelModel(circuity=self.circuity, profiles=tuple(profiles), turnout_s=base.turnout_s)

    def __str__(self) -> str:
        p = self.profile
        return (
            f"circuity {self.circuity:.3f}, cruising speed {p.cruise_mps:.1f} m/s ({p.cruise_mps * 3.6:.0f} km/h), "
            f"effective acceleration {p.accel_mps2:.3f} m/s^2 (crossover {p.crossover_m:.0f} m); "
            f"fit on {self.samples} points: {self.fit}"
        )


_CRUISE_GRID = np.arange(4.0, 40.01, 0.5)
_ACCEL_GRID = np.geomspace(0.01, 3.0, 60)


def calibrate(samples: DriveSamples, *, min_geodesic_m: float = 200.0) -> Calibration:
    """Fit circuity, cruising speed and effective acceleration to ``samples``."""
    usable = samples.geodesic_m >= min_geodesic_m
    if np.count_nonzero(usable) < 10:
        raise ValueError(f"calibration needs at least 10 points farther than {min_geodesic_m:g} m from their end")
    geo, path, actual = samples.geodesic_m[usable], samples.path_m[usable], samples.remaining_s[usable]
    circuity = float(np.clip(np.median(path / geo), 1.0, 3.0))
    road = circuity * geo
    v = _CRUISE_GRID[:, np.newaxis, np.newaxis]
    a = _ACCEL_GRID[np.newaxis, :, np.newaxis]
    # One (cruise x accel x points) block per slice of points keeps memory small.
    total = np.zeros((len(_CRUISE_GRID), len(_ACCEL_GRID)))
    for start in range(0, len(road), 4096):
        chunk = road[start : start + 4096][np.newaxis, np.newaxis, :]
        predicted = np.where(chunk <= v * v / a, 2.0 * np.sqrt(chunk / a), v / a + chunk / v)
        total += np.abs(predicted - actual[start : start + 4096]).sum(axis=2)
    i, j = np.unravel_index(int(np.argmin(total)), total.shape)
    profile = SpeedProfile(float(_CRUISE_GRID[i]), round(float(_ACCEL_GRID[j]), 4))
    fit = evaluate(profile.travel_time(road), actual)
    return Calibration(circuity, profile, fit, len(actual))
