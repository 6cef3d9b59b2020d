from __future__ import annotations

import datetime as dt

import pytest

from collector.fleet import FleetState, StalenessPolicy
from collector.incidents import IncidentBook
from collector.text import format_etas, format_incidents, format_units, human_age, human_distance, human_duration
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

UTC = dt.UTC
NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (12.4, "12 s"),
        (59.6, "1 min"),
        (200, "3 min 20 s"),
        (3599, "59 min 59 s"),
        (3600, "1 h 00 min"),
        (7530, "2 h 05 min"),
        (-3, "0 s"),
        (float("nan"), "?"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_human_age_and_distance() -> None:
    assert human_age(12.2) == "12 s ago" and human_age(0.3) == "just now" and human_age(None) == "never"
    assert human_distance(950.4) == "950 m" and human_distance(12_345) == "12.3 km"


def fleet_with_units() -> FleetState:
    fleet = FleetState(StalenessPolicy(report_interval_s=5.0))  # stale after 20 s
    for unit, age, seqs in (("PC-1", 12.0, (1, 2, 5)), ("PC-2", 300.0, (1,))):
        time = dt.datetime.fromtimestamp(NOW - age, UTC)
        fixes = [WireFix(unit, s, Fix(time - dt.timedelta(seconds=5 - s), 53.2352, -1.4211, speed=10.0)) for s in seqs]
        fleet.apply_fixes(unit, fixes, NOW - age)
    fleet.apply_status("PC-1", DutyStatus.AVAILABLE, NOW - 60)
    fleet.apply_state("PC-2", UnitState.OFFLINE, NOW - 200)
    fleet.apply_status("PC-3", DutyStatus.UNAVAILABLE, NOW)
    return fleet


def test_units_table_shows_ages_and_never_a_stale_position_as_fresh() -> None:
    text = format_units(fleet_with_units().views(NOW), NOW)
    lines = text.splitlines()
    assert lines[0].split() == ["UNIT", "DUTY", "LINK", "POSITION", "FIX", "SPEED", "SEQ", "MISSING", "DUPLICATES"]
    pc1, pc2, pc3 = lines[1:]
    assert "12 s ago" in pc1 and "STALE" not in pc1 and "36 km/h" in pc1 and pc1.split()[-2:] == ["2", "0"]
    assert "STALE 5 min 4 s ago" in pc2 and "offline 3 min 20 s (excluded)" in pc2
    assert "no fix" in pc3 and "unavailable" in pc3
    assert format_units([], NOW) == "No units have reported.\n"


def test_incidents_table() -> None:
    book = IncidentBook()
    opened = dt.datetime.fromtimestamp(NOW - 200, UTC)
    book.apply(Incident("INC-2", "noise", 4, 53.1, -1.2, IncidentStatus.OPEN, opened), NOW)
    book.apply(Incident("INC-1", "burglary", 1, 53.2, -1.4, IncidentStatus.OPEN, opened, ("PC-1", "PC-2")), NOW)
    book.apply(Incident("INC-0", "theft", 2, 53.2, -1.4, IncidentStatus.CLOSED, opened), NOW)
    lines = format_incidents(book, NOW).splitlines()
    assert [line.split()[0] for line in lines] == ["INCIDENT", "INC-1", "INC-2"]
    assert "3 min 20 s ago" in lines[1] and "PC-1, PC-2" in lines[1] and "P1" in lines[1]
    assert "INC-0" in format_incidents(book, NOW, include_closed=True)
    assert format_incidents(IncidentBook(), NOW) == "No open incidents.\n"


def test_etas_table_shows_ranges_for_stale_units_and_ages_brought_forward() -> None:
    computed = dt.datetime.fromtimestamp(NOW, UTC)
    rows = (
        EtaRow("PC-1", 200.0, 2400.0, 12.0, DutyStatus.AVAILABLE, EtaMethod.MODEL, False),
        EtaRow(
            "PC-9", 420.0, 5100.0, 3.0, DutyStatus.ENROUTE, EtaMethod.ROUTER, False, EtaConfidence.HIGH, assigned=True
        ),
        EtaRow(
            "PC-2",
            900.0,
            9000.0,
            300.0,
            DutyStatus.AVAILABLE,
            EtaMethod.FALLBACK,
            True,
            EtaConfidence.LOW,
            eta_min_s=150.0,
            offline=True,
        ),
    )
    text = format_etas(EtaReport("INC-1", computed, "PC-1", rows), NOW + 30)
    head, table = text.split("\n\n")
    assert "computed 30 s ago (08:00:00 UTC)" in head and "Recommended: PC-1" in head
    lines = table.splitlines()
    assert "3 min 20 s" in lines[1] and "42 s ago" in lines[1] and "RECOMMENDED" in lines[1]
    assert "7 min" in lines[2] and "assigned" in lines[2] and "router" in lines[2]
    assert "2 min 30 s to 15 min" in lines[3] and "STALE position" in lines[3] and "offline" in lines[3]
    assert "5 min 30 s ago" in lines[3] and "fallback" in lines[3]
    # The model's distance is labelled an estimate, the router's is a road's.
    assert "2.4 km est." in lines[1] and "9.0 km est." in lines[3] and "5.1 km" in lines[2] and "est." not in lines[2]
    assert lines[4] == "est. = no road distance: the straight line x [eta] circuity"
    routed_only = format_etas(EtaReport("INC-1", computed, "PC-9", rows[1:2]), NOW)
    assert "est." not in routed_only
    assert "soonest of" not in head  # every candidate listed: nothing to say
    truncated = format_etas(EtaReport("INC-1", computed, "PC-1", rows, candidates=25), NOW)
    assert "Showing the 3 soonest of 25 candidate units" in truncated and "max_units" in truncated
    empty = format_etas(EtaReport("INC-1", computed, None, ()), NOW)
    assert "Recommended: none" in empty and "No candidate units." in empty


def test_incident_open_documents_its_coordinates() -> None:
    from click.testing import CliRunner

    from collector.cli import main

    help_text = CliRunner().invoke(main, ["incident", "open", "--help"]).output
    assert "latitude in decimal degrees" in help_text and "Longitude in decimal degrees" in help_text
