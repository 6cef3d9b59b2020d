"""Public tokens for units and calls: keyed hashes, so only the secret's holder
can link a token to a unit, or one day's token to the next.

A unit's token is HMAC-SHA256(secret, "unit", unit id, UTC day), cut to 40 bits
and written in base32: stable all day (a viewer can follow "a car" across
snapshots) and new each day. Without the secret the tokens of two days are
independent random-looking strings; with only the unit id (call signs are
painted on cars) nobody can compute a token, which a plain hash would allow.
A call's token uses the same secret with a different label and no day, so a
call keeps its token while it is shown, and no CAD reference number is exposed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Final

from collector.public.config import PublicPolicyError

__all__ = [
    "MIN_SECRET_BYTES",
    "MIN_DISTINCT_BYTES",
    "PseudonymSecretError",
    "check_secret",
    "unit_pseudonym",
    "call_token",
]

MIN_SECRET_BYTES: Final = 16
# "0000000000000000" or a file of spaces is a placeholder, not a secret (and a
# key of zero bytes is, to HMAC, the same key as no key at all).
MIN_DISTINCT_BYTES: Final = 8
# 40 bits: among 2,000 units a collision on a given day has odds of about 2e-6.
_TOKEN_BYTES: Final = 5


class PseudonymSecretError(PublicPolicyError):
    """A pseudonym secret too short to be a secret."""


def check_secret(secret: bytes) -> bytes:
    """Return ``secret`` if it can key the pseudonyms: at least 16 bytes, not a placeholder."""
    hint = "(e.g. the output of `openssl rand -hex 32`)"
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        size = f"{len(secret)} bytes" if isinstance(secret, bytes) else type(secret).__name__
        raise PseudonymSecretError(f"the pseudonym secret must be at least {MIN_SECRET_BYTES} bytes {hint}, got {size}")
    if len(set(secret)) < MIN_DISTINCT_BYTES:
        raise PseudonymSecretError(
            f"the pseudonym secret looks like a placeholder ({len(set(secret))} distinct bytes); "
            f"use a random one {hint}"
        )
    return secret


def _token(secret: bytes, *parts: str) -> str:
    # NUL separators: no id or label contains one, so ("ab", "c") and ("a", "bc") differ.
    message = "\x00".join(parts).encode()
    digest = hmac.new(check_secret(secret), message, hashlib.sha256).digest()
    return base64.b32encode(digest[:_TOKEN_BYTES]).decode().lower()


def unit_pseudonym(secret: bytes, unit: str, day: dt.date) -> str:
    """The unit's public token on UTC ``day``: 8 characters of a-z and 2-7."""
    if isinstance(day, dt.datetime):  # a datetime is a date too, but its isoformat() is not a day
        day = day.astimezone(dt.UTC).date()
    return _token(secret, "unit", unit, day.isoformat())


def call_token(secret: bytes, incident_id: str) -> str:
    """The public token of an incident (stable for as long as it is shown)."""
    return _token(secret, "call", incident_id)
