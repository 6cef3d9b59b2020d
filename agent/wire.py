"""The wire contract between agents, collectors and everyone else on the broker.

One owner for every topic name, payload schema and version: the agent, the
collector and the simulators all import this module; ``docs/wire.md`` shows an
example of each message. Pure: bytes in, values out, no MQTT client here.

Topic tree (``<fleet>`` and ``<unit>`` match :data:`ID_PATTERN`)::

    ac/v1/<fleet>/units/<unit>/pos       newest reported fix       QoS 1, retained
    ac/v1/<fleet>/units/<unit>/track     backlog, oldest first     QoS 1
    ac/v1/<fleet>/units/<unit>/state     "online" | "offline"      QoS 1, retained (last will)
    ac/v1/<fleet>/units/<unit>/diag      agent diagnostics (JSON)  QoS 0, retained
    ac/v1/<fleet>/units/<unit>/status    duty status               QoS 1, retained
    ac/v1/<fleet>/incidents/<id>         incident (JSON)           QoS 1, retained
    ac/v1/<fleet>/incidents/<id>/eta     ETAs to the incident      QoS 1, retained
    public/v1/<fleet>/units              public unit snapshot      QoS 1, retained
    public/v1/<fleet>/calls              public calls snapshot     QoS 1, retained

Every decoder raises a :class:`WireError` subtype on bad input and nothing
else: payloads come from other machines and must never crash a service.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from agent.fixes import Fix, FixOutOfRangeError, InvalidFixError, format_time, parse_time

__all__ = [
    "VERSION",
    "ID_PATTERN",
    "MAX_TRACK_FIXES",
    "MAX_PAYLOAD_BYTES",
    "WireError",
    "MalformedPayloadError",
    "VersionError",
    "OversizedPayloadError",
    "OutOfRangeError",
    "InvalidTopicError",
    "WireFix",
    "UnitState",
    "DutyStatus",
    "IncidentStatus",
    "Incident",
    "Topics",
    "TopicKind",
    "TopicMatch",
    "encode_fix",
    "decode_fix",
    "encode_track",
    "decode_track",
    "encode_state",
    "decode_state",
    "encode_status",
    "decode_status",
    "encode_incident",
    "decode_incident",
    "encode_diag",
    "decode_diag",
    "EtaMethod",
    "EtaConfidence",
    "EtaRow",
    "EtaReport",
    "encode_eta",
    "decode_eta",
    "validate_id",
]

VERSION: Final = 1
# Unit, fleet and incident ids: no MQTT wildcards, no '/', nothing to escape.
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_TRACK_FIXES: Final = 500
# A full track message is ~500 x 170 bytes; anything far larger is hostile.
MAX_PAYLOAD_BYTES: Final = 256 * 1024
MAX_SEQ: Final = 2**63 - 1


class WireError(ValueError):
    """A payload or topic that does not follow the contract."""


class MalformedPayloadError(WireError):
    """Not JSON, wrong shape, wrong types, or values out of range."""


class OutOfRangeError(MalformedPayloadError):
    """Well-formed JSON whose values are outside their range (lat 91, seq 0,
    priority 7): a sender's bug rather than line noise, so counted apart."""


class VersionError(WireError):
    """A payload of a contract version this code does not speak."""


class OversizedPayloadError(WireError):
    """A payload larger than the contract allows."""


class InvalidTopicError(WireError):
    """A topic outside the contract's tree."""


