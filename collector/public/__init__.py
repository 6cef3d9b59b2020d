"""The public "active calls" feed's privacy policy: pure, time passed in.

A publishing shell, every ``publish_every_s``::

    now = datetime.now(UTC)
    t = units_as_of(policy, now)   # ask the store for each unit's last fix at or before t
    units = [UnitInput(unit, status_now, (last_fix,), assigned_incident_or_None), ...]   # every known unit
    snap, state = snapshot(policy, state, now, units, incidents, secret)
    serialize(snap.units), serialize(snap.calls)   # the bytes of the topics and the files
    state.to_json()                                 # saved privately; PublicState.from_json() at start

``incidents`` are the collector's ``common.wire.Incident`` values, closed ones
included for as long as it keeps them; ``secret`` is the pseudonym secret
file's bytes. ``format_table(snap.units, snap.calls)`` is the preview.

``config`` holds the policy value, ``grid`` the projected cells and their
hysteresis, ``pseudonym`` the keyed tokens, ``state`` what is carried between
snapshots, ``policy`` the function itself and ``feed`` the bytes and the table.
``docs/privacy.md`` is the threat model.
"""

from collector.public.config import (
    DEFAULT_CATEGORIES,
    DEFAULT_SUPPRESS_KEYWORDS,
    DEFAULT_SUPPRESSED,
    PublicConfigError,
    PublicPolicy,
    PublicPolicyError,
    UnitsMode,
    normalize_type,
)
from collector.public.feed import format_table, serialize
from collector.public.grid import Cell, Grid, grid_for, next_cell, utm_epsg
from collector.public.policy import (
    CALL_PRIORITIES,
    CALL_STATUSES,
    PUBLIC_UNIT_STATUSES,
    Snapshot,
    UnitInput,
    calls_as_of,
    floor_minute,
    format_minute,
    parse_minute,
    position_at,
    public_priority,
    snapshot,
    units_as_of,
)
from collector.public.pseudonym import MIN_SECRET_BYTES, PseudonymSecretError, call_token, check_secret, unit_pseudonym
from collector.public.state import PublicState, PublicStateError

__all__ = [
    "CALL_PRIORITIES",
    "CALL_STATUSES",
    "DEFAULT_CATEGORIES",
    "DEFAULT_SUPPRESSED",
    "DEFAULT_SUPPRESS_KEYWORDS",
    "MIN_SECRET_BYTES",
    "PUBLIC_UNIT_STATUSES",
    "Cell",
    "Grid",
    "PseudonymSecretError",
    "PublicConfigError",
    "PublicPolicy",
    "PublicPolicyError",
    "PublicState",
    "PublicStateError",
    "Snapshot",
    "UnitInput",
    "UnitsMode",
    "call_token",
    "calls_as_of",
    "check_secret",
    "floor_minute",
    "format_minute",
    "format_table",
    "grid_for",
    "next_cell",
    "normalize_type",
    "parse_minute",
    "position_at",
    "public_priority",
    "serialize",
    "snapshot",
    "unit_pseudonym",
    "units_as_of",
    "utm_epsg",
]
