from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from collector.fleet import STATUS_CODES, FleetState, StalenessPolicy
from common.fix import Fix
from common.wire import DutyStatus, UnitState, WireFix

UTC = dt.UTC
EPOCH = 1_800_000_000.0


def fix_at(seconds: float, lat: float = 53.0, lon: float = -1.0) -> Fix:
    return Fix(dt.datetime.fromtimestamp(EPOCH + seconds, UTC), lat, lon)


def report(fleet: FleetState, unit: str, seqs_and_times: list[tuple[int, float]]) -> None:
    for seq, t in seqs_and_times:
        fleet.apply_fixes(unit, [WireFix(unit, seq, fix_at(t))], received=EPOCH + t + 0.2)


def test_late_track_fix_never_overrides_newer_pos() -> None:
    fleet = FleetState()
    live = WireFix("PC-1", 10, fix_at(100, lat=53.1))
    assert fleet.apply_fixes("PC-1", [live], EPOCH + 100).moved
    backlog = [WireFix("PC-1", s, fix_at(s * 10, lat=53.0)) for s in range(5, 10)]
    outcome = fleet.apply_fixes("PC-1", backlog, EPOCH + 101)
    assert len(outcome.new) == 5 and not outcome.moved
    view = fleet.view("PC-1", EPOCH + 102)
    assert view.seq == 10 and view.fix == live.fix
    # Seqs before the first one heard of are not gaps: the backlog filled 5-9.
    assert view.missing == 0 and view.gap_ranges == ()


def test_gaps_are_tracked_and_filled_by_backlog() -> None:
    fleet = FleetState()
    report(fleet, "PC-1", [(1, 0), (2, 5), (6, 25), (9, 40)])
    view = fleet.view("PC-1", EPOCH + 40)
    assert view.missing == 5 and view.gap_ranges == ((3, 5), (7, 8))
    outcome = fleet.apply_fixes("PC-1", [WireFix("PC-1", s, fix_at(s * 5)) for s in (3, 4, 5, 5)], EPOCH + 41)
    assert [f.seq for f in outcome.new] == [3, 4, 5] and outcome.duplicates == 1
    view = fleet.view("PC-1", EPOCH + 41)
    assert view.missing == 2 and view.gap_ranges == ((7, 8),) and view.duplicates == 1


def test_staleness_uses_the_estimated_report_interval() -> None:
    fleet = FleetState(StalenessPolicy(factor=2.0, grace_s=10.0))
    report(fleet, "PC-1", [(s, s * 5.0) for s in range(1, 8)])  # every 5 s
    last = 35.0
    view = fleet.view("PC-1", EPOCH + last + 19.9)
    assert view.report_interval_s == 5.0 and view.stale_after_s == 20.0
    assert not view.stale and view.fix_age_s == pytest.approx(19.9)
    assert fleet.view("PC-1", EPOCH + last + 20.1).stale
    # A unit reporting every 30 s has a longer threshold.
    report(fleet, "PC-2", [(s, s * 30.0) for s in range(1, 6)])
    assert fleet.view("PC-2", EPOCH + 150 + 60).stale_after_s == 70.0
    assert not fleet.view("PC-2", EPOCH + 150 + 60).stale


def test_interval_is_robust_to_one_long_silence_and_can_be_configured() -> None:
    fleet = FleetState(StalenessPolicy(unit_intervals={"PC-9": 60.0}))
    report(fleet, "PC-1", [(1, 0), (2, 5), (3, 10), (4, 610), (5, 615), (6, 620)])  # a tunnel of 10 minutes
    assert fleet.view("PC-1", EPOCH + 620).report_interval_s == 5.0
    report(fleet, "PC-9", [(1, 0), (2, 1), (3, 2)])
    assert fleet.view("PC-9", EPOCH + 2).stale_after_s == 130.0
    fleet = FleetState(StalenessPolicy(report_interval_s=1.0))
    report(fleet, "PC-1", [(1, 0), (2, 30)])
    assert fleet.view("PC-1", EPOCH + 30).stale_after_s == 12.0


