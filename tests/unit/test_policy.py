"""The reporting policy, rule by rule, and its properties."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.policy import Reason, ReportPolicy, ReportSettings, distance_m, heading_change_deg
from common.fix import Fix

T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
LAT, LON = 53.0, -1.5
M_PER_DEG_LAT = 111_195.0


def fix(t: float, north_m: float = 0.0, *, speed: float | None = 10.0, track: float | None = 0.0,
        hdop: float | None = 1.0, east_m: float = 0.0) -> Fix:  # fmt: skip
    return Fix(
        T0 + dt.timedelta(seconds=t),
        LAT + north_m / M_PER_DEG_LAT,
        LON + east_m / (M_PER_DEG_LAT * math.cos(math.radians(LAT))),
        speed=speed, track=track, hdop=hdop, mode=3, sats=8,
    )  # fmt: skip


def reasons(policy: ReportPolicy, fixes: list[Fix]) -> list[Reason]:
    return [policy.decide(f).reason for f in fixes]


def test_helpers() -> None:
    assert abs(distance_m(fix(0), fix(0, 1000.0)) - 1000.0) < 1.0
    assert heading_change_deg(350, 10) == 20
    assert heading_change_deg(10, 350) == 20
    assert heading_change_deg(0, 180) == 180
    assert heading_change_deg(90, 90 + 720) == 0


def test_first_fix_then_interval_while_moving() -> None:
    p = ReportPolicy(ReportSettings(interval_s=5, min_distance_m=1000, min_heading_deg=90))
    # 10 m/s north: 10 m per second, below the distance rule.
    got = reasons(p, [fix(t, 10.0 * t) for t in range(12)])
    assert got[0] is Reason.FIRST
    assert [i for i, r in enumerate(got) if r is Reason.INTERVAL] == [5, 10]
    assert all(r is Reason.WAIT for i, r in enumerate(got) if i not in (0, 5, 10))


def test_distance_rule() -> None:
    p = ReportPolicy(ReportSettings(interval_s=100, min_distance_m=50, min_heading_deg=90))
    got = reasons(p, [fix(t, 30.0 * t, speed=30.0) for t in range(6)])
    # 30 m/s: 60 m after 2 s -> reported at t=2, 4
    assert got == [Reason.FIRST, Reason.WAIT, Reason.DISTANCE, Reason.WAIT, Reason.DISTANCE, Reason.WAIT]


def test_heading_rule_wraps_at_360_and_needs_motion() -> None:
    p = ReportPolicy(ReportSettings(interval_s=100, min_distance_m=1000, min_heading_deg=20))
    assert p.decide(fix(0, track=350.0)).reason is Reason.FIRST
    assert p.decide(fix(1, 10, track=5.0)).reason is Reason.WAIT  # 15 degrees
    assert p.decide(fix(2, 20, track=11.0)).reason is Reason.HEADING  # 21 degrees across north
    # Stationary: the track of a parked receiver is noise, not a turn.
    q = ReportPolicy(ReportSettings(interval_s=100, min_distance_m=1000, min_heading_deg=20))
    q.decide(fix(0, speed=0.1, track=0.0))
    assert q.decide(fix(1, speed=0.1, track=180.0)).reason is Reason.DRIFT


def test_stop_is_reported_then_drift_suppressed_then_heartbeat() -> None:
    p = ReportPolicy(ReportSettings(interval_s=100, min_distance_m=50, heartbeat_s=60, drift_m_per_hdop=5))
    assert p.decide(fix(0, 0.0)).report
    assert p.decide(fix(1, 10.0, speed=0.2)).reason is Reason.STOPPED  # where it stopped
    # Parked, HDOP 4: wanders up to 20 m; the radius is max(50, 4 * 5) = 50 m.
    wander = [fix(2 + i, 10.0 + (15.0 if i % 2 else -15.0), speed=0.3, hdop=4.0) for i in range(58)]
    assert {r for r in reasons(p, wander)} == {Reason.DRIFT}
    assert p.decide(fix(61, 12.0, speed=0.0, hdop=4.0)).reason is Reason.HEARTBEAT
    # Poor HDOP widens the radius beyond min_distance_m: 30 * 5 = 150 m.
    assert p.decide(fix(62, 110.0, speed=0.2, hdop=30.0)).reason is Reason.DRIFT
    assert p.decide(fix(63, 300.0, speed=0.2, hdop=30.0)).reason is Reason.DISTANCE  # slow creep, far


def test_missing_speed_is_estimated_from_positions() -> None:
    p = ReportPolicy(ReportSettings(interval_s=3, min_distance_m=1000))
    got = reasons(p, [fix(t, 15.0 * t, speed=None, track=None) for t in range(5)])
    assert got == [Reason.FIRST, Reason.WAIT, Reason.WAIT, Reason.INTERVAL, Reason.WAIT]


def test_implausible_jump_is_dropped_then_a_consistent_new_position_accepted() -> None:
    s = ReportSettings(interval_s=0, max_speed_ms=90, jump_confirm=3)
    p = ReportPolicy(s)
    assert p.decide(fix(0, 0.0)).report
    assert p.decide(fix(1, 10.0)).report
    # 5 km in one second: multipath or a glitch.
    jump = p.decide(fix(2, 5000.0))
    assert (jump.report, jump.reason, jump.jump) == (False, Reason.JUMP, True)
    assert p.decide(fix(3, 30.0)).report  # back on track: plausible from the anchor (t=1)
    assert p.jumps == 1
    # A receiver that really was wrong before: the new place repeats, consistently.
    assert not p.decide(fix(4, 9000.0)).report
    assert not p.decide(fix(5, 9010.0)).report
    third = p.decide(fix(6, 9020.0))
    assert third.report and third.jump  # re-anchored on the third agreeing fix
    assert p.decide(fix(7, 9030.0)).report and not p.decide(fix(8, 9040.0)).jump


def test_flag_mode_reports_jumps_marked() -> None:
    p = ReportPolicy(ReportSettings(interval_s=0, jump_action="flag"))
    p.decide(fix(0))
    d = p.decide(fix(1, 5000.0))
    assert d.report and d.jump


def test_jump_tolerates_position_noise_at_high_rates() -> None:
    # 10 Hz, HDOP 2: fixes 8 m apart in 0.1 s look like 80 m/s, but that is within noise.
    p = ReportPolicy(ReportSettings(interval_s=0, max_speed_ms=50))
    p.decide(fix(0))
    assert not p.decide(fix(0.1, 8.0, hdop=2.0)).jump


def test_time_going_backwards_is_not_reported() -> None:
    p = ReportPolicy(ReportSettings(interval_s=0))
    p.decide(fix(10))
    assert p.decide(fix(9, 1.0)).reason is Reason.JUMP


moving_drive = st.lists(
    st.tuples(st.floats(0.1, 3.0), st.floats(1.5, 40.0), st.floats(0, 359.9)), min_size=2, max_size=80
)


@settings(max_examples=150)
@given(steps=moving_drive, interval=st.floats(0.5, 30.0))
def test_while_moving_no_gap_between_reports_exceeds_interval_plus_one_step(
    steps: list[tuple[float, float, float]], interval: float
) -> None:
    """A plausible moving drive: the gap between reports never exceeds interval_s + the fix period."""
    p = ReportPolicy(ReportSettings(interval_s=interval))
    t, north = 0.0, 0.0
    last_report = None
    for dt_s, speed, track in steps:
        t += dt_s
        north += speed * dt_s
        f = dataclasses.replace(fix(t, north), speed=speed, track=track)
        d = p.decide(f)
        assert not d.jump
        if d.report:
            last_report = t
        assert last_report is not None
        assert t - last_report <= interval + dt_s


@settings(max_examples=150)
@given(jitter=st.lists(st.tuples(st.floats(-1, 1), st.floats(-1, 1)), min_size=1, max_size=200),
       hdop=st.floats(0.5, 30.0))  # fmt: skip
def test_a_parked_car_reports_only_heartbeats(jitter: list[tuple[float, float]], hdop: float) -> None:
    s = ReportSettings(heartbeat_s=60, drift_m_per_hdop=5)
    p = ReportPolicy(s)
    p.decide(fix(0, speed=0.0, hdop=hdop))
    # Any two points of the jitter are closer than the drift radius max(50 m, 5 m * hdop).
    amplitude = 0.35 * max(s.min_distance_m, 5 * hdop)
    for i, (dn, de) in enumerate(jitter, start=1):
        d = p.decide(fix(i, dn * amplitude, east_m=de * amplitude, speed=0.2, hdop=hdop))
        assert d.report == (d.reason is Reason.HEARTBEAT)
        assert d.reason in (Reason.DRIFT, Reason.HEARTBEAT)
