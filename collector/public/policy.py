"""The public policy as one pure function: what the world may see now.

    snapshot(policy, state, now, units, incidents, secret) -> (Snapshot, PublicState)

No clock, no broker, no database: the shell passes ``now``, what the collector
knows (units with their status now and their fixes up to the published time,
incidents as on the wire) and the pseudonym secret's bytes; it gets back the
two GeoJSON FeatureCollections to publish and the state to pass next time.

Everything shown is a picture of the past:
- units as of ``units_as_of(now)`` = now - unit_delay_s, floored to the minute:
  the position is the unit's last fix at or before that minute, and so are its
  status and assignment (taken from the observations kept in the state);
- calls as of ``calls_as_of(now)`` = now - call_delay_s, floored to the minute:
  a call appears once it was opened by then; its status (open, attending,
  closed) is as of the older of the two times (the document's
  ``status_as_of``), because "attending" says where officers are and must be
  as late as the units' positions.

Both documents carry the wire version ``"v": 1``; times are RFC 3339 UTC,
whole minutes (``2026-11-28T08:15:00Z``). ``docs/wire.md`` has the format.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from collector.public.config import PublicPolicy, UnitsMode
from collector.public.grid import Grid, centre_epsg, grid_for, next_cell, utm_epsg
from collector.public.pseudonym import call_token, check_secret, unit_pseudonym
from collector.public.state import Anchor, DutyObservation, PublicState, UnitMemory
from common.fix import Fix
from common.wire import VERSION, DutyStatus, Incident, IncidentStatus

__all__ = [
    "UnitInput",
    "Snapshot",
    "snapshot",
    "units_as_of",
    "calls_as_of",
    "position_at",
    "floor_minute",
    "format_minute",
    "parse_minute",
    "PUBLIC_UNIT_STATUSES",
    "CALL_STATUSES",
    "CALL_PRIORITIES",
    "MAX_OBSERVATION_GAP_S",
    "public_priority",
]

# The duty statuses in the state are only a record of the past if nothing was
# missed: after a longer gap between snapshots (the service was down), what a
# unit did in the gap is unknown, and it is hidden until observed for a delay
# (else a car that went off duty during the gap would be shown as available).
MAX_OBSERVATION_GAP_S: Final = 300
# Unavailable units (meal break, off duty, at the station) are never shown.
PUBLIC_UNIT_STATUSES: Final = tuple(s for s in DutyStatus if s is not DutyStatus.UNAVAILABLE)
CALL_STATUSES: Final = ("open", "attending", "closed")
# CAD priority 1-4 as published: three words a resident understands, after
# England and Wales's graded response (1 emergency, 2 priority, 3 scheduled,
# 4 resolved without deployment). 3 and 4 are merged: the difference says
# nothing a reader needs and halves the groups response times are computed
# over. docs/privacy.md weighs what publishing it gives away.
CALL_PRIORITIES: Final = ("emergency", "priority", "routine")
_PUBLIC_PRIORITY: Final = {1: "emergency", 2: "priority", 3: "routine", 4: "routine"}


def public_priority(priority: int) -> str:
    """The published word for a CAD priority (1-4)."""
    return _PUBLIC_PRIORITY[priority]


@dataclass(frozen=True, slots=True)
class UnitInput:
    """What the collector knows of one unit when a snapshot is made.

    ``fixes`` is time-ordered; only the last one at or before
    ``units_as_of(now)`` is read, so the shell may pass just that one (its
    store's "last fix at or before t") or a whole history. ``incident`` is the
    assignment as the collector knows it now, in addition to any incident
    listing the unit in ``Incident.units``.
    """

    unit: str
    status: DutyStatus
    fixes: Sequence[Fix] = ()
    incident: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The two public documents: GeoJSON FeatureCollections (plain dicts)."""

    units: dict[str, Any]
    calls: dict[str, Any]


def floor_minute(t: dt.datetime) -> dt.datetime:
    return t.replace(second=0, microsecond=0)


def format_minute(t: dt.datetime) -> str:
    """``2026-11-28T11:45:00Z``: the only time format the feed uses, RFC 3339 with
    the seconds always ``00`` (the time is floored to its minute, so seconds cannot slip in)."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:00Z")


def parse_minute(text: str) -> dt.datetime:
    """Inverse of :func:`format_minute`; raises ValueError on anything else (seconds other than 00 included)."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:00Z").replace(tzinfo=dt.UTC)


def units_as_of(policy: PublicPolicy, now: dt.datetime) -> dt.datetime:
    """The time the unit snapshot shows: the shell's store is asked for fixes up to it."""
    return floor_minute(now - dt.timedelta(seconds=policy.unit_delay_s))


def calls_as_of(policy: PublicPolicy, now: dt.datetime) -> dt.datetime:
    return floor_minute(now - dt.timedelta(seconds=policy.call_delay_s))


def _call_status_as_of(policy: PublicPolicy, now: dt.datetime) -> dt.datetime:
    return min(units_as_of(policy, now), calls_as_of(policy, now))


