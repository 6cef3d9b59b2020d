"""Synthetic drives: a vehicle following a route, as a receiver would report it. Pure.

Two stages:

1. :func:`plan` drives the route once, in 50 ms steps, with a simple and
   deterministic driver: accelerate at ``accel`` up to ``kmh``, brake at
   ``decel`` early enough for every bend (lateral acceleration limited to
   ``lateral_accel``, from the turn at each vertex) and every stop (a
   possible stop vertex is taken with probability ``stop_prob`` and held for
   ``stop_s`` +-50 %). The result is the true distance and speed at every
   step and the arrival time at every route vertex.
2. :class:`DriveSim` samples that trajectory at the receiver's rate (which
   the agent may change through the emulated receiver), adds GNSS error (a
   first-order Gauss-Markov process per axis, 20 s correlation, RMS
   ``noise_m``, truncated at 3 x ``noise_m`` so a test can bound it; wild
   outliers are the ``jump`` fault's business), lets satellites and HDOP
   wander, drops the fix inside ``tunnels``, and formats each epoch with
   ``agent.formatter``. Every epoch's truth (true and reported position) is
   handed to ``on_truth`` as a JSON-ready dict.

Same config and seed, same bytes.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from agent.formatter import format_fix, format_no_fix
from common.fix import UTC, Fix, format_time
from simulators.events import Epoch
from simulators.geo import Polyline
from simulators.receiver import Receiver
from simulators.routes import Route

__all__ = ["DEFAULT_START", "DriveConfig", "DriveSim", "Trajectory", "parse_tunnels", "plan"]

DEFAULT_START: Final = dt.datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)  # a Monday morning shift
STEP_S: Final = 0.05
CORRELATION_S: Final = 20.0
MIN_CORNER_MS: Final = 2.5


@dataclass(frozen=True, slots=True)
class DriveConfig:
    route: Route
    kmh: float = 48.0
    accel: float = 1.5  # m/s2
    decel: float = 2.5  # m/s2
    lateral_accel: float = 2.0  # m/s2 in bends
    stop_prob: float = 0.5
    stop_s: float = 20.0
    hz: float = 1.0
    start: dt.datetime = DEFAULT_START
    noise_m: float = 2.5
    tunnels: tuple[tuple[float, float], ...] = ()  # (start s, duration s) of stream time
    talker: str = "GP"
    sentences: tuple[str, ...] = ("GGA", "GSA", "RMC", "VTG")
    seed: int = 0
    laps: int = 1
    duration_s: float | None = None
    altitude_m: float = 90.0

    def __post_init__(self) -> None:
        checks = [
            (self.kmh > 0, f"--kmh must be positive, got {self.kmh}"),
            (self.accel > 0 and self.decel > 0 and self.lateral_accel > 0, "accelerations must be positive"),
            (0.0 <= self.stop_prob <= 1.0, f"--stop-prob must be within 0..1, got {self.stop_prob}"),
            (self.stop_s >= 0, f"--stop-s must be >= 0, got {self.stop_s}"),
            (1.0 <= self.hz <= 10.0, f"--hz must be within 1..10, got {self.hz}"),
            (self.noise_m >= 0, f"--noise-m must be >= 0, got {self.noise_m}"),
            (self.talker in ("GP", "GN", "GL", "GA", "BD"), f"--talker must be GP or GN, got {self.talker}"),
            (self.laps >= 1, f"--laps must be >= 1, got {self.laps}"),
            (self.start.utcoffset() == dt.timedelta(0), "--start must be a UTC time"),
            (all(d > 0 and s >= 0 for s, d in self.tunnels), "--tunnel spans need START:DURATION with DURATION > 0"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def interval_ms(self) -> int:
        return round(1000 / self.hz)


@dataclass(frozen=True, slots=True)
class VertexArrival:
    vertex: int  # index in the route's points
    lap: int
    offset_ms: int
    distance_m: float


@dataclass(frozen=True, slots=True)
class Trajectory:
    """The true motion: distance and speed every STEP_S seconds."""

    line: Polyline
    distance: tuple[float, ...]
    speed: tuple[float, ...]
    arrivals: tuple[VertexArrival, ...]
    stops: tuple[tuple[float, float], ...]  # (distance, dwell seconds) actually taken

    @property
    def duration_s(self) -> float:
        return (len(self.distance) - 1) * STEP_S

    def at(self, t: float) -> tuple[float, float]:
        """(distance, speed) at ``t`` seconds, linearly between steps."""
        if t <= 0:
            return self.distance[0], self.speed[0]
        i, f = divmod(t / STEP_S, 1.0)
        k = int(i)
        if k >= len(self.distance) - 1:
            return self.distance[-1], self.speed[-1]
        d, v = self.distance, self.speed
        return d[k] + f * (d[k + 1] - d[k]), v[k] + f * (v[k + 1] - v[k])


def _lap_points(route: Route, laps: int) -> tuple[list[tuple[float, float]], list[tuple[int, int]]]:
    """The route repeated ``laps`` times; each point's (vertex, lap)."""
    points: list[tuple[float, float]] = []
    labels: list[tuple[int, int]] = []
    for lap in range(laps):
        for i, p in enumerate(route.points):
            if lap and i == 0 and p == points[-1]:
                continue  # a closed route: its start is the previous lap's end
            points.append(p)
            labels.append((i, lap))
    return points, labels


