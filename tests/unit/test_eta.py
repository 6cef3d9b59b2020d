from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest
from pyproj import Geod

from collector.eta import (
    EtaEngine,
    EtaPolicy,
    RouteFailure,
    RouteTable,
    SpeedProfile,
    TravelModel,
    geodesic_m,
)
from collector.fleet import FleetState, StalenessPolicy
from common.fix import Fix
from common.wire import DutyStatus, EtaConfidence, EtaMethod, Incident, IncidentStatus, UnitState, WireFix

UTC = dt.UTC
NOW = 1_800_000_000.0
INC_LAT, INC_LON = 53.2400, -1.4300
OPENED = dt.datetime(2026, 11, 28, tzinfo=UTC)
INCIDENT = Incident("INC-1", "burglary", 1, INC_LAT, INC_LON, IncidentStatus.OPEN, OPENED)
POLICY = StalenessPolicy(report_interval_s=5.0)  # stale after 20 s


def place(fleet: FleetState, unit: str, north_m: float, *, age: float = 1.0, status: DutyStatus | None = None) -> None:
    """Put ``unit`` ``north_m`` metres north of the incident, with a fix ``age`` seconds old."""
    lat = INC_LAT + north_m / 111_250.0
    time = dt.datetime.fromtimestamp(NOW - age, UTC)
    seq = fleet.view(unit, NOW).seq + 1 if unit in fleet and fleet.view(unit, NOW).seq else 1  # type: ignore[operator]
    fleet.apply_fixes(unit, [WireFix(unit, seq, Fix(time, lat, INC_LON))], NOW - age)
    if status is not None:
        fleet.apply_status(unit, status, NOW - 100)


def test_travel_time_is_sqrt_then_linear_and_smooth() -> None:
    p = SpeedProfile(cruise_mps=15.0, accel_mps2=0.1)
    d_c2 = p.crossover_m
    assert d_c2 == pytest.approx(15.0**2 / 0.1)
    short, long = 500.0, 10_000.0
    assert p.travel_time(short) == pytest.approx(2 * math.sqrt(short / 0.1))
    assert p.travel_time(long) == pytest.approx(15.0 / 0.1 + long / 15.0)
    # Continuous with the same slope where the regimes meet (Kolesar & Walker).
    eps = 1e-3
    below, above = p.travel_time(d_c2 - eps), p.travel_time(d_c2 + eps)
    assert above - below == pytest.approx(2 * eps / 15.0, rel=1e-3)
    times = p.travel_time(np.linspace(0, 50_000, 1000))
    assert np.all(np.diff(times) > 0) and times[0] == 0.0


def test_geodesic_matches_a_per_pair_loop() -> None:
    rng = np.random.default_rng(7)
    lat1, lon1 = rng.uniform(-80, 80, 300), rng.uniform(-180, 180, 300)
    lat2, lon2 = rng.uniform(-80, 80, 300), rng.uniform(-180, 180, 300)
    geod = Geod(ellps="WGS84")
    naive = [geod.inv(b, a, d, c)[2] for a, b, c, d in zip(lat1, lon1, lat2, lon2)]
    assert np.allclose(geodesic_m(lat1, lon1, lat2, lon2), naive, rtol=0, atol=1e-6)
    matrix = geodesic_m(lat1[:, None], lon1[:, None], lat2[None, :5], lon2[None, :5])
    assert matrix.shape == (300, 5)
    assert matrix[17, 3] == pytest.approx(geod.inv(lon1[17], lat1[17], lon2[3], lat2[3])[2])


def model_eta(model: TravelModel, north_m: float, priority: int = 1, turnout: bool = True) -> float:
    geo = float(geodesic_m(INC_LAT + north_m / 111_250.0, INC_LON, INC_LAT, INC_LON))
    return float(model.travel_time(geo, priority)) + (model.turnout_s if turnout else 0.0)


def test_recommendation_is_nearest_available_fresh_online_unit() -> None:
    fleet = FleetState(POLICY)
    place(fleet, "NEAR", 800, status=DutyStatus.AVAILABLE)
    place(fleet, "MID", 2000, status=DutyStatus.AVAILABLE)
    place(fleet, "FAR", 6000, status=DutyStatus.AVAILABLE)
    place(fleet, "BUSY", 300, status=DutyStatus.ONSCENE)  # elsewhere: not a candidate
    engine = EtaEngine()
    (report,) = engine.reports(fleet.table(NOW), [INCIDENT])
    assert report.recommended == "NEAR"
    assert [r.unit for r in report.units] == ["NEAR", "MID", "FAR"]
    row = report.units[0]
    assert row.eta_s == pytest.approx(model_eta(engine.model, 800), abs=0.06)
    assert row.method is EtaMethod.MODEL and row.confidence is EtaConfidence.MEDIUM and not row.stale
    assert row.fix_age_s == 1.0 and row.distance_m == pytest.approx(800 * 1.35, rel=0.01)
    assert report.computed == dt.datetime.fromtimestamp(NOW, UTC)

    # The nearest unit becomes unavailable: the recommendation moves on.
    fleet.apply_status("NEAR", DutyStatus.UNAVAILABLE, NOW)
    (report,) = engine.reports(fleet.table(NOW), [INCIDENT])
    assert report.recommended == "MID" and "NEAR" not in [r.unit for r in report.units]


