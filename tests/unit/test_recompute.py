from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from collector.recompute import RecomputePlanner, report_changed
from common.wire import DutyStatus, EtaMethod, EtaReport, EtaRow


def test_new_incidents_are_due_at_once_and_fleet_changes_are_throttled() -> None:
    planner = RecomputePlanner(min_interval_s=0.5, refresh_s=10.0)
    assert planner.due(0.0) == [] and planner.next_due() is None
    planner.incident_changed("A")
    planner.incident_changed("B")
    assert planner.due(0.0) == ["A", "B"] and planner.next_due() == float("-inf")
    planner.computed(["A", "B"], 0.0)
    assert planner.due(0.1) == [] and planner.next_due() == 10.0  # nothing changed: refresh later
    planner.fleet_changed()
    assert planner.due(0.1) == [] and planner.next_due() == 0.5
    assert planner.due(0.5) == ["A", "B"]
    planner.computed(["A"], 0.5)
    planner.incident_changed("B")  # reassigned: at once, whatever the throttle
    planner.computed(["B"], 0.5)
    planner.incident_changed("B")
    assert planner.due(0.6) == ["B"]
    planner.computed(["B"], 0.6)
    assert planner.due(10.4) == [] and planner.due(10.5) == ["A"]
    planner.incident_closed("A")
    assert "A" not in planner and planner.due(100.0) == ["B"]
    planner.computed(["gone"], 1.0)  # unknown ids are ignored


def test_planner_validation() -> None:
    with pytest.raises(ValueError):
        RecomputePlanner(min_interval_s=5.0, refresh_s=1.0)


ROW = EtaRow("A", 100.0, 1000.0, 1.0, DutyStatus.AVAILABLE, EtaMethod.MODEL, False)
REPORT = EtaReport("I", dt.datetime(2026, 11, 28, tzinfo=dt.UTC), "A", (ROW,))


def test_report_changed_ignores_small_drift_and_age() -> None:
    assert report_changed(None, REPORT)
    later = dataclasses.replace(REPORT, computed=REPORT.computed + dt.timedelta(seconds=5))
    aged = dataclasses.replace(later, units=(dataclasses.replace(ROW, eta_s=103.0, fix_age_s=6.0),))
    assert not report_changed(REPORT, aged)
    assert report_changed(REPORT, dataclasses.replace(aged, units=(dataclasses.replace(ROW, eta_s=106.0),)))
    assert report_changed(REPORT, dataclasses.replace(aged, units=(dataclasses.replace(ROW, stale=True),)))
    assert report_changed(REPORT, dataclasses.replace(aged, recommended=None))
    assert report_changed(REPORT, dataclasses.replace(aged, units=(ROW, dataclasses.replace(ROW, unit="B"))))
