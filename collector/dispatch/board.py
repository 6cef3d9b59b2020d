"""What the board and the API show: incidents, units, ETA rows with why each is not recommended. Pure.

The ETA engine (:mod:`collector.eta`) ranks and recommends; this module only
says, for each listed unit, why it is not the recommendation, in the terms a
dispatcher uses: assigned already, busy (its duty), stale position, offline,
or simply further than the recommended unit. The method's name is the one the
``etas`` table prints (road for the router, model, fallback).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from collector.fleet import UnitView
from collector.incidents import IncidentEntry
from collector.text import human_distance, human_duration
from common.fix import format_time
from common.wire import DutyStatus, EtaMethod, EtaReport, EtaRow, Incident, IncidentStatus

__all__ = ["METHOD_LABELS", "eta_json", "incident_json", "incidents_json", "unit_json", "why_not"]

# The etas table's words: "road" is the router's ETA on the road network.
METHOD_LABELS = {EtaMethod.ROUTER: "road", EtaMethod.MODEL: "model", EtaMethod.FALLBACK: "fallback"}


def why_not(row: EtaRow, report: EtaReport) -> list[str]:
    """Why ``row``'s unit is not the recommendation (empty when it is)."""
    if row.unit == report.recommended:
        return []
    reasons = []
    if row.assigned:
        reasons.append("assigned already")
    if row.status is None:
        reasons.append("duty unknown")
    elif row.status is not DutyStatus.AVAILABLE:
        reasons.append(f"busy ({row.status.value})")
    if row.stale:
        reasons.append("stale position")
    if row.offline:
        reasons.append("offline")
    if not reasons:
        best = next((r for r in report.units if r.unit == report.recommended), None)
        if best is not None:
            reasons.append(f"{human_duration(row.eta_s - best.eta_s)} slower than {best.unit}")
        else:
            reasons.append("not recommendable")
    return reasons


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 1)


def eta_json(report: EtaReport) -> dict[str, Any]:
    """The wire report, each row with its method's label, its distance as text and its why-not."""
    out = report.to_dict()
    out["rows"] = [
        {
            **row.to_dict(),
            "rank": rank,
            "method_label": METHOD_LABELS[row.method],
            "by_road": row.method is EtaMethod.ROUTER,
            "distance_text": human_distance(row.distance_m) + ("" if row.method is EtaMethod.ROUTER else " est."),
            "eta_text": human_duration(row.eta_s),
            "recommended": row.unit == report.recommended,
            "why_not": why_not(row, report),
        }
        for rank, row in enumerate(report.units, 1)
    ]
    return out


def incident_json(entry: IncidentEntry) -> dict[str, Any]:
    return {**entry.incident.to_dict(), "updated": round(entry.updated, 3)}


def incidents_json(entries: Iterable[IncidentEntry], *, include_closed: bool = False) -> list[dict[str, Any]]:
    """Open incidents by priority then age (oldest first); closed ones after, on request."""
    chosen = [e for e in entries if include_closed or e.incident.status is IncidentStatus.OPEN]
    chosen.sort(key=lambda e: (e.incident.status is IncidentStatus.CLOSED, e.incident.priority,
                               e.incident.opened, e.incident.id))  # fmt: skip
    return [incident_json(e) for e in chosen]


def unit_json(view: UnitView) -> dict[str, Any]:
    fix = view.fix
    return {
        "unit": view.unit,
        "lat": None if fix is None else fix.lat,
        "lon": None if fix is None else fix.lon,
        "fix_time": None if fix is None else format_time(fix.time),
        "fix_age_s": _finite(view.fix_age_s),
        "speed_mps": None if fix is None or fix.speed is None else fix.speed,
        "heading": None if fix is None or fix.track is None else fix.track,
        "duty": "unknown" if view.duty is None else view.duty.value,
        "connectivity": None if view.connectivity is None else view.connectivity.value,
        "stale": view.stale,
        "offline": view.connectivity is not None and view.connectivity.value == "offline",
        "stale_after_s": round(view.stale_after_s, 1),
    }


def units_changed(before: dict[str, dict[str, Any]], views: Sequence[UnitView]) -> list[dict[str, Any]]:
    """The units whose board row differs from ``before`` (ages left out: the page counts them on)."""
    changed = []
    for view in views:
        row = unit_json(view)
        key = {k: v for k, v in row.items() if k != "fix_age_s"}
        if before.get(view.unit) != key:
            before[view.unit] = key
            changed.append(row)
    return changed


def incident_signature(incident: Incident) -> tuple[Any, ...]:
    return (incident.type, incident.priority, incident.lat, incident.lon, incident.status, incident.units)
