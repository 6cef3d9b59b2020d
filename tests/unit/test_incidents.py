from __future__ import annotations

import dataclasses
import datetime as dt

from collector.incidents import IncidentBook, IncidentChange
from common.wire import Incident, IncidentStatus

OPENED = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
INC = Incident("INC-1", "burglary", 2, 53.24, -1.43, IncidentStatus.OPEN, OPENED)


def test_lifecycle_changes() -> None:
    book = IncidentBook()
    assert book.apply(INC, 1.0) is IncidentChange.NEW
    assert book.apply(INC, 2.0) is IncidentChange.UNCHANGED  # retained message again
    assigned = dataclasses.replace(INC, units=("PC-1",))
    assert book.apply(assigned, 3.0) is IncidentChange.ASSIGNED
    assert book.assigned_to("PC-1") == ["INC-1"] and book.assigned_to("PC-2") == []
    assert book.apply(dataclasses.replace(assigned, priority=1), 4.0) is IncidentChange.MOVED
    closed = dataclasses.replace(assigned, priority=1, status=IncidentStatus.CLOSED)
    assert book.apply(closed, 5.0) is IncidentChange.CLOSED
    assert book.open() == [] and book.assigned_to("PC-1") == []
    entry = book.entry("INC-1")
    assert entry is not None and entry.closed_at == 5.0
    assert book.apply(dataclasses.replace(closed, type="robbery"), 6.0) is IncidentChange.ASSIGNED
    assert book.entry("INC-1").closed_at == 5.0  # type: ignore[union-attr]
    assert book.apply(dataclasses.replace(closed, status=IncidentStatus.OPEN), 7.0) is IncidentChange.REOPENED
    assert book.clear("INC-1") is IncidentChange.REMOVED and "INC-1" not in book
    assert book.clear("INC-1") is IncidentChange.UNCHANGED
    quiet = (IncidentChange.UNCHANGED, IncidentChange.CONFLICT)
    assert all(c.affects_etas for c in IncidentChange if c not in quiet)
    assert not any(c.affects_etas for c in quiet)


def test_an_open_incidents_id_given_to_another_incident_is_refused() -> None:
    """Attack 5 at the collector: an id already open, another call under it."""
    book = IncidentBook()
    assert book.apply(INC, 1.0) is IncidentChange.NEW
    other = dataclasses.replace(INC, type="robbery", lat=53.0, opened=OPENED + dt.timedelta(seconds=1))
    assert book.apply(other, 2.0) is IncidentChange.CONFLICT
    assert book.get("INC-1") == INC  # the first stays
    assert book.apply(dataclasses.replace(INC, units=("PC-2",)), 3.0) is IncidentChange.ASSIGNED  # updates still go
    closed = dataclasses.replace(INC, status=IncidentStatus.CLOSED)
    book.apply(closed, 4.0)
    assert book.apply(other, 5.0) is IncidentChange.REOPENED  # a closed incident's id may be used again


def test_open_incidents_most_urgent_first_and_pruning() -> None:
    book = IncidentBook()
    later = OPENED + dt.timedelta(minutes=5)
    book.apply(dataclasses.replace(INC, id="A", priority=3), 1.0)
    book.apply(dataclasses.replace(INC, id="B", priority=1, opened=later), 1.0)
    book.apply(dataclasses.replace(INC, id="C", priority=1), 1.0)
    book.apply(dataclasses.replace(INC, id="D", status=IncidentStatus.CLOSED), 1.0)
    assert [i.id for i in book.open()] == ["C", "B", "A"]
    assert book.prune_closed(now=100.0, keep_s=200.0) == []
    assert book.prune_closed(now=300.0, keep_s=200.0) == ["D"] and len(book) == 3
