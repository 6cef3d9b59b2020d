"""The public documents as bytes and as a table.

``serialize`` is the one way a snapshot becomes bytes, for the retained MQTT
messages and the ``units.geojson``/``calls.geojson`` files alike: sorted keys,
no spaces, ASCII, so equal snapshots are equal bytes (a shell can skip
republishing an unchanged snapshot, and a CDN's ETag stays put).
``format_table`` is what ``public preview`` prints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["serialize", "format_table"]


def serialize(document: Mapping[str, Any]) -> bytes:
    """Deterministic JSON bytes of a public document (a FeatureCollection)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _rows(headers: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return lines


def _coordinates(feature: Mapping[str, Any]) -> tuple[str, str]:
    lon, lat = feature["geometry"]["coordinates"]
    return f"{lat:.6f}", f"{lon:.6f}"


def format_table(units: Mapping[str, Any], calls: Mapping[str, Any]) -> str:
    """A plain-text view of the two documents, exactly as they would be published."""
    lines = [
        f"units as of {units['as_of']} (delay {units['delay_s']} s, cell {units['cell_m']} m): "
        f"{len(units['features'])} shown"
    ]
    unit_rows = []
    counts = False
    for feature in units["features"]:
        props = feature["properties"]
        counts = "count" in props
        name = str(props["count"]) if counts else str(props["unit"])
        unit_rows.append((name, str(props["status"]), *_coordinates(feature)))
    lines += _rows(("count" if counts else "unit", "status", "lat", "lon"), unit_rows)
    lines.append("")
    lines.append(
        f"calls as of {calls['as_of']} (delay {calls['delay_s']} s, cell {calls['cell_m']} m, "
        f"status as of {calls['status_as_of']}): {len(calls['features'])} shown"
    )
    call_rows = []
    for feature in calls["features"]:
        props = feature["properties"]
        row = (str(props[key]) for key in ("call", "category", "priority", "status", "opened"))
        call_rows.append((*row, *_coordinates(feature)))
    lines += _rows(("call", "category", "priority", "status", "opened", "lat", "lon"), call_rows)
    return "\n".join(lines) + "\n"
