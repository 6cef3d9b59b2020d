"""Incidents: what dispatch opens, updates and closes (``incidents/<id>``)."""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass, field
from typing import Any

from common.fix import InvalidFixError, format_time, parse_time
from common.wire._codec import (
    VERSION,
    MalformedPayloadError,
    OutOfRangeError,
    WireError,
    check_version,
    dump_payload,
    json_object,
    load_payload,
    validate_id,
)

__all__ = [
    "IncidentStatus",
    "Incident",
    "encode_incident",
    "decode_incident",
]


class IncidentStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Incident:
    """A call for service, as a CAD integration or the collector CLI publishes it."""

    id: str
    type: str  # CAD incident type, e.g. "burglary"; mapped to public categories elsewhere
    priority: int  # 1 (emergency) to 4
    lat: float
    lon: float
    status: IncidentStatus
    opened: dt.datetime
    units: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        validate_id("incident", self.id)
        if not isinstance(self.type, str) or not 1 <= len(self.type) <= 64:
            raise MalformedPayloadError(f"incident type must be a string of 1-64 characters, got {self.type!r}")
        if type(self.priority) is not int or not 1 <= self.priority <= 4:
            error = OutOfRangeError if type(self.priority) is int else MalformedPayloadError
            raise error(f"priority must be 1-4, got {self.priority!r}")
        for name, value, limit in (("lat", self.lat, 90.0), ("lon", self.lon, 180.0)):
            if type(value) not in (int, float) or not math.isfinite(value) or abs(value) > limit:
                error = OutOfRangeError if type(value) in (int, float) else MalformedPayloadError
                raise error(f"{name} must be a number within +-{limit:g}, got {value!r}")
        if not isinstance(self.status, IncidentStatus):
            raise MalformedPayloadError(f"status must be open or closed, got {self.status!r}")
        if not isinstance(self.opened, dt.datetime) or self.opened.utcoffset() != dt.timedelta(0):
            raise MalformedPayloadError(f"opened must be a UTC time, got {self.opened!r}")
        for unit in self.units:
            validate_id("unit", unit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "id": self.id,
            "type": self.type,
            "priority": self.priority,
            "lat": self.lat,
            "lon": self.lon,
            "status": self.status.value,
            "opened": format_time(self.opened),
            "units": list(self.units),
        }


def encode_incident(incident: Incident) -> bytes:
    return dump_payload(incident.to_dict())


def decode_incident(payload: bytes | str, *, incident_id: str | None = None) -> Incident:
    """Parse an incident; ``v`` is optional here (CAD systems may omit it)."""
    obj = json_object(load_payload(payload), "an incident")
    if "v" in obj:
        check_version(obj)
    try:
        units = obj.get("units", [])
        if not isinstance(units, list):
            raise MalformedPayloadError("'units' must be a list of unit ids")
        opened_text = obj.get("opened")
        incident = Incident(
            id=obj.get("id"),  # type: ignore[arg-type]
            type=obj.get("type"),  # type: ignore[arg-type]
            priority=obj.get("priority"),  # type: ignore[arg-type]
            lat=obj.get("lat"),  # type: ignore[arg-type]
            lon=obj.get("lon"),  # type: ignore[arg-type]
            status=IncidentStatus(obj.get("status", "open")),
            opened=parse_time(opened_text),  # type: ignore[arg-type]
            units=tuple(units),
        )
    except InvalidFixError as exc:  # from parse_time
        raise MalformedPayloadError(f"opened: {exc}") from None
    except ValueError as exc:
        if isinstance(exc, WireError):
            raise
        raise MalformedPayloadError(f"incident: {exc}") from None
    if incident_id is not None and incident.id != incident_id:
        raise MalformedPayloadError(f"payload names incident {incident.id!r} on the topic of {incident_id!r}")
    return incident
