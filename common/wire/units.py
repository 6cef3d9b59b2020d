"""What a unit publishes or is told: fixes (``pos``, ``track``), connectivity
(``state``), diagnostics (``diag``) and duty status (``status``)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.fix import Fix, FixOutOfRangeError, InvalidFixError
from common.wire._codec import (
    MAX_SEQ,
    MAX_TRACK_FIXES,
    VERSION,
    MalformedPayloadError,
    OutOfRangeError,
    check_version,
    dump_payload,
    json_object,
    load_payload,
    validate_id,
)

__all__ = [
    "WireFix",
    "encode_fix",
    "decode_fix",
    "encode_track",
    "decode_track",
    "UnitState",
    "encode_state",
    "decode_state",
    "DutyStatus",
    "encode_status",
    "decode_status",
    "encode_diag",
    "decode_diag",
]


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
        obj = json_object(obj, "a fix")
        check_version(obj)
        try:
            return cls(obj.get("unit"), obj.get("seq"), Fix.from_dict(obj))
        except FixOutOfRangeError as exc:
            raise OutOfRangeError(str(exc)) from None
        except InvalidFixError as exc:
            raise MalformedPayloadError(str(exc)) from None


def encode_fix(fix: WireFix) -> bytes:
    """Payload of ``.../pos``."""
    return dump_payload(fix.to_dict())


def decode_fix(payload: bytes | str, *, unit: str | None = None) -> WireFix:
    """Parse a ``.../pos`` payload; ``unit`` (from the topic) must match if given."""
    wire_fix = WireFix.from_dict(load_payload(payload))
    if unit is not None and wire_fix.unit != unit:
        raise MalformedPayloadError(f"payload names unit {wire_fix.unit!r} on the topic of {unit!r}")
    return wire_fix


def encode_track(unit: str, fixes: Sequence[WireFix]) -> bytes:
    """Payload of ``.../track``: 1 to MAX_TRACK_FIXES fixes of one unit, oldest first."""
    if not 1 <= len(fixes) <= MAX_TRACK_FIXES:
        raise ValueError(f"a track message carries 1 to {MAX_TRACK_FIXES} fixes, not {len(fixes)}")
    if any(f.unit != unit for f in fixes):
        raise ValueError(f"every fix of a track message must be of unit {unit!r}")
    return dump_payload({"v": VERSION, "unit": validate_id("unit", unit), "fixes": [f.to_dict() for f in fixes]})


def decode_track(payload: bytes | str, *, unit: str | None = None) -> list[WireFix]:
    """Parse a ``.../track`` payload into its fixes (all of one unit)."""
    obj = json_object(load_payload(payload), "a track message")
    check_version(obj)
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
    return dump_payload({"v": VERSION, "unit": validate_id("unit", unit), **diag})


def decode_diag(payload: bytes | str) -> dict[str, Any]:
    obj = json_object(load_payload(payload), "a diagnostics message")
    check_version(obj)
    validate_id("unit", obj.get("unit"))
    return obj