def test_stale_offline_and_unknown_units_are_listed_but_never_recommended() -> None:
    fleet = FleetState(POLICY)
    place(fleet, "STALE", 500, age=120.0, status=DutyStatus.AVAILABLE)
    place(fleet, "OFFLINE", 600, status=DutyStatus.AVAILABLE)
    fleet.apply_state("OFFLINE", UnitState.OFFLINE, NOW - 5)
    place(fleet, "UNKNOWN", 700)
    place(fleet, "OK", 3000, status=DutyStatus.AVAILABLE)
    engine = EtaEngine(policy=EtaPolicy(roam_mps=10.0))
    (report,) = engine.reports(fleet.table(NOW), [INCIDENT])
    assert report.recommended == "OK"
    rows = {r.unit: r for r in report.units}
    stale = rows["STALE"]
    assert stale.stale and stale.confidence is EtaConfidence.LOW and stale.fix_age_s == 120.0
    # Widened by what it could have driven since: 120 s x 10 m/s, at the cruising speed.
    cruise = engine.model.profile(1).cruise_mps
    assert stale.eta_s == pytest.approx(model_eta(engine.model, 500) + 1200 / cruise, abs=0.1)
    assert stale.eta_min_s == pytest.approx(max(model_eta(engine.model, 500) - 1200 / cruise, 15.0), abs=0.1)
    assert stale.distance_m == pytest.approx(500 * 1.35 + 1200, rel=0.01)
    assert rows["OFFLINE"].offline and rows["OFFLINE"].confidence is EtaConfidence.LOW
    assert rows["UNKNOWN"].status is None and rows["OK"].eta_s > rows["UNKNOWN"].eta_s
    etas = [r.eta_s for r in report.units]
    assert etas == sorted(etas)


def test_assigned_units_are_listed_with_their_eta_and_no_turnout() -> None:
    fleet = FleetState(POLICY)
    place(fleet, "P1", 1000, status=DutyStatus.ENROUTE)
    place(fleet, "P2", 400, status=DutyStatus.AVAILABLE)
    incident = dataclasses.replace(INCIDENT, units=("P1", "GHOST"))  # GHOST never reported
    engine = EtaEngine()
    (report,) = engine.reports(fleet.table(NOW), [incident])
    rows = {r.unit: r for r in report.units}
    assert set(rows) == {"P1", "P2"} and rows["P1"].assigned and not rows["P2"].assigned
    assert rows["P1"].eta_s == pytest.approx(model_eta(engine.model, 1000, turnout=False), abs=0.06)
    assert report.recommended == "P2"
    fleet.apply_status("P1", DutyStatus.AVAILABLE, NOW)  # still assigned: not recommended again
    fleet.apply_status("P2", DutyStatus.DISPATCHED, NOW)
    (report,) = engine.reports(fleet.table(NOW), [incident])
    assert report.recommended is None and [r.unit for r in report.units] == ["P1"]


def test_max_units_keeps_the_soonest_and_the_recommendation() -> None:
    fleet = FleetState(POLICY)
    for i in range(30):
        place(fleet, f"U{i:02d}", 300 + 100 * i)  # unknown duty: listed, not recommendable
    place(fleet, "AVAIL", 20_000, status=DutyStatus.AVAILABLE)
    engine = EtaEngine(policy=EtaPolicy(max_units=5))
    (report,) = engine.reports(fleet.table(NOW), [INCIDENT])
    assert [r.unit for r in report.units] == ["U00", "U01", "U02", "U03", "U04", "AVAIL"]
    assert report.recommended == "AVAIL" and report.candidates == 31  # and the table says 6 of 31


def test_ties_go_to_the_smallest_unit_id() -> None:
    fleet = FleetState(POLICY)
    for unit in ("ZULU", "ALPHA", "MIKE"):
        place(fleet, unit, 1500, status=DutyStatus.AVAILABLE)
    (report,) = EtaEngine().reports(fleet.table(NOW), [INCIDENT])
    assert report.recommended == "ALPHA" and [r.unit for r in report.units] == ["ALPHA", "MIKE", "ZULU"]


