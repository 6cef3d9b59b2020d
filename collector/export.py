"""History for analysts: GeoJSON, GPX and CSV, written as a stream of text chunks.

Pure formatters: recorded fixes in, text out, one fix at a time, so an export
of a month of history never sits in memory whole and the formats can be
tested without a database. The store supplies the fixes (``Store.iter_fixes``).
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from common.fix import format_time
from common.wire import WireFix

__all__ = [
    "CSV_COLUMNS",
    "CsvFormatter",
    "ExportFormat",
    "Formatter",
    "GeoJsonFormatter",
    "GpxFormatter",
    "StoredFix",
    "formatter",
]


@dataclass(frozen=True, slots=True)
class StoredFix:
    """A fix as recorded: what was reported, and when the collector received it."""

    fix: WireFix
    received: float  # POSIX seconds


class ExportFormat(enum.StrEnum):
    GEOJSON = "geojson"
    GPX = "gpx"
    CSV = "csv"


CSV_COLUMNS = ("unit", "seq", "time", "lat", "lon", "alt", "speed", "track", "mode", "hdop", "sats", "received")


def _received(seconds: float) -> str:
    return format_time(dt.datetime.fromtimestamp(seconds, dt.UTC))


class Formatter:
    """Push-style, so an async shell can stream: ``header()``, then ``row(fix)``
    for each fix in order, then ``footer()``; each returns text to write."""

    def header(self) -> str:
        return ""

    def row(self, stored: StoredFix) -> str:
        raise NotImplementedError

    def footer(self) -> str:
        return ""

    def render(self, fixes: Iterable[StoredFix]) -> Iterator[str]:
        yield self.header()
        for stored in fixes:
            yield self.row(stored)
        yield self.footer()


class CsvFormatter(Formatter):
    """RFC 4180 CSV with a header; empty cells for fields the receiver did not report."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def _take(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text

    def header(self) -> str:
        self._writer.writerow(CSV_COLUMNS)
        return self._take()

    def row(self, stored: StoredFix) -> str:
        wf, f = stored.fix, stored.fix.fix
        optional = ["" if v is None else v for v in (f.alt, f.speed, f.track, f.mode, f.hdop, f.sats)]
        self._writer.writerow(
            (wf.unit, wf.seq, format_time(f.time), f.lat, f.lon, *optional, _received(stored.received))
        )
        return self._take()


class GeoJsonFormatter(Formatter):
    """An RFC 7946 FeatureCollection with one Point feature per fix ([lon, lat];
    the other fields, altitude included, as properties)."""

    def __init__(self) -> None:
        self._first = True

    def header(self) -> str:
        return '{"type":"FeatureCollection","features":['

    def row(self, stored: StoredFix) -> str:
        wf, f = stored.fix, stored.fix.fix
        properties: dict[str, Any] = {"unit": wf.unit, "seq": wf.seq, **f.to_dict()}
        del properties["lat"], properties["lon"]
        properties["received"] = _received(stored.received)
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [f.lon, f.lat]},
            "properties": properties,
        }
        separator = "\n" if self._first else ",\n"
        self._first = False
        return separator + json.dumps(feature, separators=(",", ":"))

    def footer(self) -> str:
        return "\n]}\n"


class GpxFormatter(Formatter):
    """GPX 1.1, one track per unit. Fixes should come grouped by unit (the
    store's ``order="unit"``); a unit seen again later starts another track."""

    def __init__(self) -> None:
        self._unit: str | None = None

    def header(self) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<gpx version="1.1" creator="activecalls-collector" xmlns="http://www.topografix.com/GPX/1/1">\n'
        )

    def row(self, stored: StoredFix) -> str:
        wf, f = stored.fix, stored.fix.fix
        parts = []
        if wf.unit != self._unit:
            if self._unit is not None:
                parts.append("</trkseg></trk>\n")
            self._unit = wf.unit
            parts.append(f"<trk><name>{escape(wf.unit)}</name><trkseg>\n")
        # GPX 1.1 fixes the order of a trkpt's children: ele, time, ..., fix, sat, hdop.
        parts.append(f"<trkpt lat={quoteattr(repr(f.lat))} lon={quoteattr(repr(f.lon))}>")
        if f.alt is not None:
            parts.append(f"<ele>{f.alt!r}</ele>")
        parts.append(f"<time>{format_time(f.time)}</time><fix>{f.mode}d</fix>")
        if f.sats is not None:
            parts.append(f"<sat>{f.sats}</sat>")
        if f.hdop is not None:
            parts.append(f"<hdop>{f.hdop!r}</hdop>")
        parts.append("</trkpt>\n")
        return "".join(parts)

    def footer(self) -> str:
        return ("</trkseg></trk>\n" if self._unit is not None else "") + "</gpx>\n"


def formatter(fmt: ExportFormat) -> Formatter:
    """A fresh formatter (they keep a little state between rows)."""
    return {ExportFormat.CSV: CsvFormatter, ExportFormat.GPX: GpxFormatter, ExportFormat.GEOJSON: GeoJsonFormatter}[
        fmt
    ]()