def position_at(fixes: Sequence[Fix], t: dt.datetime) -> Fix | None:
    """The last fix at or before ``t`` of a time-ordered sequence, or None."""
    index = bisect.bisect_right(fixes, t, key=lambda fix: fix.time)
    return fixes[index - 1] if index else None


def _duty_at(duty: Sequence[DutyObservation], t: dt.datetime) -> DutyObservation | None:
    index = bisect.bisect_right(duty, t, key=lambda o: o.since)
    return duty[index - 1] if index else None


def _observe(
    duty: tuple[DutyObservation, ...], seen: DutyObservation, horizon: dt.datetime
) -> tuple[DutyObservation, ...]:
    """Append ``seen`` if it changes anything; forget what no snapshot can still ask about."""
    last = duty[-1] if duty else None
    if last is None:
        duty = (seen,)
    elif (last.status, last.incidents) != (seen.status, seen.incidents):
        # max(): should the shell's clock step back, the log stays ordered.
        duty = (*duty, replace(seen, since=max(seen.since, last.since)))
    keep_from = max(0, bisect.bisect_right(duty, horizon, key=lambda o: o.since) - 1)
    return duty[keep_from:]


def _resolve_grid(
    policy: PublicPolicy, state: PublicState, units: Sequence[UnitInput], incidents: Sequence[Incident], at: dt.datetime
) -> Grid | None:
    """The configured CRS, else the UTM zone of the configured centre, else the
    one already chosen, else the zone of the data; None while there is no data."""
    epsg = policy.epsg
    if epsg is None and policy.centre is not None:
        epsg = utm_epsg(*policy.centre)
    if epsg is None:
        epsg = state.epsg
    if epsg is None:
        points = [(fix.lat, fix.lon) for u in units if (fix := position_at(u.fixes, at)) is not None]
        points += [(i.lat, i.lon) for i in incidents]
        epsg = centre_epsg(points)
    return None if epsg is None else grid_for(epsg, policy.cell_m)


def _is_suppressed(incident_id: str, categories: dict[str, str | None]) -> bool:
    # An incident we no longer know is treated as suppressed: we cannot tell.
    return categories.get(incident_id) is None


def snapshot(
    policy: PublicPolicy,
    state: PublicState,
    now: dt.datetime,
    units: Iterable[UnitInput],
    incidents: Iterable[Incident],
    secret: bytes,
) -> tuple[Snapshot, PublicState]:
    """Apply the policy: the public snapshot at ``now`` and the state for next time."""
    if not isinstance(now, dt.datetime) or now.utcoffset() != dt.timedelta(0):
        raise ValueError(f"now must be an aware UTC datetime, got {now!r}")
    check_secret(secret)
    unit_list = list({u.unit: u for u in units}.values())
    incident_by_id = {i.id: i for i in incidents}
    incident_list = list(incident_by_id.values())
    units_time = units_as_of(policy, now)
    calls_time = calls_as_of(policy, now)
    status_time = _call_status_as_of(policy, now)

    grid = _resolve_grid(policy, state, unit_list, incident_list, units_time)
    memories = state.units
    if grid is not None and (state.epsg, state.cell_m) != (grid.epsg, grid.cell_m):
        # Cells and anchors of another grid mean nothing on this one.
        memories = {unit: replace(m, cell=None, anchor=None) for unit, m in memories.items()}
    if state.observed_at is None or abs((now - state.observed_at).total_seconds()) > MAX_OBSERVATION_GAP_S:
        memories = {unit: replace(m, duty=()) for unit, m in memories.items()}

    categories = {i.id: policy.category(i.type) for i in incident_list}
    assigned: dict[str, set[str]] = {}
    for incident in incident_list:
        if incident.status is IncidentStatus.OPEN:
            for unit in incident.units:
                assigned.setdefault(unit, set()).add(incident.id)
    for u in unit_list:
        if u.incident is not None:
            assigned.setdefault(u.unit, set()).add(u.incident)

    new_memories: dict[str, UnitMemory] = {}
    shown: list[tuple[str, DutyStatus, tuple[float, float]]] = []  # (unit, status, centre)
    attending: set[str] = set()
    for u in unit_list:
        memory = memories.get(u.unit, UnitMemory())
        seen = DutyObservation(now, u.status, frozenset(assigned.get(u.unit, ())))
        duty = _observe(memory.duty, seen, status_time)
        at_status = _duty_at(duty, status_time)
        if at_status is not None and at_status.status is DutyStatus.ONSCENE:
            attending.update(at_status.incidents)
        memory, visible = _place_unit(
            policy, grid, replace(memory, duty=duty), u, units_time, categories, incident_by_id
        )
        new_memories[u.unit] = memory
        if visible is not None and grid is not None and memory.cell is not None:
            shown.append((u.unit, visible, grid.centre(memory.cell)))

    closed_seen: dict[str, dt.datetime] = {}
    calls: list[dict[str, Any]] = []
    for incident in incident_list:
        if incident.status is IncidentStatus.CLOSED:
            closed_seen[incident.id] = state.closed_seen.get(incident.id, now)
        feature = _call_feature(
            policy, grid, incident, categories, closed_seen.get(incident.id), attending, secret, calls_time, status_time
        )
        if feature is not None:
            calls.append(feature)
    calls.sort(key=lambda f: (f["properties"]["opened"], f["properties"]["call"]))

    new_state = PublicState(
        epsg=grid.epsg if grid is not None else state.epsg,
        cell_m=grid.cell_m if grid is not None else state.cell_m,
        units=new_memories,
        closed_seen=closed_seen,
        observed_at=now,
    )
    units_doc = _collection(
        units_time, policy.unit_delay_s, policy.cell_m, _unit_features(policy, shown, units_time, secret)
    )
    calls_doc = _collection(calls_time, policy.call_delay_s, policy.cell_m, calls)
    calls_doc["status_as_of"] = format_minute(status_time)
    return Snapshot(units_doc, calls_doc), new_state


