"""Time to recompute the ETA reports of UNITS units x INCIDENTS open incidents.

Builds a fleet of UNITS units scattered over a 20 x 20 km town (a third
assigned elsewhere, some stale, some offline) and INCIDENTS incidents, then
times, in the same run:

  baseline: a plain Python loop over (unit, incident) pairs, one Geod.inv call
            per pair, building the same reports (what one writes without numpy)
  cold:     EtaEngine.reports from scratch: every distance computed, in one
            Geod.inv call on arrays                          target < 20 ms
  warm:     the same after 10% of the units moved (the distance cache
            recomputes only their rows): the service's usual round

and prints each time and baseline/ours. Both produce the same reports
(checked).

    python bench/eta_compute.py [UNITS] [INCIDENTS]
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script, this folder comes first on the path, where bench/collector.py
# would shadow the collector package: the repository goes in front of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyproj import Geod

from collector.eta import EtaEngine, EtaPolicy, TravelModel
from collector.fleet import FleetState, StalenessPolicy
from common.fix import Fix
from common.wire import (
    DutyStatus,
    EtaConfidence,
    EtaMethod,
    EtaReport,
    EtaRow,
    Incident,
    IncidentStatus,
    UnitState,
    WireFix,
)

NOW = 1_800_000_000.0
BUSY = {DutyStatus.DISPATCHED, DutyStatus.ENROUTE, DutyStatus.ONSCENE, DutyStatus.UNAVAILABLE}


def build(units: int, incidents: int, rng: random.Random) -> tuple[FleetState, list[Incident]]:
    fleet = FleetState(StalenessPolicy(report_interval_s=5.0))
    for i in range(units):
        unit = f"PC-{i:04d}"
        age = rng.choice([1.0, 2.0, 3.0, 4.0, 60.0]) if i % 10 else 400.0
        time_ = dt.datetime.fromtimestamp(NOW - age, dt.UTC)
        lat, lon = 53.15 + rng.random() * 0.18, -1.55 + rng.random() * 0.30
        fleet.apply_fixes(unit, [WireFix(unit, 1, Fix(time_, lat, lon, speed=10.0))], NOW - age)
        fleet.apply_status(unit, DutyStatus.AVAILABLE if i % 3 else rng.choice(sorted(BUSY)), NOW - 100)
        if i % 17 == 0:
            fleet.apply_state(unit, UnitState.OFFLINE, NOW - 30)
    opened = dt.datetime.fromtimestamp(NOW - 60, dt.UTC)
    incs = [
        Incident(
            f"INC-{j:03d}",
            "call",
            1 + j % 4,
            53.15 + rng.random() * 0.18,
            -1.55 + rng.random() * 0.30,
            IncidentStatus.OPEN,
            opened,
            (f"PC-{(3 * j) % units:04d}",),
        )
        for j in range(incidents)
    ]
    return fleet, incs


def naive_reports(
    fleet: FleetState, incidents: list[Incident], model: TravelModel, policy: EtaPolicy
) -> list[EtaReport]:
    """The same reports, one pair at a time."""
    geod = Geod(ellps="WGS84")
    views = [v for v in fleet.views(NOW) if v.fix is not None]
    computed = dt.datetime.fromtimestamp(NOW, dt.UTC)
    out = []
    for incident in incidents:
        profile = model.profile(incident.priority)
        rows: list[tuple[float, str, EtaRow]] = []
        best: tuple[float, str] | None = None
        for v in views:
            assert v.fix is not None and v.fix_age_s is not None
            assigned = v.unit in incident.units
            if v.duty in BUSY and not assigned:
                continue
            geo = geod.inv(v.fix.lon, v.fix.lat, incident.lon, incident.lat)[2]
            road = model.circuity * geo
            vc, a = profile.cruise_mps, profile.accel_mps2
            travel = 2 * math.sqrt(road / a) if road <= vc * vc / a else vc / a + road / vc
            covered = policy.roam_mps * v.fix_age_s if v.stale else 0.0
            turnout = 0.0 if assigned else model.turnout_s
            eta = turnout + travel + covered / vc
            offline = v.connectivity is UnitState.OFFLINE
            confidence = EtaConfidence.LOW if v.stale or offline else EtaConfidence.MEDIUM
            eta_min = round(turnout + max(travel - covered / vc, 0.0), 1) if v.stale else None
            row = EtaRow(
                v.unit,
                round(eta, 1),
                round(road + covered),
                round(v.fix_age_s, 1),
                v.duty,
                EtaMethod.MODEL,
                v.stale,
                confidence,
                eta_min,
                assigned,
                offline,
            )
            rows.append((eta, v.unit, row))
            ok = not assigned and v.duty is DutyStatus.AVAILABLE and not v.stale and not offline and not v.excluded
            if ok and (best is None or (eta, v.unit) < best):
                best = (eta, v.unit)
        rows.sort(key=lambda r: (r[0], r[1]))
        keep = [r for r in rows if not r[2].assigned][: policy.max_units]
        keep += [r for r in rows if r[2].assigned or (best and r[1] == best[1])]
        chosen = sorted({r[1]: r for r in keep}.values(), key=lambda r: (r[2].eta_s, r[1]))
        recommended = best[1] if best else None
        out.append(EtaReport(incident.id, computed, recommended, tuple(r[2] for r in chosen), candidates=len(rows)))
    return out


RUNS = 9


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(best, median) wall time in seconds."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    incidents = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    rng = random.Random(1)
    fleet, incs = build(units, incidents, rng)
    engine = EtaEngine()

    baseline = naive_reports(fleet, incs, engine.model, engine.policy)
    ours = EtaEngine().reports(fleet.table(NOW), incs)
    assert ours == baseline, "the engine and the per-pair loop disagree"

    # The same number of runs for each, baseline and cold interleaved so that
    # load from elsewhere on the machine falls on both alike.
    base_times: list[float] = []
    cold_times: list[float] = []
    for _ in range(RUNS):
        base_times.append(timed(lambda: naive_reports(fleet, incs, engine.model, engine.policy), 1)[0])
        cold_times.append(timed(lambda: EtaEngine().reports(fleet.table(NOW), incs), 1)[0])
    t_base, m_base = min(base_times), statistics.median(base_times)
    t_cold, m_cold = min(cold_times), statistics.median(cold_times)

    # Warm rounds: 10% of the units report a new position before each round.
    movers = [u for i, u in enumerate(fleet.units) if i % 10 == 0]
    engine.reports(fleet.table(NOW), incs)
    seq = [1]

    def warm_round() -> None:
        seq[0] += 1
        when = dt.datetime.fromtimestamp(NOW - 0.5, dt.UTC)
        for unit in movers:
            lat = 53.15 + rng.random() * 0.18
            fleet.apply_fixes(
                unit, [WireFix(unit, seq[0], Fix(when + dt.timedelta(milliseconds=seq[0]), lat, -1.4))], NOW
            )
        engine.reports(fleet.table(NOW), incs)

    t_warm, m_warm = timed(warm_round, RUNS)

    rows = sum(len(r.units) for r in ours)
    busy = sum(1 for v in fleet.views(NOW) if v.duty in BUSY)
    print(f"fleet: {units} units ({busy} busy elsewhere: never listed, so never measured), {incidents} open incidents, "
          f"{rows} ETA rows published")  # fmt: skip
    print(f"best of {RUNS} runs each")
    print(f"baseline per-pair Python loop:       {t_base * 1000:8.1f} ms  (median {m_base * 1000:.1f} ms)")
    print(
        f"ours, cold (nothing cached):           {t_cold * 1000:8.1f} ms  (median {m_cold * 1000:.1f} ms; "
        f"target < 20 ms) -> {t_base / t_cold:.0f}x the baseline"
    )
    print(
        f"ours, warm ({len(movers)} units moved):       {t_warm * 1000:8.1f} ms  (median {m_warm * 1000:.1f} ms) "
        f"-> {t_base / t_warm:.0f}x the baseline"
    )


if __name__ == "__main__":
    main()
