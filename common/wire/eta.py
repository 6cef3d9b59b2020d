"""ETAs of units to an incident, published by the collector (``incidents/<id>/eta``)."""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass
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
from common.wire.units import DutyStatus

__all__ = [
    "EtaMethod",
    "EtaConfidence",
    "EtaRow",
    "EtaReport",
    "encode_eta",
    "decode_eta",
]


class EtaMethod(enum.StrEnum):
    """How an ETA was computed."""

    MODEL = "model"  # the travel-time model on geodesic distance (docs/eta.md)
    ROUTER = "router"  # a road router's travel time (OSRM /table)
    FALLBACK = "fallback"  # the model, because the configured router failed


class EtaConfidence(enum.StrEnum):
    """How far to trust an ETA: a router on a fresh fix is high, the model on a
    fresh fix medium, anything from a stale or offline unit low."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def _non_negative(name: str, value: object) -> float:
    if type(value) is float and 0.0 <= value < math.inf:  # the common case, first: ETA rows are built in bulk
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedPayloadError(f"{name} must be a finite number, got {value!r}")
    if value < 0:
        raise OutOfRangeError(f"{name} must be >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class EtaRow:
    """One unit's estimated time of arrival at an incident.

    ``eta_s`` counts from the report's ``computed`` time. For a stale unit it
    is widened by the distance the unit could have driven since its fix (it may
    have driven away), and ``eta_min_s`` is the other end (it may have driven
    closer). ``status`` None means no duty status is known ("unknown").
    """

    unit: str
    eta_s: float
    distance_m: float  # road distance the ETA assumes (model: geodesic x circuity)
    fix_age_s: float  # age of the position the ETA starts from, at ``computed``
    status: DutyStatus | None
    method: EtaMethod
    stale: bool
    confidence: EtaConfidence = EtaConfidence.MEDIUM
    eta_min_s: float | None = None
    assigned: bool = False  # assigned to this incident
    offline: bool = False  # its agent's connection is down

    def __post_init__(self) -> None:
        validate_id("unit", self.unit)
        _non_negative("eta_s", self.eta_s)
        _non_negative("distance_m", self.distance_m)
        _non_negative("fix_age_s", self.fix_age_s)
        if self.eta_min_s is not None and _non_negative("eta_min_s", self.eta_min_s) > self.eta_s:
            raise OutOfRangeError(f"eta_min_s {self.eta_min_s!r} exceeds eta_s {self.eta_s!r}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "unit": self.unit,
            "eta_s": self.eta_s,
            "distance_m": self.distance_m,
            "fix_age_s": self.fix_age_s,
            "status": self.status.value if self.status is not None else "unknown",
            "method": self.method.value,
            "stale": self.stale,
            "confidence": self.confidence.value,
        }
        if self.eta_min_s is not None:
            out["eta_min_s"] = self.eta_min_s
        if self.assigned:
            out["assigned"] = True
        if self.offline:
            out["offline"] = True
        return out

    @classmethod
    def from_dict(cls, obj: Any) -> EtaRow:
        obj = json_object(obj, "an ETA row")
        status = obj.get("status")
        flags = {name: obj.get(name, False) for name in ("stale", "assigned", "offline")}
        for name, value in flags.items():
            if not isinstance(value, bool):
                raise MalformedPayloadError(f"{name} must be true or false, got {value!r}")
        try:
            return cls(
                unit=obj.get("unit"),
                eta_s=obj.get("eta_s"),
                distance_m=obj.get("distance_m"),
                fix_age_s=obj.get("fix_age_s"),
                status=None if status == "unknown" else DutyStatus(status),
                method=EtaMethod(obj.get("method")),
                stale=flags["stale"],
                confidence=EtaConfidence(obj.get("confidence", "medium")),
                eta_min_s=obj.get("eta_min_s"),
                assigned=flags["assigned"],
                offline=flags["offline"],
            )
        except ValueError as exc:
            if isinstance(exc, WireError):
                raise
            raise MalformedPayloadError(f"ETA row: {exc}") from None


@dataclass(frozen=True, slots=True)
class EtaReport:
    """Payload of ``.../incidents/<id>/eta``: every candidate unit, soonest first."""

    incident: str
    computed: dt.datetime
    recommended: str | None  # the available, fresh, online unit with the smallest ETA
    units: tuple[EtaRow, ...]
    # How many units could have been listed; more than len(units) when the
    # collector lists only the soonest few ([eta] max_units). None: not said.
    candidates: int | None = None

    def __post_init__(self) -> None:
        validate_id("incident", self.incident)
        if not isinstance(self.computed, dt.datetime) or self.computed.utcoffset() != dt.timedelta(0):
            raise MalformedPayloadError(f"computed must be a UTC time, got {self.computed!r}")
        if self.recommended is not None and all(row.unit != self.recommended for row in self.units):
            raise MalformedPayloadError(f"recommended unit {self.recommended!r} is not among the units")
        # type() rather than isinstance(), as for seq: a bool is not a count.
        if self.candidates is not None and (type(self.candidates) is not int or self.candidates < len(self.units)):
            raise MalformedPayloadError(
                f"candidates must be a whole number of at least {len(self.units)} (the units listed), "
                f"got {self.candidates!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": VERSION,
            "incident": self.incident,
            "computed": format_time(self.computed),
            "recommended": self.recommended,
            "units": [row.to_dict() for row in self.units],
        }
        if self.candidates is not None:
            out["candidates"] = self.candidates
        return out


def encode_eta(report: EtaReport) -> bytes:
    return dump_payload(report.to_dict())


def decode_eta(payload: bytes | str, *, incident_id: str | None = None) -> EtaReport:
    obj = json_object(load_payload(payload), "an ETA report")
    check_version(obj)
    rows = obj.get("units")
    if not isinstance(rows, list):
        raise MalformedPayloadError("'units' must be a list of ETA rows")
    recommended = obj.get("recommended")
    if recommended is not None:
        validate_id("unit", recommended)
    try:
        report = EtaReport(
            incident=obj.get("incident"),  # type: ignore[arg-type]
            computed=parse_time(obj.get("computed")),  # type: ignore[arg-type]
            recommended=recommended,
            units=tuple(EtaRow.from_dict(row) for row in rows),
            candidates=obj.get("candidates"),
        )
    except InvalidFixError as exc:  # from parse_time
        raise MalformedPayloadError(f"computed: {exc}") from None
    if incident_id is not None and report.incident != incident_id:
        raise MalformedPayloadError(f"payload names incident {report.incident!r} on the topic of {incident_id!r}")
    return report
