"""What every wire payload shares: version, id grammar, size limits, errors, JSON in and out."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from common.errors import ActiveCallsError

__all__ = [
    "VERSION",
    "ID_PATTERN",
    "MAX_TRACK_FIXES",
    "MAX_PAYLOAD_BYTES",
    "MAX_SEQ",
    "WireError",
    "MalformedPayloadError",
    "OutOfRangeError",
    "VersionError",
    "OversizedPayloadError",
    "InvalidTopicError",
    "validate_id",
    "load_payload",
    "dump_payload",
    "check_version",
    "json_object",
]

VERSION: Final = 1
# Unit, fleet and incident ids: no MQTT wildcards, no '/', nothing to escape.
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_TRACK_FIXES: Final = 500
# A full track message is ~500 x 170 bytes; anything far larger is hostile.
MAX_PAYLOAD_BYTES: Final = 256 * 1024
MAX_SEQ: Final = 2**63 - 1


class WireError(ActiveCallsError, ValueError):
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


def load_payload(payload: bytes | str) -> Any:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise OversizedPayloadError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedPayloadError(f"payload is not JSON: {exc}") from None


def dump_payload(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def check_version(obj: dict[str, Any]) -> None:
    version = obj.get("v")
    if version != VERSION or isinstance(version, bool):
        raise VersionError(f"payload version {version!r}, this code speaks v{VERSION}")


def json_object(obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise MalformedPayloadError(f"{what} must be a JSON object, got {type(obj).__name__}")
    return obj