def _place_unit(
    policy: PublicPolicy,
    grid: Grid | None,
    memory: UnitMemory,
    u: UnitInput,
    at: dt.datetime,
    categories: dict[str, str | None],
    incident_by_id: dict[str, Incident],
) -> tuple[UnitMemory, DutyStatus | None]:
    """The unit's public cell and whether (with which status) it is shown at ``at``.

    The cell is kept up to date even while the unit is hidden, so hysteresis
    holds across hiding and a unit does not reappear with a fresh, edge-exact cell.
    """
    fix = position_at(u.fixes, at)
    if fix is not None and (at - fix.time).total_seconds() > policy.stale_s:
        fix = None  # an old last position is not where the unit was at ``at``
    xy = grid.project(fix.lat, fix.lon) if fix is not None and grid is not None else None
    cell = memory.cell
    if grid is not None and xy is not None:
        cell = next_cell(grid, cell, xy[0], xy[1], policy.hysteresis)
    observed = _duty_at(memory.duty, at)
    hidden = observed is None or xy is None or observed.status is DutyStatus.UNAVAILABLE
    anchor = memory.anchor
    on_suppressed = sorted(i for i in observed.incidents if _is_suppressed(i, categories)) if observed else []
    if on_suppressed:
        hidden = True
        incident = incident_by_id.get(on_suppressed[0])
        where = grid.project(incident.lat, incident.lon) if incident is not None and grid is not None else xy
        if where is not None:
            anchor = Anchor(where[0], where[1])
        elif anchor is not None:
            anchor = replace(anchor, released=None)
    elif anchor is not None:
        released = anchor.released or at
        expired = (at - released).total_seconds() >= policy.linger_s
        away = xy is not None and math.hypot(xy[0] - anchor.x, xy[1] - anchor.y) >= policy.cell_m
        if expired or away:
            anchor = None
        else:
            hidden = True
            anchor = replace(anchor, released=released)
    status = None if hidden or observed is None else observed.status
    return UnitMemory(memory.duty, cell, anchor), status


def _point(centre: tuple[float, float], properties: dict[str, Any]) -> dict[str, Any]:
    lat, lon = centre
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": properties}


def _call_feature(
    policy: PublicPolicy,
    grid: Grid | None,
    incident: Incident,
    categories: dict[str, str | None],
    closed_at: dt.datetime | None,
    attending: set[str],
    secret: bytes,
    calls_time: dt.datetime,
    status_time: dt.datetime,
) -> dict[str, Any] | None:
    category = categories[incident.id]
    if category is None or grid is None or incident.opened > calls_time:
        return None
    if closed_at is not None and closed_at <= status_time:
        if (status_time - closed_at).total_seconds() >= policy.linger_s:
            return None
        status = "closed"
    elif incident.id in attending:
        status = "attending"
    else:
        status = "open"
    centre = grid.snap(incident.lat, incident.lon)
    if centre is None:
        return None
    properties = {
        "call": call_token(secret, incident.id),
        "category": category,
        "priority": public_priority(incident.priority),
        "status": status,
        "opened": format_minute(incident.opened),
    }
    return _point(centre, properties)


def _unit_features(
    policy: PublicPolicy,
    shown: list[tuple[str, DutyStatus, tuple[float, float]]],
    at: dt.datetime,
    secret: bytes,
) -> list[dict[str, Any]]:
    if policy.units is UnitsMode.COUNTS:
        counts = Counter((centre, status) for _, status, centre in shown)
        return [
            _point(centre, {"status": status.value, "count": n})
            for (centre, status), n in sorted(counts.items(), key=lambda item: (item[0][0], item[0][1].value))
        ]
    day = at.date()
    named = [
        (unit if policy.units is UnitsMode.IDS else unit_pseudonym(secret, unit, day), status, centre)
        for unit, status, centre in shown
    ]
    # Sorted by the published name: an order by real id would leak it across days.
    named.sort(key=lambda item: (item[0], item[1].value))
    return [_point(centre, {"unit": name, "status": status.value}) for name, status, centre in named]


def _collection(as_of: dt.datetime, delay_s: int, cell_m: float, features: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "v": VERSION,
        "type": "FeatureCollection",
        "as_of": format_minute(as_of),
        "delay_s": delay_s,
        "cell_m": int(cell_m) if cell_m.is_integer() else cell_m,
        "features": features,
    }
