"""``public export-site DIR``: the public site as plain files for any web server or CDN.

Writes the page and its files (:func:`collector.web.site.site_assets`, with
``static`` set so the page offers fixed downloads instead of date pickers),
``trends.json`` and the open data for the last 365 days, each file
atomically. The page reads ``units.geojson`` and ``calls.geojson`` beside
itself, which the feed writes into ``[public] public_dir``: export into that
directory (the default) and the site is complete; the snapshots then stay
live, and re-running the export (daily, from a timer) keeps the trends and
open data current.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from collector.config import CollectorConfig
from collector.public.history_store import PublicHistoryReader
from collector.public.shell import CALLS_FILE, UNITS_FILE, write_atomic
from collector.web.basemap import basemap_bytes, places_of
from collector.web.opendata import csv_chunks, date_range, geojson_chunks
from collector.web.public import DEFAULT_TREND_DAYS
from collector.web.run import site_settings
from collector.web.site import site_assets
from collector.web.trends import trends

__all__ = ["ExportReport", "export_site"]


@dataclass(frozen=True, slots=True)
class ExportReport:
    files: int
    bytes: int
    calls: int
    snapshots_beside: bool  # units.geojson and calls.geojson are (or will be) in the folder
    note: str = ""


def export_site(config: CollectorConfig, folder: Path, today: dt.date | None = None) -> ExportReport:
    """Write the site into ``folder``; BasemapError and OSError propagate (the command prints them)."""
    settings = site_settings(config, static=True)
    basemap = basemap_bytes(config.eta.osm, config.public.state_file.parent) if config.eta.osm else None
    tz = ZoneInfo(settings.timezone)
    span = date_range({}, today or dt.datetime.now(tz).date(), tz, DEFAULT_TREND_DAYS)
    reader = PublicHistoryReader(config.public.history_path)
    try:
        calls = reader.calls_sync(span.utc_from, span.utc_before)
    finally:
        reader.close()
    places = places_of(json.loads(basemap)) if basemap is not None else []
    files = {path or "index.html": asset.body for path, asset in site_assets(settings, basemap).items()}
    document = trends(calls, span.start, span.end, tz, places)
    files["trends.json"] = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    files["open-data/calls.csv"] = b"".join(csv_chunks(calls))
    files["open-data/calls.geojson"] = b"".join(geojson_chunks(calls))
    folder.mkdir(parents=True, exist_ok=True)
    for relative, data in sorted(files.items()):
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    public_dir = config.public.public_dir
    beside = public_dir is not None and public_dir.resolve() == folder.resolve()
    note = ""
    if not beside:
        copied = 0
        if public_dir is not None:
            for name in (UNITS_FILE, CALLS_FILE):
                if (public_dir / name).is_file():
                    shutil.copyfile(public_dir / name, folder / name)
                    copied += 1
        note = (
            f"the page reads {UNITS_FILE} and {CALLS_FILE} beside it, which the feed writes into [public] public_dir "
            f"({public_dir or 'not set'}): export into that directory, or serve both at one place"
            + (" (copied the current ones, which will not be updated)" if copied else "")
        )
    return ExportReport(len(files), sum(map(len, files.values())), len(calls), beside, note)
