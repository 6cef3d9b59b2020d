"""Checks of the public feed's guarantees on published documents.

Shared by the property tests (documents straight from the policy) and the
end-to-end tests (documents as an anonymous subscriber received them): the
same guarantees, checked the same way, whatever produced the bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from collector.public import CALL_PRIORITIES, CALL_STATUSES, PUBLIC_UNIT_STATUSES, Grid, PublicPolicy, UnitsMode
from collector.public import parse_minute as _parse_minute

MINUTE_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z")
TOKEN_PATTERN = re.compile(r"[a-z2-7]{8}")
COLLECTION_KEYS = {"v", "type", "as_of", "delay_s", "cell_m", "features"}
CALLS_COLLECTION_KEYS = COLLECTION_KEYS | {"status_as_of"}
FEATURE_KEYS = {"type", "geometry", "properties"}
GEOMETRY_KEYS = {"type", "coordinates"}
CALL_KEYS = {"call", "category", "priority", "status", "opened"}


def parse_minute(text: object) -> dt.datetime:
    assert isinstance(text, str) and MINUTE_PATTERN.fullmatch(text), f"not a time to the minute: {text!r}"
    return _parse_minute(text)


def _check_collection(
    doc: Mapping[str, Any], now: dt.datetime, delay_s: int, policy: PublicPolicy, keys: set[str] = COLLECTION_KEYS
) -> dt.datetime:
    assert set(doc) == keys, f"collection keys {sorted(doc)}"
    assert doc["type"] == "FeatureCollection" and doc["v"] == 1
    assert doc["delay_s"] == delay_s and doc["cell_m"] == policy.cell_m
    as_of = parse_minute(doc["as_of"])
    assert as_of <= now - dt.timedelta(seconds=delay_s), f"as_of {as_of} later than now {now} - {delay_s} s"
    assert isinstance(doc["features"], list)
    return as_of


def _check_point(feature: Mapping[str, Any], grid: Grid) -> None:
    assert set(feature) == FEATURE_KEYS, f"feature keys {sorted(feature)}"
    assert feature["type"] == "Feature"
    geometry = feature["geometry"]
    assert set(geometry) == GEOMETRY_KEYS and geometry["type"] == "Point", f"geometry {geometry}"
    lon, lat = geometry["coordinates"]
    assert grid.is_centre(lat, lon), f"({lat}, {lon}) is not the centre of a {grid.cell_m} m cell"


def check_units(doc: Mapping[str, Any], *, policy: PublicPolicy, grid: Grid, now: dt.datetime) -> dt.datetime:
    """Every guarantee of a units document; returns its as_of."""
    as_of = _check_collection(doc, now, policy.unit_delay_s, policy)
    for feature in doc["features"]:
        _check_point(feature, grid)
        props = feature["properties"]
        assert props["status"] in PUBLIC_UNIT_STATUSES, f"status {props['status']!r} must not be shown"
        if policy.units is UnitsMode.COUNTS:
            assert set(props) == {"count", "status"}, f"unit properties {sorted(props)}"
            assert type(props["count"]) is int and props["count"] >= 1
        else:
            assert set(props) == {"unit", "status"}, f"unit properties {sorted(props)}"
            if policy.units is UnitsMode.PSEUDONYMS:
                assert TOKEN_PATTERN.fullmatch(props["unit"]), f"not a pseudonym: {props['unit']!r}"
    return as_of


def check_calls(doc: Mapping[str, Any], *, policy: PublicPolicy, grid: Grid, now: dt.datetime) -> dt.datetime:
    """Every guarantee of a calls document; returns its as_of."""
    as_of = _check_collection(doc, now, policy.call_delay_s, policy, CALLS_COLLECTION_KEYS)
    status_as_of = parse_minute(doc["status_as_of"])
    assert status_as_of <= as_of, "a call's status is never more recent than the calls' as_of"
    assert status_as_of <= now - dt.timedelta(seconds=policy.unit_delay_s), "a status later than the units' delay"
    allowed = set(policy.categories.values()) | {policy.unknown_category}
    for feature in doc["features"]:
        _check_point(feature, grid)
        props = feature["properties"]
        assert set(props) == CALL_KEYS, f"call properties {sorted(props)}"
        assert props["category"] in allowed, f"category {props['category']!r} is not the operator's"
        assert props["category"] not in policy.suppressed, f"suppressed category {props['category']!r} shown"
        assert props["status"] in CALL_STATUSES
        assert props["priority"] in CALL_PRIORITIES
        assert TOKEN_PATTERN.fullmatch(props["call"])
        assert parse_minute(props["opened"]) <= as_of
    return as_of


def check_absent(payload: bytes, secrets: Iterable[str]) -> None:
    """None of ``secrets`` (real unit ids, incident ids, CAD free text) occurs in the bytes."""
    text = payload.decode()
    json.loads(text)
    for secret in secrets:
        assert secret not in text, f"{secret!r} is published"