def validate_id(kind: str, value: object) -> str:
    """Check a unit, fleet or incident id; return it."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise MalformedPayloadError(
            f"{kind} id must be 1-64 of A-Z a-z 0-9 _ . - (starting with a letter or digit), got {value!r}"
        )
    return value


def _load(payload: bytes | str) -> Any:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise OversizedPayloadError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedPayloadError(f"payload is not JSON: {exc}") from None


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def _check_version(obj: dict[str, Any]) -> None:
    version = obj.get("v")
    if version != VERSION or isinstance(version, bool):
        raise VersionError(f"payload version {version!r}, this code speaks v{VERSION}")


def _object(obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise MalformedPayloadError(f"{what} must be a JSON object, got {type(obj).__name__}")
    return obj


# ---------------------------------------------------------------------------
# Fixes: pos (one) and track (a batch)


@dataclass(frozen=True, slots=True)
class WireFix:
    """A reported fix: the Fix plus who reported it and its sequence number.

    ``seq`` counts the unit's reported fixes from 1, +1 each, persisted by the
    agent across restarts, so (unit, seq) identifies a fix and gaps show loss.
    """

    unit: str
    seq: int
    fix: Fix

    def __post_init__(self) -> None:
        validate_id("unit", self.unit)
        if type(self.seq) is not int or not 1 <= self.seq <= MAX_SEQ:
            error = OutOfRangeError if type(self.seq) is int else MalformedPayloadError
            raise error(f"seq must be an integer >= 1, got {self.seq!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"v": VERSION, "unit": self.unit, "seq": self.seq, **self.fix.to_dict()}

    @classmethod
    def from_dict(cls, obj: Any) -> WireFix:
        obj = _object(obj, "a fix")
        _check_version(obj)
        try:
            return cls(obj.get("unit"), obj.get("seq"), Fix.from_dict(obj))
        except FixOutOfRangeError as exc:
            raise OutOfRangeError(str(exc)) from None
        except InvalidFixError as exc:
            raise MalformedPayloadError(str(exc)) from None


def encode_fix(fix: WireFix) -> bytes:
    """Payload of ``.../pos``."""
    return _dump(fix.to_dict())


def decode_fix(payload: bytes | str, *, unit: str | None = None) -> WireFix:
    """Parse a ``.../pos`` payload; ``unit`` (from the topic) must match if given."""
    wire_fix = WireFix.from_dict(_load(payload))
    if unit is not None and wire_fix.unit != unit:
        raise MalformedPayloadError(f"payload names unit {wire_fix.unit!r} on the topic of {unit!r}")
    return wire_fix


def encode_track(unit: str, fixes: Sequence[WireFix]) -> bytes:
    """Payload of ``.../track``: 1 to MAX_TRACK_FIXES fixes of one unit, oldest first."""
    if not 1 <= len(fixes) <= MAX_TRACK_FIXES:
        raise ValueError(f"a track message carries 1 to {MAX_TRACK_FIXES} fixes, not {len(fixes)}")
    if any(f.unit != unit for f in fixes):
        raise ValueError(f"every fix of a track message must be of unit {unit!r}")
    return _dump({"v": VERSION, "unit": validate_id("unit", unit), "fixes": [f.to_dict() for f in fixes]})


def decode_track(payload: bytes | str, *, unit: str | None = None) -> list[WireFix]:
    """Parse a ``.../track`` payload into its fixes (all of one unit)."""
    obj = _object(_load(payload), "a track message")
    _check_version(obj)
    track_unit = validate_id("unit", obj.get("unit"))
    if unit is not None and track_unit != unit:
        raise MalformedPayloadError(f"payload names unit {track_unit!r} on the topic of {unit!r}")
    items = obj.get("fixes")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_TRACK_FIXES:
        raise MalformedPayloadError(f"'fixes' must be a list of 1 to {MAX_TRACK_FIXES} fixes")
    fixes = [WireFix.from_dict(item) for item in items]
    if any(f.unit != track_unit for f in fixes):
        raise MalformedPayloadError("a track message mixes units")
    return fixes


# ---------------------------------------------------------------------------
# Connectivity, diagnostics and duty status


class UnitState(enum.StrEnum):
    """Connectivity of an agent, as its broker session says (last will)."""

    ONLINE = "online"
    OFFLINE = "offline"


def encode_state(state: UnitState) -> bytes:
    return state.value.encode()


def decode_state(payload: bytes | str) -> UnitState:
    text = payload.decode("ascii", "replace") if isinstance(payload, bytes) else payload
    try:
        return UnitState(text.strip())
    except ValueError:
        raise MalformedPayloadError(f"state must be 'online' or 'offline', got {text[:40]!r}") from None


class DutyStatus(enum.StrEnum):
    """What a unit is doing, as dispatch says (not whether it is connected)."""

    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    ENROUTE = "enroute"
    ONSCENE = "onscene"
    UNAVAILABLE = "unavailable"


def encode_status(status: DutyStatus) -> bytes:
    return status.value.encode()


def decode_status(payload: bytes | str) -> DutyStatus:
    text = payload.decode("ascii", "replace") if isinstance(payload, bytes) else payload
    try:
        return DutyStatus(text.strip())
    except ValueError:
        allowed = " | ".join(s.value for s in DutyStatus)
        raise MalformedPayloadError(f"status must be one of {allowed}, got {text[:40]!r}") from None


def encode_diag(unit: str, diag: dict[str, Any]) -> bytes:
    """Payload of ``.../diag``: free-form agent diagnostics (counters, source
    state, outbox backlog) for humans and dashboards, versioned like the rest."""
    return _dump({"v": VERSION, "unit": validate_id("unit", unit), **diag})


def decode_diag(payload: bytes | str) -> dict[str, Any]:
    obj = _object(_load(payload), "a diagnostics message")
    _check_version(obj)
    validate_id("unit", obj.get("unit"))
    return obj


# ---------------------------------------------------------------------------
# Incidents


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
    return _dump(incident.to_dict())


def decode_incident(payload: bytes | str, *, incident_id: str | None = None) -> Incident:
    """Parse an incident; ``v`` is optional here (CAD systems may omit it)."""
    obj = _object(_load(payload), "an incident")
    if "v" in obj:
        _check_version(obj)
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


# ---------------------------------------------------------------------------
# ETAs of units to an incident (published by the collector)


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
        obj = _object(obj, "an ETA row")
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
    return _dump(report.to_dict())


def decode_eta(payload: bytes | str, *, incident_id: str | None = None) -> EtaReport:
    obj = _object(_load(payload), "an ETA report")
    _check_version(obj)
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


# ---------------------------------------------------------------------------
# Topics


class TopicKind(enum.StrEnum):
    POS = "pos"
    TRACK = "track"
    STATE = "state"
    DIAG = "diag"
    STATUS = "status"
    INCIDENT = "incident"
    ETA = "eta"


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """What a received topic refers to."""

    kind: TopicKind
    fleet: str
    id: str  # unit id, or incident id for INCIDENT and ETA


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one fleet; ``Topics("derbyshire").pos("PC-101")``."""

    fleet: str

    def __post_init__(self) -> None:
        validate_id("fleet", self.fleet)

    @property
    def root(self) -> str:
        return f"ac/v{VERSION}/{self.fleet}"

    def unit(self, unit: str, kind: TopicKind) -> str:
        return f"{self.root}/units/{validate_id('unit', unit)}/{kind.value}"

    def pos(self, unit: str) -> str:
        return self.unit(unit, TopicKind.POS)

    def track(self, unit: str) -> str:
        return self.unit(unit, TopicKind.TRACK)

    def state(self, unit: str) -> str:
        return self.unit(unit, TopicKind.STATE)

    def diag(self, unit: str) -> str:
        return self.unit(unit, TopicKind.DIAG)

    def status(self, unit: str) -> str:
        return self.unit(unit, TopicKind.STATUS)

    def incident(self, incident_id: str) -> str:
        return f"{self.root}/incidents/{validate_id('incident', incident_id)}"

    def eta(self, incident_id: str) -> str:
        return f"{self.incident(incident_id)}/eta"

    @property
    def public_units(self) -> str:
        return f"public/v{VERSION}/{self.fleet}/units"

    @property
    def public_calls(self) -> str:
        return f"public/v{VERSION}/{self.fleet}/calls"

    def unit_filter(self, kind: TopicKind) -> str:
        """Subscription filter for one kind of unit topic across the fleet."""
        return f"{self.root}/units/+/{kind.value}"

    @property
    def incidents_filter(self) -> str:
        return f"{self.root}/incidents/+"

    def match(self, topic: str) -> TopicMatch:
        """Classify a received topic of this fleet; raise InvalidTopicError."""
        parts = topic.split("/")
        if len(parts) < 5 or parts[0] != "ac" or parts[1] != f"v{VERSION}" or parts[2] != self.fleet:
            raise InvalidTopicError(f"not a topic of fleet {self.fleet!r}: {topic[:200]!r}")
        try:
            if parts[3] == "units" and len(parts) == 6:
                kind = TopicKind(parts[5])
                if kind in (TopicKind.INCIDENT, TopicKind.ETA):
                    raise ValueError(kind)
                return TopicMatch(kind, self.fleet, validate_id("unit", parts[4]))
            if parts[3] == "incidents" and len(parts) == 5:
                return TopicMatch(TopicKind.INCIDENT, self.fleet, validate_id("incident", parts[4]))
            if parts[3] == "incidents" and len(parts) == 6 and parts[5] == "eta":
                return TopicMatch(TopicKind.ETA, self.fleet, validate_id("incident", parts[4]))
        except ValueError:
            pass
        raise InvalidTopicError(f"unknown topic: {topic[:200]!r}")