def test_no_fix_is_stale_and_fix_age_is_never_negative() -> None:
    fleet = FleetState()
    fleet.apply_status("PC-1", DutyStatus.AVAILABLE, EPOCH)
    view = fleet.view("PC-1", EPOCH)
    assert view.fix is None and view.stale and view.fix_age_s is None
    report(fleet, "PC-2", [(1, 100)])  # a fix "from the future" (collector clock behind)
    assert fleet.view("PC-2", EPOCH + 50).fix_age_s == 0.0


def test_connectivity_and_duty_are_separate_facts() -> None:
    fleet = FleetState(StalenessPolicy(offline_exclude_after_s=120))
    report(fleet, "PC-1", [(1, 0)])
    assert fleet.apply_status("PC-1", DutyStatus.AVAILABLE, EPOCH + 1)
    assert not fleet.apply_status("PC-1", DutyStatus.AVAILABLE, EPOCH + 2)
    assert fleet.apply_state("PC-1", UnitState.OFFLINE, EPOCH + 10)
    view = fleet.view("PC-1", EPOCH + 100)
    assert view.duty is DutyStatus.AVAILABLE and view.duty_since == EPOCH + 1
    assert view.connectivity is UnitState.OFFLINE and view.connectivity_since == EPOCH + 10
    assert not view.excluded
    assert fleet.view("PC-1", EPOCH + 131).excluded
    fleet.apply_state("PC-1", UnitState.ONLINE, EPOCH + 140)
    assert not fleet.view("PC-1", EPOCH + 141).excluded


def test_table_columns_match_views() -> None:
    fleet = FleetState(StalenessPolicy(report_interval_s=5.0, offline_exclude_after_s=60))
    for i in range(100):  # past the initial column capacity
        unit = f"PC-{i:03d}"
        report(fleet, unit, [(1, float(i))])
        fleet.apply_status(unit, list(DutyStatus)[i % 5], EPOCH)
        if i % 7 == 0:
            fleet.apply_state(unit, UnitState.OFFLINE, EPOCH + i)
    fleet.apply_status("PC-XYZ", DutyStatus.AVAILABLE, EPOCH)  # no fix
    now = EPOCH + 100
    table = fleet.table(now)
    assert table.units == fleet.units and len(table.units) == 101
    index = table.index()
    for view in fleet.views(now):
        i = index[view.unit]
        assert table.has_fix[i] == (view.fix is not None)
        assert table.stale[i] == view.stale
        assert table.excluded[i] == view.excluded
        assert table.offline[i] == (view.connectivity is UnitState.OFFLINE)
        assert table.status[i] == (-1 if view.duty is None else STATUS_CODES[view.duty])
        if view.fix is not None:
            assert table.lat[i] == view.fix.lat and table.fix_age[i] == pytest.approx(view.fix_age_s)
    assert np.isnan(table.lat[index["PC-XYZ"]])


def test_restore_unit_rebuilds_seq_and_position() -> None:
    fleet = FleetState()
    latest = WireFix("PC-1", 20, fix_at(100))
    fleet.restore_unit("PC-1", latest, received=EPOCH + 100, seq_span=(10, 20), gaps=[(15, 16)],
                       recent_intervals=[5.0, 5.0])  # fmt: skip
    assert fleet.apply_fixes("PC-1", [latest], EPOCH + 200).duplicates == 1  # the retained pos again
    assert len(fleet.apply_fixes("PC-1", [WireFix("PC-1", 15, fix_at(50))], EPOCH + 200).new) == 1
    view = fleet.view("PC-1", EPOCH + 100)
    assert view.seq == 20 and view.missing == 1 and view.report_interval_s == 5.0


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        StalenessPolicy(factor=-1)
    with pytest.raises(ValueError):
        StalenessPolicy(min_interval_s=10, max_interval_s=5)
