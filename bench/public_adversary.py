"""How well can someone locate a police car from the public feed?

Simulates a day of a fleet patrolling the real streets of Chesterfield (the
shipped OpenStreetMap extract: fastest paths over its roads at each road's
speed, stops at junctions with signals or a give-way) with a routine: each car
has a beat it patrols and parks on, two favourite hotspots (of six in the
town) where it parks and watches for 10-40 minutes, calls around its beat
(blue lights there, time on scene), breaks at the station. It runs the
public policy over it every PUBLISH_EVERY_S as the publisher would, and lets
attackers who see only the published unit snapshots estimate where each car
is *now*:

  latest       the centre of the cell the feed shows now (it is delay-old)
  entry        the point the car most likely crossed into its shown cell
               (hysteresis puts it a known distance inside it)
  extrapolate  dead reckoning: the speed and heading between the last two
               cell changes carried forward to now while the car seems to move
  call         a car shown en route is at the nearest call opened just before
  road         street snapping: the entry point moved to the nearest road
  hotspot      routine: the attacker knows the hotspots; a car shown in a cell
               holding one is guessed there (else as road)

It prints, for each, the median error (metres and in cells) over every shown
car at every snapshot and its 10th percentile (how close the best tenth of the
guesses come), the best median against the target of cell/3 and the smallest
p10 against cell/10, the worst unit's best median, and two hindsight
reconstructions of the tracks (the delay removed: where was the car at the
published time) for scale; then the same fleet published without the delay,
as the baseline, and the ratio.

    python bench/public_adversary.py [UNITS] [HOURS] [SEED]
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

# Run as a script, this folder comes first on the path, where bench/collector.py
# would shadow the collector package: the repository goes in front of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from pyproj import Transformer
from scipy.spatial import cKDTree

from collector.public import (
    Grid,
    PublicPolicy,
    PublicState,
    UnitInput,
    grid_for,
    parse_minute,
    snapshot,
    unit_pseudonym,
    utm_epsg,
)
from common.fix import Fix
from common.paths import DEFAULT_OSM_EXTRACT, data_file
from common.wire import DutyStatus, Incident, IncidentStatus
from simulators.roads import load_paths

SECRET = b"adversary-bench-secret-0123456789abcdef"
CENTRE = (53.235, -1.421)  # Chesterfield, Derbyshire
DAY = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
PUBLISH_EVERY_S = 30
FIX_EVERY_S = 10
STATION = (53.2338, -1.4264)  # Beetwell Street police station
# About a quarter of calls are of suppressed kinds, as in UK command-and-control data.
CALL_TYPES = (
    "burglary",
    "theft",
    "assault",
    "rtc",
    "disturbance",
    "asb",
    "suspicious",
    "alarm",
    "domestic",
    "concern_for_welfare",
)


@dataclass
class Truth:
    """A piecewise-linear track: waypoints (seconds from DAY, x, y), stops as repeated points."""

    times: list[float] = field(default_factory=list)
    points: list[tuple[float, float]] = field(default_factory=list)
    statuses: list[tuple[float, DutyStatus]] = field(default_factory=list)
    calls: list[tuple[float, float, tuple[float, float], str]] = field(
        default_factory=list
    )  # opened, closed, where, type

    def add(self, t: float, xy: tuple[float, float]) -> None:
        self.times.append(t)
        self.points.append(xy)

    def at(self, t: float) -> tuple[float, float]:
        i = bisect.bisect_right(self.times, t)
        if i == 0:
            return self.points[0]
        if i == len(self.times):
            return self.points[-1]
        t0, t1 = self.times[i - 1], self.times[i]
        (x0, y0), (x1, y1) = self.points[i - 1], self.points[i]
        f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
        return x0 + f * (x1 - x0), y0 + f * (y1 - y0)

    def status_at(self, t: float) -> DutyStatus:
        i = bisect.bisect_right([s for s, _ in self.statuses], t)
        return self.statuses[max(0, i - 1)][1]


def _project_many(grid: Grid, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """Grid.project for whole arrays (one pyproj call)."""
    x, y = Transformer.from_crs(4326, grid.epsg, always_xy=True).transform(lon, lat)
    return np.asarray(x), np.asarray(y)


class Town:
    """The force's real roads (the Chesterfield extract) in the feed's projected metres.

    Cars drive fastest paths over the drivable graph (collector.roads.paths) at
    each road's speed, stopping at some junctions with signals or a give-way;
    so every true position is on a street (street snapping), and attackers may
    snap their guesses to the streets too. ``hotspots`` are the town's routine
    places (a retail park, the town centre, a lay-by): junctions where patrols
    park again and again.
    """

    def __init__(self, grid: Grid, rng: random.Random, hotspots: int = 6) -> None:
        self.paths = load_paths(data_file(DEFAULT_OSM_EXTRACT))
        g = self.paths.graph
        lat, lon = g.seg_lat.ravel(), g.seg_lon.ravel()  # both ends of every segment
        x, y = _project_many(grid, lat, lon)
        self._xy = {(a, b): (c, d) for a, b, c, d in zip(lat.tolist(), lon.tolist(), x.tolist(), y.tolist())}
        seg_xy = np.stack([x.reshape(-1, 2), y.reshape(-1, 2)], axis=2)  # (segments, end, x/y)
        nx, ny = _project_many(grid, g.node_lat, g.node_lon)
        self.node_xy = np.column_stack([nx, ny])
        origin = grid.project(*CENTRE)
        assert origin is not None
        self.central = np.flatnonzero(np.hypot(nx - origin[0], ny - origin[1]) < 3500)
        self.station = self.paths.nearest_node(*STATION)
        self.hotspots = [int(self.central[rng.randrange(len(self.central))]) for _ in range(hotspots)]
        # Points every ~20 m along every road, for snapping guesses to the streets.
        pieces = np.maximum(1, np.ceil(np.hypot(*(seg_xy[:, 1] - seg_xy[:, 0]).T) / 20)).astype(int)
        owner = np.repeat(np.arange(len(seg_xy)), pieces)
        f = (np.arange(len(owner)) - np.repeat(np.cumsum(pieces) - pieces, pieces)) / pieces[owner]
        self._road = cKDTree(seg_xy[owner, 0] + f[:, None] * (seg_xy[owner, 1] - seg_xy[owner, 0]))

    def near(self, node: int, radius_m: float, rng: random.Random) -> int:
        d = np.hypot(*(self.node_xy - self.node_xy[node]).T)
        choices = np.flatnonzero((d <= radius_m) & (d > 150))
        return int(choices[rng.randrange(len(choices))]) if len(choices) else node

    def on_road(self, xy: tuple[float, float]) -> tuple[float, float]:
        _, i = self._road.query(xy)
        x, y = self._road.data[i]
        return float(x), float(y)

    def drive(self, rng: random.Random, truth: Truth, t: float, start: int, end: int, fast: bool) -> float:
        """Drive the fastest path from junction to junction; returns the arrival time."""
        path = self.paths.geometry(self.paths.fastest(start, end))
        pace = rng.uniform(1.0, 1.2) if fast else rng.uniform(0.6, 0.9)  # of each road's speed
        junctions = set(path.junctions)
        for k in range(1, len(path.points)):
            a, b = self._xy[path.points[k - 1]], self._xy[path.points[k]]
            t += math.dist(a, b) / (path.speeds_mps[k - 1] * pace)
            truth.add(t, b)
            if k in junctions and rng.random() < (0.15 if fast else 0.5):  # lights, giving way, traffic
                t += rng.uniform(5.0, 40.0)
                truth.add(t, b)
        return t


def simulate_unit(rng: random.Random, town: Town, start_s: float, end_s: float) -> Truth:
    """A day of one patrol car with a routine: a beat it patrols, two favourite hotspots
    where it parks and watches, calls around its beat, breaks at the station."""
    truth = Truth()
    beat = int(town.central[rng.randrange(len(town.central))])
    favourites = sorted(town.hotspots, key=lambda h: math.dist(town.node_xy[h], town.node_xy[beat]))[:2]
    here = town.station
    t = start_s
    truth.add(t, tuple(town.node_xy[here]))
    truth.statuses.append((t, DutyStatus.AVAILABLE))
    while t < end_s:
        roll = rng.random()
        if roll < 0.3:  # a call around the beat: blue lights there, time on scene
            target = town.near(beat, 3000, rng)
            opened = t - rng.uniform(0, 300)
            truth.statuses.append((t, DutyStatus.ENROUTE))
            t = town.drive(rng, truth, t, here, target, fast=True)
            truth.statuses.append((t, DutyStatus.ONSCENE))
            t += rng.uniform(10, 60) * 60
            truth.statuses.append((t, DutyStatus.AVAILABLE))
            truth.calls.append((opened, t, tuple(town.node_xy[target]), rng.choice(CALL_TYPES)))
        elif roll < 0.65:  # patrol the beat, park and watch a while
            target = town.near(beat, 1500, rng)
            t = town.drive(rng, truth, t, here, target, fast=False)
            t += rng.uniform(2, 15) * 60
        elif roll < 0.85:  # the routine: one of its two hotspots, a longer watch
            target = favourites[rng.randrange(len(favourites))]
            t = town.drive(rng, truth, t, here, target, fast=False)
            t += rng.uniform(10, 40) * 60
        else:  # back to the station
            target = town.station
            t = town.drive(rng, truth, t, here, target, fast=False)
            t += rng.uniform(15, 45) * 60
        truth.add(t, truth.points[-1])
        here = target
    return truth


def fixes_of(truth: Truth, grid: Grid, start_s: float, end_s: float) -> tuple[Fix, ...]:
    fixes = []
    t = start_s
    while t <= end_s:
        lat, lon = grid.unproject(*truth.at(t))
        fixes.append(Fix(DAY + dt.timedelta(seconds=t), lat, lon))
        t += FIX_EVERY_S
    return tuple(fixes)


@dataclass
class Track:
    """What an attacker has learnt of one pseudonym: its cell changes (time, centre)."""

    changes: list[tuple[float, tuple[float, float]]] = field(default_factory=list)
    status: str = ""
    sent_at: float = math.nan  # when it was first shown en route this time

    def see(self, as_of: float, centre: tuple[float, float], status: str) -> None:
        if not self.changes or self.changes[-1][1] != centre:
            self.changes.append((as_of, centre))
        if status in ("dispatched", "enroute") and self.status not in ("dispatched", "enroute"):
            self.sent_at = as_of
        self.status = status


def entry_point(track: Track, k: int, cell_m: float, hysteresis: float) -> tuple[float, float]:
    """Where the car probably was when its k-th cell was first shown: ``hysteresis``
    inside the cell, on the side it came from."""
    _, (cx, cy) = track.changes[k]
    if k == 0:
        return cx, cy
    _, (px, py) = track.changes[k - 1]
    d = math.hypot(cx - px, cy - py)
    if d == 0 or d > 1.5 * cell_m * math.sqrt(2):  # a jump (reappearance, forced move): no side known
        return cx, cy
    back = cell_m / 2 - hysteresis
    return cx - (cx - px) / d * back, cy - (cy - py) / d * back


@dataclass
class Seen:
    """What the feed shows now besides a car's own track: its status, and the calls."""

    status: str
    calls: list[tuple[tuple[float, float], str, float]]  # (centre, status, opened) of every shown call