def plan(config: DriveConfig, rng: random.Random) -> Trajectory:
    route = config.route
    points, labels = _lap_points(route, config.laps)
    line = Polyline(points)
    v_max = config.kmh / 3.6
    # Speed limits at vertices: bends (from the turn and the segment lengths) and stops.
    limits: list[tuple[float, float]] = []
    for k in range(1, len(line.xy) - 1):
        turn = math.radians(line.turn_deg(k))
        if turn > 0.02:
            span = (line.cumulative[k + 1] - line.cumulative[k - 1]) / 2
            limits.append((line.cumulative[k], max(MIN_CORNER_MS, math.sqrt(config.lateral_accel * span / turn))))
    if route.stops:
        stop_vertices = set(route.stops)
    else:  # junctions of a plain route file: its sharp turns
        single = Polyline(route.points)
        stop_vertices = {single.source_index[k] for k in range(1, len(single.xy) - 1) if single.turn_deg(k) > 60}
    stops: list[tuple[float, float]] = []
    kept = {source: k for k, source in enumerate(line.source_index)}
    for index, (vertex, _) in enumerate(labels):
        if index == 0 or index not in kept or vertex not in stop_vertices:
            continue
        if rng.random() < config.stop_prob:
            stops.append((line.cumulative[kept[index]], config.stop_s * rng.uniform(0.5, 1.5)))
    stops.append((line.length, 0.0))  # the end of the route
    limits.extend((s, 0.0) for s, _ in stops)
    # On roads with speeds (a route over the OSM graph): each segment's road speed,
    # capped by ``kmh``; the car brakes ahead of a slower road as for a bend.
    road_speed = _segment_speeds(route, labels, line, v_max)
    if road_speed is not None:
        limits.extend((line.cumulative[k], road_speed[k]) for k in range(1, len(road_speed))
                      if road_speed[k] < road_speed[k - 1])  # fmt: skip
        v_max = max(road_speed)
    limits.sort()
    horizon = v_max * v_max / (2 * config.decel) + 50.0
    # Vertex distances, for arrival times.
    vertex_at = [(line.cumulative[k], labels[source]) for k, source in enumerate(line.source_index)]
    arrivals: list[VertexArrival] = []
    next_vertex = 0
    s = v = t = 0.0
    distance, speed = [0.0], [0.0]
    first_limit = next_stop = 0
    limit_end = config.duration_s if config.duration_s is not None else math.inf
    while True:
        while next_vertex < len(vertex_at) and vertex_at[next_vertex][0] <= s + 1e-9:
            (vs, (vertex, lap)) = vertex_at[next_vertex]
            arrivals.append(VertexArrival(vertex, lap, round(t * 1000), vs))
            next_vertex += 1
        if next_stop >= len(stops) or t >= limit_end:
            break
        stop_s, dwell = stops[next_stop]
        if s >= stop_s - 1e-9:
            # Arrived at a stop: hold still for the dwell (or until --duration
            # ends the drive), then go on.
            for _ in range(round(dwell / STEP_S)):
                if t >= limit_end:
                    break
                t += STEP_S
                distance.append(s)
                speed.append(0.0)
            next_stop += 1
            if next_stop >= len(stops):
                break
            continue
        while first_limit < len(limits) and limits[first_limit][0] < s - 1e-9:
            first_limit += 1
        allowed = v_max if road_speed is None else road_speed[line.segment_at(s)]
        j = first_limit
        while j < len(limits) and limits[j][0] - s < horizon:
            ls, lv = limits[j]
            allowed = min(allowed, math.sqrt(lv * lv + 2 * config.decel * max(0.0, ls - s)))
            j += 1
        v = min(v + config.accel * STEP_S, allowed)
        step = v * STEP_S
        if s + step >= stop_s:
            step, v = stop_s - s, 0.0  # brake the last centimetres onto the stop line
        elif step < 1e-3:
            step, v = 1e-3, 1e-3 / STEP_S  # never stall short of a stop line
        s += step
        t += STEP_S
        distance.append(s)
        speed.append(v)
    taken = tuple(stop for stop in stops[:-1] if stop[0] <= s)  # --duration may end the drive early
    return Trajectory(line, tuple(distance), tuple(speed), tuple(arrivals), taken)


