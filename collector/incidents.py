"""Incidents as the retained ``incidents/<id>`` topics say: open, closed, who is assigned.

Pure. The newest message for an incident replaces what was known of it (MQTT
keeps per-topic order from one publisher, and the topic is retained, so the
last one received is the current one); an empty retained message deletes it.

An update keeps the incident's ``opened`` time. A message for an OPEN
incident with another ``opened`` is a different incident given the same id
(a CAD counter reset, two sources numbering alike): it is refused
(:attr:`IncidentChange.CONFLICT`) rather than silently replacing the first.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from common.wire import Incident, IncidentStatus

__all__ = ["IncidentBook", "IncidentChange", "IncidentEntry", "conflicts", "same_call"]


class IncidentChange(enum.StrEnum):
    NEW = "new"
    MOVED = "moved"  # location or priority changed: every ETA changes
    ASSIGNED = "assigned"  # only the assigned units (or the type) changed
    CLOSED = "closed"
    REOPENED = "reopened"
    REMOVED = "removed"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"  # refused: the id of an open incident, given to another one

    @property
    def affects_etas(self) -> bool:
        return self not in (IncidentChange.UNCHANGED, IncidentChange.CONFLICT)


def conflicts(current: Incident | None, incoming: Incident) -> bool:
    """Whether ``incoming`` is another incident under the id of ``current``, which is open."""
    return current is not None and current.status is IncidentStatus.OPEN and current.opened != incoming.opened


def same_call(a: Incident, b: Incident) -> bool:
    """The same call whatever its ``opened`` time: what a resend of an opening says."""
    return (a.id, a.type, a.priority, a.lat, a.lon, a.status, a.units) == (
        b.id, b.type, b.priority, b.lat, b.lon, b.status, b.units)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IncidentEntry:
    incident: Incident
    updated: float  # when the current version was received
    closed_at: float | None  # when it was first seen closed


class IncidentBook:
    """Every incident heard of, open and closed."""

    def __init__(self) -> None:
        self._entries: dict[str, IncidentEntry] = {}

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[IncidentEntry]:
        return iter(self._entries.values())

    def get(self, incident_id: str) -> Incident | None:
        entry = self._entries.get(incident_id)
        return None if entry is None else entry.incident

    def entry(self, incident_id: str) -> IncidentEntry | None:
        return self._entries.get(incident_id)

    def apply(self, incident: Incident, received: float) -> IncidentChange:
        old = self._entries.get(incident.id)
        if conflicts(old.incident if old else None, incident):
            return IncidentChange.CONFLICT
        closed = incident.status is IncidentStatus.CLOSED
        closed_at = received if closed else None
        if old is not None and closed and old.closed_at is not None:
            closed_at = old.closed_at
        self._entries[incident.id] = IncidentEntry(incident, received, closed_at)
        if old is None:
            return IncidentChange.CLOSED if closed else IncidentChange.NEW
        before = old.incident
        if before == incident:
            return IncidentChange.UNCHANGED
        if before.status is not incident.status:
            return IncidentChange.CLOSED if closed else IncidentChange.REOPENED
        if (before.lat, before.lon, before.priority) != (incident.lat, incident.lon, incident.priority):
            return IncidentChange.MOVED
        return IncidentChange.ASSIGNED

    def clear(self, incident_id: str) -> IncidentChange:
        """Its retained message was deleted."""
        return IncidentChange.REMOVED if self._entries.pop(incident_id, None) else IncidentChange.UNCHANGED

    def open(self) -> list[Incident]:
        """Open incidents, most urgent first (priority, then oldest)."""
        found = [e.incident for e in self._entries.values() if e.incident.status is IncidentStatus.OPEN]
        return sorted(found, key=lambda i: (i.priority, i.opened, i.id))

    def assigned_to(self, unit: str) -> list[str]:
        """Open incidents the unit is assigned to."""
        return [
            e.incident.id
            for e in self._entries.values()
            if e.incident.status is IncidentStatus.OPEN and unit in e.incident.units
        ]

    def prune_closed(self, now: float, keep_s: float) -> list[str]:
        """Forget incidents closed more than ``keep_s`` ago; return their ids."""
        gone = [
            incident_id
            for incident_id, e in self._entries.items()
            if e.closed_at is not None and now - e.closed_at > keep_s
        ]
        for incident_id in gone:
            del self._entries[incident_id]
        return gone
