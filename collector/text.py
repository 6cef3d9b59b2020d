"""Tables for a dispatcher: ``units``, ``incidents`` and ``etas`` as plain text.

Pure ``format_...() -> str`` functions (the CLI only prints them), with times
the way people say them: "3 min 20 s", "12 s ago". A position is shown with
its age, and a stale one is marked STALE in the same cell: nothing here makes
an old position, or an ETA computed from one, look fresh.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Sequence

from collector.arrivals import Arrival
from collector.etascore import p90
from collector.fleet import UnitView
from collector.incidents import IncidentEntry
from common.wire import EtaMethod, EtaReport, EtaRow, IncidentStatus, UnitState

__all__ = [
    "format_arrivals",
    "format_etas",
    "format_incidents",
    "format_units",
    "human_age",
    "human_distance",
    "human_duration",
]


def human_duration(seconds: float) -> str:
    """``45 s``, ``3 min 20 s``, ``2 h 05 min``; rounded to the second."""
    if not math.isfinite(seconds):
        return "?"
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        minutes, secs = divmod(total, 60)
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, rest = divmod(total, 3600)
    return f"{hours} h {rest // 60:02d} min"


def human_age(seconds: float | None) -> str:
    """``12 s ago``; ``never`` for no time; ``just now`` under a second."""
    if seconds is None or not math.isfinite(seconds):
        return "never"
    if seconds < 1:
        return "just now"
    return f"{human_duration(seconds)} ago"


def human_distance(metres: float) -> str:
    if not math.isfinite(metres):
        return "?"
    if metres < 1000:
        return f"{round(metres)} m"
    return f"{metres / 1000:.1f} km"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, right: Iterable[int] = ()) -> str:
    body = [list(r) for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in body)]) for i, h in enumerate(headers)]
    align_right = set(right)

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if i in align_right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), *(line(r) for r in body)]) + "\n"


def _since(now: float, then: float | None) -> str:
    return "" if then is None else f" {human_duration(now - then)}"


def format_units(views: Sequence[UnitView], now: float) -> str:
    """One line per unit: duty, link, position with its age, and what was lost."""
    if not views:
        return "No units have reported.\n"
    rows = []
    for v in views:
        if v.fix is None:
            position, age = "-", "no fix"
        else:
            position = f"{v.fix.lat:.5f}, {v.fix.lon:.5f}"
            age = human_age(v.fix_age_s)
            if v.stale:
                age = f"STALE {age}"
        link = "-" if v.connectivity is None else v.connectivity.value + _since(now, v.connectivity_since)
        if v.excluded:
            link += " (excluded)"
        speed = "-" if v.fix is None or v.fix.speed is None else f"{v.fix.speed * 3.6:.0f} km/h"
        missing = str(v.missing) if v.missing else "-"
        if v.seq_jumps:  # a forged seq, or a unit that started counting again (docs/wire.md)
            missing += f" ({v.seq_jumps} seq jump{'s' if v.seq_jumps > 1 else ''})"
        rows.append(
            [
                v.unit,
                "unknown" if v.duty is None else v.duty.value,
                link,
                position,
                age,
                speed,
                "-" if v.seq is None else str(v.seq),
                missing,
                str(v.duplicates),
            ]
        )
    headers = ["UNIT", "DUTY", "LINK", "POSITION", "FIX", "SPEED", "SEQ", "MISSING", "DUPLICATES"]
    return _table(headers, rows, right=(5, 6, 7, 8))


def format_incidents(entries: Iterable[IncidentEntry], now: float, *, include_closed: bool = False) -> str:
    """Open incidents, most urgent first (and closed ones on request)."""
    chosen = [e for e in entries if include_closed or e.incident.status is IncidentStatus.OPEN]
    if not chosen:
        return "No open incidents.\n" if not include_closed else "No incidents.\n"
    chosen.sort(key=lambda e: (e.incident.status is IncidentStatus.CLOSED, e.incident.priority, e.incident.opened))
    rows = []
    for e in chosen:
        i = e.incident
        opened_ago = now - i.opened.timestamp()
        rows.append(
            [
                i.id,
                f"P{i.priority}",
                i.type,
                i.status.value,
                human_age(opened_ago),
                f"{i.lat:.5f}, {i.lon:.5f}",
                ", ".join(i.units) or "-",
            ]
        )
    return _table(["INCIDENT", "PRI", "TYPE", "STATUS", "OPENED", "LOCATION", "UNITS"], rows)


def _eta_cell(row: EtaRow) -> str:
    if row.stale and row.eta_min_s is not None:
        # A stale position gives a range, never one confident number.
        return f"{human_duration(row.eta_min_s)} to {human_duration(row.eta_s)}"
    return human_duration(row.eta_s)


def format_etas(report: EtaReport, now: float) -> str:
    """The ETA report of one incident, soonest first, recommendation on top.

    Ages are brought forward to ``now``: a report computed a minute ago shows
    positions a minute older than when it was computed.
    """
    since_computed = max(0.0, now - report.computed.timestamp())
    computed = format_time_short(report.computed)
    head = [
        f"Incident {report.incident}: ETAs computed {human_age(since_computed)} ({computed}).",
        f"Recommended: {report.recommended}"
        if report.recommended
        else "Recommended: none (no available unit with a fresh position and a connection)",
    ]
    if not report.units:
        return "\n".join([*head, "No candidate units."]) + "\n"
    rows = []
    for row in report.units:
        flags = []
        if row.unit == report.recommended:
            flags.append("RECOMMENDED")
        if row.assigned:
            flags.append("assigned")
        if row.stale:
            flags.append("STALE position")
        if row.offline:
            flags.append(UnitState.OFFLINE.value)
        rows.append(
            [
                row.unit,
                _eta_cell(row),
                human_distance(row.distance_m) + ("" if row.method is EtaMethod.ROUTER else " est."),
                human_age(row.fix_age_s + since_computed),
                "unknown" if row.status is None else row.status.value,
                row.method.value,
                row.confidence.value,
                ", ".join(flags),
            ]
        )
    if report.candidates is not None and report.candidates > len(report.units):
        head.append(
            f"Showing the {len(report.units)} soonest of {report.candidates} candidate units "
            "(the rest are further away; [eta] max_units sets how many are listed)."
        )
    # By road: the router's distance; without one, the model's estimate,
    # which is no road at all, so it says so.
    headers = ["UNIT", "ETA", "BY ROAD", "POSITION", "DUTY", "METHOD", "CONFIDENCE", "NOTES"]
    table = _table(headers, rows, right=(2,))
    if any(row.method is not EtaMethod.ROUTER for row in report.units):
        table += "est. = no road distance: the straight line x [eta] circuity\n"
    return "\n".join(head) + "\n\n" + table


def format_time_short(time: dt.datetime) -> str:
    """``09:30:01 UTC``."""
    return time.strftime("%H:%M:%S UTC")


def format_arrivals(arrivals: Sequence[Arrival]) -> str:
    """Predicted vs actual travel (dispatch -> arrival): median and p90 of |predicted - actual| / actual,
    for all, by priority and by method; with the median travel and response (call -> arrival) times."""
    if not arrivals:
        return "No arrivals measured yet.\n"
    measured = [a for a in arrivals if a.predicted_s is not None and a.actual_s > 0]

    def cells(label: str, group: Sequence[Arrival]) -> list[str]:
        errors = [abs(a.predicted_s - a.actual_s) / a.actual_s for a in group if a.predicted_s is not None]
        median = statistics.median(errors) if errors else math.nan
        return [
            label,
            str(len(group)),
            _percent(median),
            _percent(p90(errors)),
            human_duration(statistics.median(a.actual_s for a in group)) if group else "-",
            human_duration(statistics.median(a.response_s for a in group)) if group else "-",
        ]

    rows = [cells("all", measured)]
    for priority in sorted({a.priority for a in measured}):
        rows.append(cells(f"priority {priority}", [a for a in measured if a.priority == priority]))
    for method in sorted({a.method or "" for a in measured}):
        rows.append(cells(f"method {method}", [a for a in measured if a.method == method]))
    head = [f"Predicted vs actual: {len(arrivals)} arrivals measured, {len(measured)} with an ETA at dispatch.", "", ""]
    table = _table(["", "ARRIVALS", "MEDIAN ERROR", "P90 ERROR", "TRAVEL", "RESPONSE"], rows, right=(1, 2, 3, 4, 5))
    return "\n".join(head) + table


def _percent(x: float) -> str:
    return f"{x * 100:.0f} %" if math.isfinite(x) else "-"
