"""The CAD API's requests: JSON bodies -> wire values, and what each action publishes. Pure.

Every check names the field it refuses (``ApiError.field``), and a request is
checked whole before anything is published: nothing is half-applied. What an
action publishes is built from the wire types of :mod:`common.wire` (one owner
of the contract), and the decisions mirror the command line's
(:func:`collector.commands.open_incident`, ``incident assign``/``close``):
an incident created again under the same id is the same call (answered with
what exists), another call under an open incident's id is refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from collector.incidents import same_call
from common.errors import ActiveCallsError
from common.fix import InvalidFixError, parse_time
from common.wire import DutyStatus, Incident, IncidentStatus, WireError, validate_id

__all__ = [
    "MAX_BODY_BYTES",
    "ApiError",
    "Decision",
    "assign_unit",
    "close_incident",
    "decide_create",
    "parse_body",
    "parse_create",
    "parse_status",
    "parse_unit",
    "parse_update",
]

MAX_BODY_BYTES: Final = 16 * 1024
_CREATE_FIELDS: Final = frozenset({"id", "type", "priority", "lat", "lon", "units", "opened"})
_UPDATE_FIELDS: Final = frozenset({"type", "priority", "lat", "lon", "units"})


class ApiError(ActiveCallsError):
    """A request refused: the HTTP status, the field at fault ("" for the whole body) and one line."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message, "field": self.field or None}


def parse_body(body: bytes) -> dict[str, Any]:
    """A JSON object of at most MAX_BODY_BYTES."""
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "", f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES}")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "", f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "", f"the body must be a JSON object, got {type(value).__name__}")
    return value


def _unknown(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key in body:
        if key not in allowed:
            raise ApiError(
                400, str(key)[:64], f"unknown field {str(key)[:64]!r} (allowed: {', '.join(sorted(allowed))})"
            )


def _id(kind: str, field: str, value: object) -> str:
    try:
        return validate_id(kind, value)
    except WireError as exc:
        raise ApiError(400, field, f"{field}: {exc}") from None


def _type(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise ApiError(400, "type", f"type must be a string of 1-64 characters, got {value!r:.80}")
    return value


def _priority(value: object) -> int:
    if type(value) is not int or not 1 <= value <= 4:
        raise ApiError(400, "priority", f"priority must be an integer 1-4, got {value!r:.40}")
    return value


def _coordinate(field: str, value: object, limit: float) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or abs(value) > limit:  # type: ignore[arg-type]
        raise ApiError(400, field, f"{field} must be a number within +-{limit:g}, got {value!r:.40}")
    return float(value)  # type: ignore[arg-type]


def _units(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > 100:
        raise ApiError(400, "units", "units must be a list of at most 100 unit ids")
    units = tuple(_id("unit", "units", u) for u in value)
    if len(set(units)) != len(units):
        raise ApiError(400, "units", "units names a unit twice")
    return units


def _required(body: Mapping[str, Any], field: str) -> object:
    if field not in body:
        raise ApiError(400, field, f"{field} is required")
    return body[field]


def parse_create(body: Mapping[str, Any], now: dt.datetime) -> Incident:
    """The incident a create asks for; ``id`` is the CAD's own, ``opened`` defaults to ``now``."""
    _unknown(body, _CREATE_FIELDS)
    incident_id = _id("incident", "id", _required(body, "id"))
    opened = now.replace(microsecond=now.microsecond // 1000 * 1000)
    if "opened" in body:
        try:
            opened = parse_time(body["opened"])
        except InvalidFixError as exc:
            raise ApiError(400, "opened", f"opened: {exc}") from None
    return Incident(
        incident_id,
        _type(_required(body, "type")),
        _priority(_required(body, "priority")),
        _coordinate("lat", _required(body, "lat"), 90.0),
        _coordinate("lon", _required(body, "lon"), 180.0),
        IncidentStatus.OPEN,
        opened,
        _units(body.get("units", [])),
    )


def parse_update(body: Mapping[str, Any], current: Incident | None, incident_id: str) -> Incident:
    """The open incident ``current`` with the fields the body changes."""
    _unknown(body, _UPDATE_FIELDS)
    if not body:
        raise ApiError(400, "", f"nothing to change: give one or more of {', '.join(sorted(_UPDATE_FIELDS))}")
    changes: dict[str, Any] = {}
    if "type" in body:
        changes["type"] = _type(body["type"])
    if "priority" in body:
        changes["priority"] = _priority(body["priority"])
    if "lat" in body:
        changes["lat"] = _coordinate("lat", body["lat"], 90.0)
    if "lon" in body:
        changes["lon"] = _coordinate("lon", body["lon"], 180.0)
    if "units" in body:
        changes["units"] = _units(body["units"])
    return dataclasses.replace(_open(current, incident_id), **changes)


def _open(current: Incident | None, incident_id: str) -> Incident:
    if current is None:
        raise ApiError(404, "id", f"no incident {incident_id}")
    if current.status is not IncidentStatus.OPEN:
        raise ApiError(409, "id", f"incident {incident_id} is closed")
    return current


def parse_unit(body: Mapping[str, Any]) -> str:
    _unknown(body, frozenset({"unit"}))
    return _id("unit", "unit", _required(body, "unit"))


def parse_status(body: Mapping[str, Any]) -> DutyStatus:
    _unknown(body, frozenset({"status"}))
    value = _required(body, "status")
    if not isinstance(value, str) or value not in {s.value for s in DutyStatus}:
        choices = ", ".join(s.value for s in DutyStatus)
        raise ApiError(400, "status", f"status must be one of {choices}, got {value!r:.40}")
    return DutyStatus(value)


@dataclass(frozen=True, slots=True)
class Decision:
    """What a create comes to: publish ``incident`` (``created``), or answer with the one that exists."""

    incident: Incident
    created: bool


def decide_create(current: Incident | None, incoming: Incident) -> Decision:
    """Idempotent by the CAD's id: the same call again is answered with what exists, publishes nothing."""
    if current is not None and current.status is IncidentStatus.OPEN:
        if same_call(current, incoming):
            return Decision(current, False)
        raise ApiError(409, "id", f"incident {incoming.id} is already open ({current.type}, priority "
                                  f"{current.priority}) with other details: update it, or close it first")  # fmt: skip
    return Decision(incoming, True)


def assign_unit(current: Incident | None, incident_id: str, unit: str) -> Incident | None:
    """The incident with ``unit`` added; None when it is already assigned (nothing to publish)."""
    incident = _open(current, incident_id)
    if unit in incident.units:
        return None
    return dataclasses.replace(incident, units=(*incident.units, unit))


def close_incident(current: Incident | None, incident_id: str) -> Incident | None:
    """The incident closed; None when it is closed already."""
    if current is None:
        raise ApiError(404, "id", f"no incident {incident_id}")
    if current.status is IncidentStatus.CLOSED:
        return None
    return dataclasses.replace(current, status=IncidentStatus.CLOSED)
