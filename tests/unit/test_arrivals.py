"""Arrivals measured: dispatch, arrival (stopped within the radius, or onscene), the prediction, the table."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from pathlib import Path

from collector.arrivals import Arrival, ArrivalDetector
from collector.store import Store, WriteBatch
from collector.text import format_arrivals
from common.fix import Fix
from common.wire import DutyStatus, EtaConfidence, EtaMethod, EtaReport, EtaRow, Incident, IncidentStatus

T0 = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
INCIDENT = Incident("INC-1", "burglary", 1, 53.2400, -1.4300, IncidentStatus.OPEN, T0)
NORTH = 1 / 111_320  # a metre of latitude


def report(unit: str, eta: float) -> EtaReport:
    row = EtaRow(unit, eta, 1000.0, 1.0, DutyStatus.AVAILABLE, EtaMethod.ROUTER, False, EtaConfidence.HIGH, None,
                 False, False)  # fmt: skip
    return EtaReport(INCIDENT.id, T0, unit, (row,), 1)


def fix(seconds: float, metres_north: float, speed: float | None) -> Fix:
    return Fix(T0 + dt.timedelta(seconds=seconds), INCIDENT.lat + metres_north * NORTH, INCIDENT.lon, speed=speed)


def dispatched(detector: ArrivalDetector, at: float = 60.0) -> None:
    detector.incident(dataclasses.replace(INCIDENT, units=("PC-1",)), T0.timestamp() + at, report("PC-1", 200.0))


def test_arrival_is_slow_within_the_radius_not_driving_past() -> None:
    detector = ArrivalDetector(radius_m=100, slow_mps=3)
    detector.incident(INCIDENT, T0.timestamp() + 10, report("PC-1", 200.0))  # not assigned yet
    assert detector.position("PC-1", fix(20, 50, 0.0)) == []
    dispatched(detector)
    assert detector.position("PC-1", fix(100, 2000, 15.0)) == []
    assert detector.position("PC-1", fix(200, 40, 14.0)) == []  # passing by at speed
    assert detector.position("PC-1", fix(230, 300, 1.0)) == []  # stopped, but 300 m away
    (arrival,) = detector.position("PC-1", fix(250, 60, 2.0))
    assert (arrival.unit, arrival.incident, arrival.priority, arrival.how) == ("PC-1", "INC-1", 1, "position")
    assert arrival.actual_s == 190.0 and arrival.response_s == 250.0
    assert (arrival.predicted_s, arrival.method) == (200.0, "router")
    assert detector.position("PC-1", fix(260, 10, 0.0)) == []  # counted once


def test_speed_from_the_previous_fix_when_the_receiver_gives_none() -> None:
    detector = ArrivalDetector()
    dispatched(detector)
    assert detector.position("PC-1", fix(100, 90, None)) == []  # no previous fix: unknown speed
    assert detector.position("PC-1", fix(101, 70, None)) == []  # 20 m/s
    assert len(detector.position("PC-1", fix(111, 60, None))) == 1  # 1 m/s


def test_onscene_is_an_arrival_and_closing_or_unassigning_drops_the_dispatch() -> None:
    detector = ArrivalDetector()
    dispatched(detector)
    (arrival,) = detector.status("PC-1", DutyStatus.ONSCENE, T0.timestamp() + 400)
    assert arrival.how == "onscene" and arrival.actual_s == 340.0
    other = ArrivalDetector()
    dispatched(other)
    other.incident(INCIDENT, T0.timestamp() + 70, None)  # PC-1 taken off it
    assert other.status("PC-1", DutyStatus.ONSCENE, T0.timestamp() + 400) == []
    dispatched(other)
    other.incident(dataclasses.replace(INCIDENT, status=IncidentStatus.CLOSED), T0.timestamp() + 80, None)
    assert other.pending() == []


def test_no_prediction_when_the_unit_was_not_in_the_report() -> None:
    detector = ArrivalDetector()
    detector.incident(dataclasses.replace(INCIDENT, units=("PC-9",)), T0.timestamp(), report("PC-1", 200.0))
    (arrival,) = detector.status("PC-9", DutyStatus.ONSCENE, T0.timestamp() + 100)
    assert arrival.predicted_s is None and arrival.method is None


def test_arrivals_are_stored_once_and_reported_by_priority_and_method(tmp_path: Path) -> None:
    first = Arrival("INC-1", "PC-1", 1, 1000.0, 1060.0, 1260.0, 180.0, "router", "position")
    second = Arrival("INC-2", "PC-2", 3, 2000.0, 2030.0, 2330.0, 360.0, "model", "onscene")

    async def go() -> list[Arrival]:
        async with await Store.open(tmp_path / "c.sqlite") as store:
            await store.write(WriteBatch(arrivals=[first, second]))
            await store.write(WriteBatch(arrivals=[first]))  # again: ignored
            return await store.arrivals()

    stored = asyncio.run(go())
    assert stored == [first, second]
    text = format_arrivals(stored)
    assert "2 arrivals measured, 2 with an ETA at dispatch" in text
    rows = {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line.strip()) for line in text.splitlines()[3:])}
    assert rows["all"][:3] == ["2", "15 %", "10 %"]  # errors 10 % and 20 %; p90 = sorted[int(0.9)]
    assert rows["priority 1"][1] == "10 %" and rows["priority 3"][1] == "20 %"
    assert rows["method router"] == ["1", "10 %", "10 %", "3 min 20 s", "4 min 20 s"]
    assert format_arrivals([]) == "No arrivals measured yet.\n"