def test_priority_changes_speed() -> None:
    fleet = FleetState(POLICY)
    place(fleet, "A", 5000, status=DutyStatus.AVAILABLE)
    engine = EtaEngine()
    urgent, routine = engine.reports(fleet.table(NOW), [INCIDENT, dataclasses.replace(INCIDENT, id="I4", priority=4)])
    assert urgent.units[0].eta_s < routine.units[0].eta_s


def test_distance_cache_recomputes_only_what_moved() -> None:
    fleet = FleetState(POLICY)
    for i in range(50):
        place(fleet, f"U{i:02d}", 100.0 * i, status=DutyStatus.AVAILABLE)
    incidents = [dataclasses.replace(INCIDENT, id=f"I{j}", lat=INC_LAT + j / 1000) for j in range(4)]
    engine = EtaEngine()
    first = engine.reports(fleet.table(NOW), incidents)
    assert engine.pairs_computed == 200
    assert engine.reports(fleet.table(NOW), incidents) == first and engine.pairs_computed == 200
    place(fleet, "U07", 5.0, age=0.5)  # newer fixes: the units moved
    place(fleet, "U08", 6.0, age=0.5)
    again = engine.reports(fleet.table(NOW), incidents)
    assert engine.pairs_computed == 200 + 2 * 4
    assert again == EtaEngine().reports(fleet.table(NOW), incidents)  # same as from scratch
    moved = [dataclasses.replace(incidents[0], lat=INC_LAT + 0.01), *incidents[1:]]
    engine.reports(fleet.table(NOW), moved)
    assert engine.pairs_computed == 208 + 50
    place(fleet, "NEW", 10.0, status=DutyStatus.AVAILABLE)  # a unit never seen grows the cache
    (report, *_) = engine.reports(fleet.table(NOW), moved)
    assert report == EtaEngine().reports(fleet.table(NOW), moved)[0]


def test_router_answers_replace_the_model_and_failures_say_fallback() -> None:
    fleet = FleetState(POLICY)
    place(fleet, "A", 1000, status=DutyStatus.AVAILABLE)
    place(fleet, "B", 1500, status=DutyStatus.AVAILABLE)
    place(fleet, "C", 2500, status=DutyStatus.AVAILABLE)
    engine = EtaEngine(policy=EtaPolicy(router_units=2))
    table = fleet.table(NOW)
    (request,) = engine.route_requests(table, [INCIDENT])
    assert request.units == ("A", "B") and request.destination == (INC_LAT, INC_LON)
    answer = RouteTable("INC-1", ("A", "B"), np.array([900.0, 60.0]), np.array([5000.0, math.nan]))
    (report,) = engine.reports(table, [INCIDENT], {"INC-1": answer})
    rows = {r.unit: r for r in report.units}
    assert rows["A"].method is EtaMethod.ROUTER and rows["A"].confidence is EtaConfidence.HIGH
    assert rows["A"].eta_s == pytest.approx(915.0) and rows["A"].distance_m == 5000.0
    assert rows["B"].method is EtaMethod.MODEL  # no route found for B: the model stands
    assert report.recommended == "B"
    (report,) = engine.reports(table, [INCIDENT], {"INC-1": RouteFailure("INC-1", "connection refused")})
    assert {r.method for r in report.units} == {EtaMethod.FALLBACK}
    assert report.recommended == "A"


def test_no_incidents_or_no_units() -> None:
    engine = EtaEngine()
    assert engine.reports(FleetState().table(NOW), []) == []
    (report,) = engine.reports(FleetState().table(NOW), [INCIDENT])
    assert report.units == () and report.recommended is None


def test_model_validation() -> None:
    with pytest.raises(ValueError):
        SpeedProfile(0.0, 1.0)
    with pytest.raises(ValueError):
        TravelModel(circuity=0.9)
    with pytest.raises(ValueError):
        TravelModel(profiles=(SpeedProfile(1.0, 1.0),))
    for bad in ({"max_units": -1}, {"roam_mps": float("nan")}, {"router_time_factor": 0.0}):
        with pytest.raises(ValueError):
            EtaPolicy(**bad)  # type: ignore[arg-type]


def test_a_forgotten_incident_frees_its_column_without_leaving_values() -> None:
    fleet = FleetState(POLICY)
    for i in range(5):
        place(fleet, f"U{i}", 500.0 * (i + 1), status=DutyStatus.AVAILABLE)
    engine = EtaEngine()
    engine.reports(fleet.table(NOW), [INCIDENT])
    engine.forget("INC-1")
    engine.forget("never-seen")
    successor = dataclasses.replace(INCIDENT, id="INC-2")  # same place, reusing the freed column
    (report,) = engine.reports(fleet.table(NOW), [successor])
    assert engine.pairs_computed == 10  # computed afresh, not read from the old column
    assert report == EtaEngine().reports(fleet.table(NOW), [successor])[0]