Attacker = Callable[[Track, float, float, Seen], tuple[float, float]]


def attackers(cell_m: float, hysteresis: float, town: Town) -> dict[str, Attacker]:
    def latest(track: Track, as_of: float, now: float, seen: Seen) -> tuple[float, float]:
        return track.changes[-1][1]

    def entry(track: Track, as_of: float, now: float, seen: Seen) -> tuple[float, float]:
        return entry_point(track, len(track.changes) - 1, cell_m, hysteresis)

    def extrapolate(track: Track, as_of: float, now: float, seen: Seen) -> tuple[float, float]:
        k = len(track.changes) - 1
        if k < 1:
            return track.changes[-1][1]
        (t0, _), (t1, _) = track.changes[k - 1], track.changes[k]
        e0, e1 = entry_point(track, k - 1, cell_m, hysteresis), entry_point(track, k, cell_m, hysteresis)
        gap = max(t1 - t0, PUBLISH_EVERY_S)
        dist = math.dist(e0, e1)
        speed = dist / gap
        if dist == 0 or speed * (as_of - t1) > cell_m:  # it would have left this cell by now: it stopped
            return track.changes[-1][1]
        ux, uy = (e1[0] - e0[0]) / dist, (e1[1] - e0[1]) / dist
        ahead = speed * (now - t1)
        return e1[0] + ux * ahead, e1[1] + uy * ahead

    def call(track: Track, as_of: float, now: float, seen: Seen) -> tuple[float, float]:
        """A car shown en route was sent to a call opened shortly before it set off:
        guess it is now at the nearest such call the feed shows."""
        here = track.changes[-1][1]
        if seen.status not in ("dispatched", "enroute"):
            return here
        sent = track.sent_at
        recent = [c for c, status, opened in seen.calls if status != "closed" and sent - 600 <= opened <= sent + 60]
        return min(recent, key=lambda centre: math.dist(centre, here), default=here)

    def road(track: Track, as_of: float, now: float, seen: Seen) -> tuple[float, float]:
        """Cars are on the streets: the entry point moved to the nearest road."""
        return town.on_road(entry(track, as_of, now, seen))

    hotspots = [tuple(town.node_xy[h]) for h in town.hotspots]

    def hotspot(track: Track, as_of: float, now: float, seen: Seen) -> tuple[float, float]:
        """Routine: patrols park at the same few places. A car shown in a cell holding one of
        them (the attacker knows them all) is guessed there; otherwise on the road."""
        cx, cy = track.changes[-1][1]
        reach = cell_m / 2 + hysteresis
        inside = [h for h in hotspots if abs(h[0] - cx) <= reach and abs(h[1] - cy) <= reach]
        if inside:
            return min(inside, key=lambda h: math.dist(h, (cx, cy)))
        return road(track, as_of, now, seen)

    return {"latest": latest, "entry": entry, "extrapolate": extrapolate, "call": call, "road": road,
            "hotspot": hotspot}  # fmt: skip


