from __future__ import annotations

import csv
import datetime as dt
import io
import json
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.export import CSV_COLUMNS, ExportFormat, StoredFix, formatter
from common.fix import Fix, format_time
from common.wire import WireFix
from tests.strategies import fixes

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 28, 9, 30, 1, 250_000, tzinfo=UTC)
FULL = StoredFix(WireFix("PC-1", 7, Fix(T0, 53.2352, -1.4211, 92.4, 13.4, 271.5, 3, 0.9, 9)), T0.timestamp() + 0.5)
BARE = StoredFix(WireFix("PC-2", 1, Fix(T0, 53.0, -1.0)), T0.timestamp() + 1)
GPX = "{http://www.topografix.com/GPX/1/1}"


def render(fmt: ExportFormat, fixes: list[StoredFix]) -> str:
    return "".join(formatter(fmt).render(fixes))


def test_csv() -> None:
    rows = list(csv.reader(io.StringIO(render(ExportFormat.CSV, [FULL, BARE]))))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1] == ["PC-1", "7", "2026-11-28T09:30:01.250Z", "53.2352", "-1.4211", "92.4", "13.4", "271.5", "3",
                       "0.9", "9", "2026-11-28T09:30:01.750Z"]  # fmt: skip
    assert rows[2][5:8] == ["", "", ""] and rows[2][8] == "2"


def test_geojson() -> None:
    doc = json.loads(render(ExportFormat.GEOJSON, [FULL, BARE]))
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 2
    feature = doc["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [-1.4211, 53.2352]}
    assert feature["properties"]["unit"] == "PC-1" and feature["properties"]["alt"] == 92.4
    assert feature["properties"]["time"] == "2026-11-28T09:30:01.250Z"
    assert "speed" not in doc["features"][1]["properties"]
    assert json.loads(render(ExportFormat.GEOJSON, [])) == {"type": "FeatureCollection", "features": []}


def test_gpx_one_track_per_unit() -> None:
    root = ET.fromstring(render(ExportFormat.GPX, [FULL, FULL, BARE]))
    tracks = root.findall(f"{GPX}trk")
    assert [t.findtext(f"{GPX}name") for t in tracks] == ["PC-1", "PC-2"]
    point = tracks[0].find(f"{GPX}trkseg/{GPX}trkpt")
    assert point is not None and point.get("lat") == "53.2352" and point.get("lon") == "-1.4211"
    # GPX 1.1 requires this child order.
    assert [c.tag.removeprefix(GPX) for c in point] == ["ele", "time", "fix", "sat", "hdop"]
    assert point.findtext(f"{GPX}time") == "2026-11-28T09:30:01.250Z"
    assert ET.fromstring(render(ExportFormat.GPX, [])).findall(f"{GPX}trk") == []


@settings(max_examples=50)
@given(st.lists(fixes(), min_size=1, max_size=10))
def test_every_format_carries_every_position_exactly(fs: list[Fix]) -> None:
    stored = [StoredFix(WireFix("U", i + 1, f), f.time.timestamp()) for i, f in enumerate(fs)]
    rows = list(csv.DictReader(io.StringIO(render(ExportFormat.CSV, stored))))
    assert [(float(r["lat"]), float(r["lon"]), r["time"]) for r in rows] == [
        (f.lat, f.lon, format_time(f.time)) for f in fs
    ]
    features = json.loads(render(ExportFormat.GEOJSON, stored))["features"]
    assert [tuple(x["geometry"]["coordinates"]) for x in features] == [(f.lon, f.lat) for f in fs]
    points = ET.fromstring(render(ExportFormat.GPX, stored)).iter(f"{GPX}trkpt")
    assert [(float(p.get("lat", "")), float(p.get("lon", ""))) for p in points] == [(f.lat, f.lon) for f in fs]
