"""The vectorized ETA engine agrees with a plain per-pair loop, whatever the fleet."""

from __future__ import annotations

import datetime as dt
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from collector.eta import EtaEngine, EtaPolicy, TravelModel
from collector.fleet import FleetState, StalenessPolicy
from common.fix import Fix
from common.wire import DutyStatus, Incident, IncidentStatus, UnitState, WireFix

NOW = 1_800_000_000.0
GEOD = Geod(ellps="WGS84")
BUSY = {DutyStatus.DISPATCHED, DutyStatus.ENROUTE, DutyStatus.ONSCENE, DutyStatus.UNAVAILABLE}

units = st.lists(
    st.tuples(
        st.floats(53.0, 53.3),
        st.floats(-1.6, -1.2),
        st.floats(0.0, 300.0),  # fix age
        st.none() | st.sampled_from(list(DutyStatus)),
        st.booleans(),  # offline
    ),
    min_size=1,
    max_size=25,
)
incidents = st.lists(
    st.tuples(st.floats(53.0, 53.3), st.floats(-1.6, -1.2), st.integers(1, 4), st.sets(st.integers(0, 24))),
    min_size=1,
    max_size=4,
)


def naive(
    fleet: FleetState, incident: Incident, model: TravelModel, policy: EtaPolicy
) -> tuple[str | None, dict[str, float]]:
    """One unit at a time, as one would write it without numpy."""
    etas: dict[str, float] = {}
    best: tuple[float, str] | None = None
    profile = model.profile(incident.priority)
    for view in fleet.views(NOW):
        if view.fix is None:
            continue
        assigned = view.unit in incident.units
        if view.duty in BUSY and not assigned:
            continue
        geo = GEOD.inv(view.fix.lon, view.fix.lat, incident.lon, incident.lat)[2]
        travel = float(profile.travel_time(model.circuity * geo))
        widen = policy.roam_mps * view.fix_age_s / profile.cruise_mps if view.stale else 0.0  # type: ignore[operator]
        eta = (0.0 if assigned else model.turnout_s) + travel + widen
        etas[view.unit] = eta
        offline = view.connectivity is UnitState.OFFLINE
        recommendable = not assigned and view.duty is DutyStatus.AVAILABLE and not view.stale and not offline
        if recommendable and (best is None or (eta, view.unit) < best):
            best = (eta, view.unit)
    return (None if best is None else best[1]), etas


@settings(max_examples=60, deadline=None)
@given(units, incidents)
def test_engine_matches_a_per_pair_loop(unit_specs: list[tuple], incident_specs: list[tuple]) -> None:  # type: ignore[type-arg]
    fleet = FleetState(StalenessPolicy(report_interval_s=30.0))
    for i, (lat, lon, age, status, offline) in enumerate(unit_specs):
        unit = f"U{i:02d}"
        time = dt.datetime.fromtimestamp(math.floor((NOW - age) * 1000) / 1000, dt.UTC)
        fleet.apply_fixes(unit, [WireFix(unit, 1, Fix(time, lat, lon))], NOW)
        fleet.apply_status(unit, status, NOW)
        if offline:
            fleet.apply_state(unit, UnitState.OFFLINE, NOW)
    opened = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
    incs = [
        Incident(f"I{j}", "x", p, lat, lon, IncidentStatus.OPEN, opened, tuple(f"U{k:02d}" for k in sorted(assigned)))
        for j, (lat, lon, p, assigned) in enumerate(incident_specs)
    ]
    policy = EtaPolicy(max_units=100)
    engine = EtaEngine(policy=policy)
    for report, incident in zip(engine.reports(fleet.table(NOW), incs), incs):
        recommended, etas = naive(fleet, incident, engine.model, policy)
        if recommended is not None and report.recommended != recommended:
            # Only a tie after rounding may pick differently.
            assert math.isclose(etas[report.recommended], etas[recommended], abs_tol=1e-6)  # type: ignore[index]
        else:
            assert report.recommended == recommended
        assert {r.unit for r in report.units} == set(etas)
        for row in report.units:
            assert abs(row.eta_s - etas[row.unit]) <= 0.051
        assert [r.eta_s for r in report.units] == sorted(r.eta_s for r in report.units)