def interpolated(track: Track, t: float, cell_m: float, hysteresis: float) -> tuple[float, float]:
    """Hindsight: the track through the entry points. A car that stayed long in a
    cell is taken to have waited at its entry point, then driven on at 10 m/s."""
    times = [c[0] for c in track.changes]
    k = bisect.bisect_right(times, t) - 1
    here = entry_point(track, k, cell_m, hysteresis)
    if k + 1 >= len(times):
        return here
    there = entry_point(track, k + 1, cell_m, hysteresis)
    leave = max(times[k], times[k + 1] - math.dist(here, there) / 10.0)
    if t <= leave:
        return here
    f = (t - leave) / (times[k + 1] - leave)
    return here[0] + f * (there[0] - here[0]), here[1] + f * (there[1] - here[1])


@dataclass
class Result:
    cell_m: float
    delay_s: int
    samples: int
    medians: dict[str, float]  # attacker -> median error now, metres
    p10: dict[str, float]  # attacker -> 10th percentile of the error now: how close its best guesses come
    close: dict[str, float]  # attacker -> share of guesses within cell/3 of the car now
    enroute: float  # the call attacker's median error for cars shown en route, metres
    worst_unit: tuple[str, float]  # the unit easiest to locate, and its best attacker's median
    hindsight: dict[str, float]  # track reconstruction at the published time, metres
    seconds: float

    @property
    def best_p10(self) -> tuple[str, float]:
        name = min(self.p10, key=lambda k: self.p10[k])
        return name, self.p10[name]

    @property
    def best(self) -> tuple[str, float]:
        name = min(self.medians, key=lambda k: self.medians[k])
        return name, self.medians[name]

    def report(self) -> str:
        cell = self.cell_m
        lines = [
            f"public feed adversary: cell {cell:g} m, delay {self.delay_s} s, {self.samples} unit-snapshots "
            f"({self.seconds:.1f} s)",
            "median error locating a car NOW from the public snapshots:",
        ]
        for name, m in self.medians.items():
            share, low = self.close[name], self.p10[name]
            lines.append(f"  {name:<12} {m:8.0f} m = {m / cell:5.2f} cell   p10 {low:5.0f} m = {low / cell:4.2f} "
                         f"cell   ({share:5.1%} of guesses within cell/3)")  # fmt: skip
        name, m = self.best
        verdict = "ok" if m >= cell / 3 else "BELOW TARGET"
        lines.append(f"  best: {name} {m:.0f} m = {m / cell:.2f} cell (target >= 0.33 cell): {verdict}")
        name, low = self.best_p10
        verdict = "ok" if low >= cell / 10 else "BELOW TARGET"
        lines.append(f"  closest tenth: {name} p10 {low:.0f} m = {low / cell:.2f} cell "
                     f"(target >= 0.10 cell): {verdict}")  # fmt: skip
        m = self.enroute
        lines.append(f"  cars shown en route, call attacker: {m:.0f} m = {m / cell:.2f} cell")
        unit, m = self.worst_unit
        lines.append(f"  easiest unit ({unit}): best attacker's median {m:.0f} m = {m / cell:.2f} cell")
        lines.append("hindsight track reconstruction (error at the published time, delay removed):")
        for name, m in self.hindsight.items():
            lines.append(f"  {name:<12} {m:8.0f} m = {m / cell:5.2f} cell")
        return "\n".join(lines)


