"""Open data: the public history as CSV and GeoJSON, with its data dictionary. Pure.

One owner for the columns (:data:`FIELDS`): the CSV header, the GeoJSON
properties, the Frictionless ``datapackage.json`` and the page's data
dictionary all come from it. Only :class:`PublishedCall` fields that the live
feed published are written (the history's ``seen_open`` bookkeeping is not).

Dates in ``?from=&to=`` are local days of the site's time zone, both
included (:func:`date_range`), as in the trends; the times in the files are UTC.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from collector.public.history import PublishedCall
from collector.public.policy import CALL_PRIORITIES, format_minute
from common.errors import ActiveCallsError

__all__ = [
    "FIELDS",
    "MAX_DAYS",
    "DateRange",
    "Field",
    "OpenDataError",
    "csv_chunks",
    "datapackage",
    "date_range",
    "geojson_chunks",
    "row",
]

MAX_DAYS: Final = 366  # per request: a year, so one answer stays a few MB
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_EARLIEST: Final = dt.date(2000, 1, 1)


class OpenDataError(ActiveCallsError, ValueError):
    """A request's parameters that cannot be answered; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: str  # Frictionless Table Schema type
    description: str
    format: str = "default"


FIELDS: Final = (
    Field("call", "string", "The call's public token: the one the live feed showed it under. Not a CAD reference."),
    Field("opened", "datetime", "When the call was opened, UTC, to the minute.", "%Y-%m-%dT%H:%M:%SZ"),
    Field("category", "string",
          "Public category (the force's grouping of incident types; sensitive ones are never published)."),
    Field("priority", "string", "emergency (graded 1), priority (2) or routine (3 and 4)."),
    Field("lat", "number", "Latitude (WGS84) of the centre of the grid cell the call was in: not its address."),
    Field("lon", "number", "Longitude (WGS84) of the same cell centre."),
    Field("first_attending", "datetime",
          "The minute the feed first showed a unit on scene; empty when not seen to the minute.", "%Y-%m-%dT%H:%M:%SZ"),
    Field("closed", "datetime",
          "The minute the feed first showed the call closed; empty while open.", "%Y-%m-%dT%H:%M:%SZ"),
    Field("response_min", "integer", "Minutes from opened to first_attending; empty when first_attending is."),
)  # fmt: skip
FIELD_NAMES: Final = tuple(f.name for f in FIELDS)


@dataclass(frozen=True, slots=True)
class DateRange:
    """Local days ``start`` to ``end`` (both included) and the UTC instants that bound them."""

    start: dt.date
    end: dt.date
    tz: ZoneInfo

    @property
    def utc_from(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(), self.tz).astimezone(dt.UTC)

    @property
    def utc_before(self) -> dt.datetime:
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), self.tz).astimezone(dt.UTC)


def _date(name: str, text: str, today: dt.date) -> dt.date:
    if not _DATE.fullmatch(text):
        raise OpenDataError(f"{name} must be a date like 2026-11-28, got {text[:40]!r}")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise OpenDataError(f"{name}: {text} is not a day of the calendar") from None
    if not _EARLIEST <= day <= today + dt.timedelta(days=1):
        raise OpenDataError(f"{name} must be from {_EARLIEST} to today, got {text}")
    return day


def date_range(query: Mapping[str, str], today: dt.date, tz: ZoneInfo, default_days: int) -> DateRange:
    """``from`` and ``to`` of a query (each optional): by default the ``default_days`` up to ``today``."""
    end = _date("to", query["to"], today) if query.get("to") else today
    start = _date("from", query["from"], today) if query.get("from") else end - dt.timedelta(days=default_days - 1)
    if start > end:
        raise OpenDataError(f"from ({start}) is after to ({end})")
    if (end - start).days + 1 > MAX_DAYS:
        raise OpenDataError(f"at most {MAX_DAYS} days per request, asked for {(end - start).days + 1}")
    return DateRange(start, end, tz)


def row(call: PublishedCall) -> dict[str, Any]:
    """One call as the open data writes it (None: an empty cell)."""
    return {
        "call": call.call,
        "opened": format_minute(call.opened),
        "category": call.category,
        "priority": call.priority if call.priority in CALL_PRIORITIES else None,
        "lat": call.lat,
        "lon": call.lon,
        "first_attending": None if call.attending is None else format_minute(call.attending),
        "closed": None if call.closed is None else format_minute(call.closed),
        "response_min": call.response_min,
    }


def csv_chunks(calls: Iterable[PublishedCall], *, per_chunk: int = 2000) -> Iterator[bytes]:
    """RFC 4180 CSV (CRLF, header first), UTF-8, in chunks for streaming."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(FIELD_NAMES)
    for n, call in enumerate(calls, start=1):
        writer.writerow(["" if v is None else v for v in row(call).values()])
        if n % per_chunk == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def geojson_chunks(calls: Iterable[PublishedCall], *, per_chunk: int = 2000) -> Iterator[bytes]:
    """A GeoJSON FeatureCollection of points, one feature per call, properties as in the CSV."""
    yield b'{"type":"FeatureCollection","features":['
    parts: list[str] = []
    for n, call in enumerate(calls):
        properties = row(call)
        lat, lon = properties.pop("lat"), properties.pop("lon")
        geometry = {"type": "Point", "coordinates": [lon, lat]}
        feature = {"type": "Feature", "geometry": geometry, "properties": properties}
        parts.append(("," if n else "") + json.dumps(feature, separators=(",", ":"), ensure_ascii=False))
        if len(parts) >= per_chunk:
            yield "".join(parts).encode()
            parts = []
    yield ("".join(parts) + "]}").encode()


def datapackage(title: str, licence: str, licence_url: str) -> dict[str, Any]:
    """A Frictionless Data Package describing calls.csv: the machine-readable data dictionary."""
    return {
        "name": "active-calls",
        "title": f"{title}: published calls",
        "licenses": [{"title": licence, "path": licence_url}],
        "resources": [
            {
                "name": "calls",
                "path": "calls.csv",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": {
                    "fields": [
                        {"name": f.name, "type": f.type, "description": f.description}
                        | ({"format": f.format} if f.format != "default" else {})
                        for f in FIELDS
                    ],
                    "primaryKey": ["call", "opened"],
                },
            }
        ],
    }