def _segment_speeds(
    route: Route, labels: list[tuple[int, int]], line: Polyline, v_max: float
) -> list[float] | None:
    """The speed of each segment of ``line`` (from the route's road speeds, capped at v_max)."""
    if route.speeds is None:
        return None
    speeds = route.speeds
    out = []
    for k in range(len(line.xy) - 1):
        vertex = labels[line.source_index[k]][0]
        out.append(min(v_max, speeds[vertex % len(speeds)]))  # the last vertex of a lap: the next lap's first road
    return out


class DriveSim:
    """Epochs of a synthetic drive, at whatever rate the receiver is set to."""

    def __init__(self, config: DriveConfig, *, on_truth: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self.trajectory = plan(config, self._rng)
        self._on_truth = on_truth or (lambda record: None)
        route = config.route
        self._alts = route.altitudes
        self._vertex_s = [self.trajectory.line.cumulative[k] for k in range(len(self.trajectory.line.xy))]

    def header(self) -> list[dict[str, Any]]:
        """Truth records known before the drive: the route and the vertex arrivals."""
        c, traj = self.config, self.trajectory
        records: list[dict[str, Any]] = [{
            "type": "route", "name": c.route.name, "length_m": round(traj.line.length, 2),
            "vertices": len(c.route.points), "laps": c.laps, "start": format_time(c.start), "hz": c.hz,
            "seed": c.seed, "noise_m": c.noise_m, "kmh": c.kmh, "duration_s": round(traj.duration_s, 2),
            "stops": [{"distance_m": round(s, 2), "dwell_s": round(d, 2)} for s, d in traj.stops],
        }]  # fmt: skip
        for a in traj.arrivals:
            lat, lon = c.route.points[a.vertex]
            records.append({
                "type": "vertex", "vertex": a.vertex, "lap": a.lap,
                "time": format_time(c.start + dt.timedelta(milliseconds=a.offset_ms)), "offset_ms": a.offset_ms,
                "lat": lat, "lon": lon, "distance_m": round(a.distance_m, 3),
            })  # fmt: skip
        return records

    def _altitude(self, s: float) -> float:
        if self._alts is None:
            return self.config.altitude_m
        line, vs = self.trajectory.line, self._vertex_s
        k = min(max(bisect.bisect_right(vs, s) - 1, 0), len(vs) - 2)
        a0 = self._alts[line.source_index[k] % len(self._alts)]
        a1 = self._alts[line.source_index[k + 1] % len(self._alts)]
        return a0 + (a1 - a0) * (s - vs[k]) / (vs[k + 1] - vs[k])

    def epochs(self, receiver: Receiver | None = None) -> Iterator[Epoch]:
        c, rng, traj = self.config, self._rng, self.trajectory
        sigma = c.noise_m / math.sqrt(2)  # per axis: horizontal RMS = noise_m
        east = rng.gauss(0, sigma)
        north = rng.gauss(0, sigma)
        up = rng.gauss(0, sigma * 1.5)
        sats = 9
        track = traj.line.point(0.0)[2]
        end_ms = round(traj.duration_s * 1000)
        offset_ms = cycle = 0
        last_ms = 0
        while offset_ms <= end_ms:
            dt_s = (offset_ms - last_ms) / 1000
            last_ms = offset_ms
            phi = math.exp(-dt_s / CORRELATION_S)
            kick = math.sqrt(1 - phi * phi)
            east = phi * east + kick * rng.gauss(0, sigma)
            north = phi * north + kick * rng.gauss(0, sigma)
            up = phi * up + kick * rng.gauss(0, sigma * 1.5)
            radius = math.hypot(east, north)
            if radius > 3 * c.noise_m > 0:
                east, north = east * 3 * c.noise_m / radius, north * 3 * c.noise_m / radius
            if rng.random() < dt_s / 10:  # satellites rise and set every ~10 s
                sats = min(14, max(5, sats + rng.choice((-1, 1))))
            t_s = offset_ms / 1000
            s, v = traj.at(t_s)
            lat, lon, heading = traj.line.point(s)
            if v > 0.5:
                track = heading
            time = c.start + dt.timedelta(milliseconds=offset_ms)
            near_tunnel = any(start - 10 <= t_s < start + d + 10 for start, d in c.tunnels)
            in_tunnel = any(start <= t_s < start + d for start, d in c.tunnels)
            seen = sats - 4 if near_tunnel else sats
            hdop = round(min(9.0, max(0.6, 0.4 + 5.0 / seen + rng.gauss(0, 0.05))), 2)
            kinds = c.sentences if receiver is None else receiver.sentence_types(c.sentences, cycle)
            alt = self._altitude(s)
            truth: dict[str, Any] = {
                "type": "position", "time": format_time(time), "offset_ms": offset_ms,
                "lat": round(lat, 9), "lon": round(lon, 9), "alt": round(alt, 2), "speed": round(v, 3),
                "track": round(track, 2), "distance_m": round(s, 3), "fix": not in_tunnel,
            }  # fmt: skip
            fix = None
            if in_tunnel:
                lines = format_no_fix(time, talker=c.talker, sentences=kinds) if kinds else []
            else:
                n_lat, n_lon = traj.line.plane.to_latlon(*_shifted(traj.line, s, east, north))
                fix = Fix(time, n_lat, n_lon, alt=round(alt + up, 1), speed=round(v, 3), track=round(track, 2) % 360.0,
                          mode=3 if seen >= 4 else 2, hdop=hdop, sats=seen)  # fmt: skip
                lines = format_fix(fix, talker=c.talker, sentences=kinds) if kinds else []
                truth["reported"] = {"lat": round(n_lat, 9), "lon": round(n_lon, 9)}
            self._on_truth(truth)
            yield Epoch(offset_ms, tuple(lines), time, fix)
            cycle += 1
            interval = c.interval_ms if receiver is None else receiver.state.interval_ms
            offset_ms += interval


def _shifted(line: Polyline, s: float, east: float, north: float) -> tuple[float, float]:
    x, y, _ = line.point_xy(s)
    return x + east, y + north


def parse_tunnels(specs: Sequence[str]) -> tuple[tuple[float, float], ...]:
    """``START:DURATION`` seconds of stream time, e.g. ``120:30``."""
    spans = []
    for spec in specs:
        start, sep, duration = spec.partition(":")
        try:
            spans.append((float(start), float(duration)))
        except ValueError:
            raise ValueError(f"--tunnel takes START:DURATION in seconds, e.g. 120:30, got {spec!r}") from None
        if not sep:
            raise ValueError(f"--tunnel takes START:DURATION in seconds, e.g. 120:30, got {spec!r}")
    return tuple(spans)