def measure(units: int = 30, hours: float = 24.0, seed: int = 1, policy: PublicPolicy | None = None) -> Result:
    started = time.perf_counter()
    policy = policy or PublicPolicy(centre=CENTRE)
    grid = grid_for(policy.epsg or utm_epsg(*CENTRE), policy.cell_m)
    origin = grid.project(*CENTRE)
    assert origin is not None
    rng = random.Random(seed)
    town = Town(grid, rng)
    warm_s = -2 * 3600.0  # units are already out when the day starts
    end_s = hours * 3600
    truths = {f"PC-{100 + k}": simulate_unit(rng, town, warm_s, end_s) for k in range(units)}
    fixes = {unit: fixes_of(truth, grid, warm_s, end_s) for unit, truth in truths.items()}
    owner = {unit_pseudonym(SECRET, unit, DAY.date()): unit for unit in truths}
    calls = [
        (
            opened,
            closed,
            unit,
            Incident(
                f"CAD-{n}",
                kind,
                2,
                *grid.unproject(*where),
                IncidentStatus.OPEN,
                DAY + dt.timedelta(seconds=opened),
                (unit,),
            ),
        )
        for n, (unit, (opened, closed, where, kind)) in enumerate(
            (unit, c) for unit, truth in truths.items() for c in truth.calls
        )
    ]
    cell_m, h = policy.cell_m, policy.hysteresis
    attack = attackers(cell_m, h, town)
    errors: dict[str, list[float]] = {name: [] for name in attack}
    per_unit: dict[str, dict[str, list[float]]] = {u: {name: [] for name in attack} for u in truths}
    tracks: dict[str, Track] = {}
    shown_at: list[tuple[str, float]] = []
    enroute: list[float] = []
    state = PublicState()
    t = -float(policy.unit_delay_s + 120)
    while t <= end_s:
        now = DAY + dt.timedelta(seconds=t)
        inputs = [UnitInput(u, truths[u].status_at(t), fixes[u]) for u in truths]
        incidents = [
            incident if t < closed else replace(incident, status=IncidentStatus.CLOSED, units=())
            for opened, closed, _, incident in calls
            if opened <= t < closed + 3600
        ]
        snap, state = snapshot(policy, state, now, inputs, incidents, SECRET)
        shown_calls = []
        for feature in snap.calls["features"]:
            lon, lat = feature["geometry"]["coordinates"]
            props = feature["properties"]
            opened_s = (parse_minute(props["opened"]) - DAY).total_seconds()
            shown_calls.append((grid.project(lat, lon), props["status"], opened_s))
        as_of_s = (parse_minute(snap.units["as_of"]) - DAY).total_seconds()
        if 0 <= as_of_s < 86400:  # one UTC day of snapshots: the pseudonyms hold all of it
            for feature in snap.units["features"]:
                token = feature["properties"]["unit"]
                lon, lat = feature["geometry"]["coordinates"]
                centre = grid.project(lat, lon)
                assert centre is not None
                track = tracks.setdefault(token, Track())
                track.see(as_of_s, centre, feature["properties"]["status"])
                unit = owner[token]
                truth_now = truths[unit].at(t)
                seen = Seen(feature["properties"]["status"], shown_calls)
                for name, guess in attack.items():
                    error = math.dist(guess(track, as_of_s, t, seen), truth_now)
                    errors[name].append(error)
                    per_unit[unit][name].append(error)
                    if name == "call" and seen.status in ("dispatched", "enroute"):
                        enroute.append(error)
                shown_at.append((token, as_of_s))
        t += PUBLISH_EVERY_S
    hindsight: dict[str, list[float]] = {"cell centre": [], "interpolated": []}
    for token, as_of_s in shown_at:
        track, truth = tracks[token], truths[owner[token]].at(as_of_s)
        k = bisect.bisect_right([c[0] for c in track.changes], as_of_s) - 1
        hindsight["cell centre"].append(math.dist(track.changes[k][1], truth))
        hindsight["interpolated"].append(math.dist(interpolated(track, as_of_s, cell_m, h), truth))
    unit_best = {
        unit: min(statistics.median(e) for e in by_attacker.values())
        for unit, by_attacker in per_unit.items()
        if all(by_attacker.values())
    }
    worst = min(unit_best.items(), key=lambda item: item[1])
    return Result(
        cell_m=cell_m,
        delay_s=policy.unit_delay_s,
        samples=len(errors["latest"]),
        medians={name: statistics.median(e) for name, e in errors.items()},
        p10={name: sorted(e)[int(0.1 * (len(e) - 1))] for name, e in errors.items()},
        close={name: sum(x < cell_m / 3 for x in e) / len(e) for name, e in errors.items()},
        enroute=statistics.median(enroute) if enroute else math.nan,
        worst_unit=worst,
        hindsight={name: statistics.median(e) for name, e in hindsight.items()},
        seconds=time.perf_counter() - started,
    )


def main() -> None:
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    hours = float(sys.argv[2]) if len(sys.argv) > 2 else 24.0
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    result = measure(units, hours, seed)
    print(result.report())
    # Baseline, same fleet and seed: the grid alone, no delay.
    baseline = measure(units, hours, seed, PublicPolicy(centre=CENTRE, unit_delay_s=0))
    _, best = result.best
    base_name, base = baseline.best
    print(
        f"baseline without the delay: best {base_name} {base:.0f} m = {base / baseline.cell_m:.2f} cell; "
        f"with it: {best:.0f} m, ratio {best / base:.1f}"
    )


if __name__ == "__main__":
    main()
