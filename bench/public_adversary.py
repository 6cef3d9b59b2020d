"""How well can someone locate a police car from the public feed?

Simulates a day of a fleet driving a street grid like an urban patrol
(piecewise-linear drives at 20-60 km/h with stops at junctions, calls with time
on scene, parking on patrol, breaks at the station), runs the public policy
over it every PUBLISH_EVERY_S as the publisher would, and lets attackers who
see only the published unit snapshots estimate where each car is *now*:

  latest       the centre of the cell the feed shows now (it is delay-old)
  entry        the point the car most likely crossed into its shown cell
               (hysteresis puts it a known distance inside it)
  extrapolate  dead reckoning: the speed and heading between the last two
               cell changes carried forward to now while the car seems to move

It prints the median error of each (metres and in cells) over every shown car
at every snapshot, the best of them against the target of cell/3, the worst
unit's best median, and two hindsight reconstructions of the tracks (the
delay removed: where was the car at the published time) for scale; then the
same fleet published without the delay, as the baseline, and the ratio.

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
from common.wire import DutyStatus, Incident, IncidentStatus

SECRET = b"adversary-bench-secret-0123456789abcdef"
CENTRE = (53.235, -1.421)  # Chesterfield, Derbyshire
DAY = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
PUBLISH_EVERY_S = 30
FIX_EVERY_S = 10
BLOCK_M = 120.0  # street spacing
STREET_ANGLE = math.radians(17.0)  # streets do not run along the grid's axes
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


class Streets:
    """A rotated street grid around ``origin`` (projected metres)."""

    def __init__(self, origin: tuple[float, float]) -> None:
        self.origin = origin
        self.cos, self.sin = math.cos(STREET_ANGLE), math.sin(STREET_ANGLE)

    def xy(self, u: float, v: float) -> tuple[float, float]:
        return self.origin[0] + u * self.cos - v * self.sin, self.origin[1] + u * self.sin + v * self.cos


def drive(
    rng: random.Random,
    truth: Truth,
    streets: Streets,
    t: float,
    start: tuple[int, int],
    end: tuple[int, int],
    fast: bool,
) -> float:
    """Drive junction to junction along an L-shaped route; returns the arrival time."""
    (iu, iv), (ju, jv) = start, end
    legs = [(1, 0)] * abs(ju - iu) + [(0, 1)] * abs(jv - iv)
    signs = (1 if ju >= iu else -1, 1 if jv >= iv else -1)
    if rng.random() < 0.5:
        legs.reverse()
    u, v = iu, iv
    for du, dv in legs:
        speed = rng.uniform(11.0, 17.0) if fast else rng.uniform(6.0, 14.0)
        u, v = u + du * signs[0], v + dv * signs[1]
        t += BLOCK_M / speed
        truth.add(t, streets.xy(u * BLOCK_M, v * BLOCK_M))
        if rng.random() < (0.1 if fast else 0.3):  # lights, junctions, traffic
            t += rng.uniform(5.0, 40.0)
            truth.add(t, streets.xy(u * BLOCK_M, v * BLOCK_M))
    return t


def simulate_unit(rng: random.Random, streets: Streets, start_s: float, end_s: float) -> Truth:
    truth = Truth()
    station = (rng.randint(-10, 10), rng.randint(-10, 10))
    here = station
    t = start_s
    truth.add(t, streets.xy(here[0] * BLOCK_M, here[1] * BLOCK_M))
    truth.statuses.append((t, DutyStatus.AVAILABLE))
    while t < end_s:
        roll = rng.random()
        if roll < 0.35:  # a call: opened a few minutes before dispatch, blue lights there, time on scene
            target = (station[0] + rng.randint(-25, 25), station[1] + rng.randint(-25, 25))
            opened = t - rng.uniform(0, 300)
            truth.statuses.append((t, DutyStatus.ENROUTE))
            t = drive(rng, truth, streets, t, here, target, fast=True)
            truth.statuses.append((t, DutyStatus.ONSCENE))
            t += rng.uniform(10, 60) * 60
            truth.statuses.append((t, DutyStatus.AVAILABLE))
            where = streets.xy(target[0] * BLOCK_M, target[1] * BLOCK_M)
            truth.calls.append((opened, t, where, rng.choice(CALL_TYPES)))
        elif roll < 0.8:  # patrol somewhere, park and watch a while
            target = (station[0] + rng.randint(-20, 20), station[1] + rng.randint(-20, 20))
            t = drive(rng, truth, streets, t, here, target, fast=False)
            t += rng.uniform(2, 15) * 60
        else:  # back to the station
            target = station
            t = drive(rng, truth, streets, t, here, target, fast=False)
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


def attackers(cell_m: float, hysteresis: float) -> dict[str, Attacker]:
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

    return {"latest": latest, "entry": entry, "extrapolate": extrapolate, "call": call}


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
    close: dict[str, float]  # attacker -> share of guesses within cell/3 of the car now
    enroute: float  # the call attacker's median error for cars shown en route, metres
    worst_unit: tuple[str, float]  # the unit easiest to locate, and its best attacker's median
    hindsight: dict[str, float]  # track reconstruction at the published time, metres
    seconds: float

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
            share = self.close[name]
            lines.append(f"  {name:<12} {m:8.0f} m = {m / cell:5.2f} cell   ({share:5.1%} of guesses within cell/3)")
        name, m = self.best
        verdict = "ok" if m >= cell / 3 else "BELOW TARGET"
        lines.append(f"  best: {name} {m:.0f} m = {m / cell:.2f} cell (target >= 0.33 cell): {verdict}")
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
    streets = Streets(origin)
    warm_s = -2 * 3600.0  # units are already out when the day starts
    end_s = hours * 3600
    truths = {f"PC-{100 + k}": simulate_unit(rng, streets, warm_s, end_s) for k in range(units)}
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
    attack = attackers(cell_m, h)
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
