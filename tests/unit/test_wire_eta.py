"""The contract's additions for the collector: out-of-range rejections and the ETA payload."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import wire
from common.wire import DutyStatus, EtaConfidence, EtaMethod, EtaReport, EtaRow

UTC = dt.UTC
FIX_JSON = {"v": 1, "unit": "u1", "seq": 1, "time": "2026-11-28T09:30:01.000Z", "lat": 1.0, "lon": 1.0}


@pytest.mark.parametrize(
    "change",
    [{"lat": 91.0}, {"lon": -180.5}, {"speed": -1.0}, {"track": 360.5}, {"sats": 300}, {"seq": 0}, {"hdop": 101}],
)
def test_out_of_range_fix_values_are_their_own_kind(change: dict[str, object]) -> None:
    with pytest.raises(wire.OutOfRangeError):
        wire.decode_fix(json.dumps({**FIX_JSON, **change}))


@pytest.mark.parametrize("change", [{"lat": "1"}, {"seq": 1.5}, {"sats": 3.5}, {"mode": 4}, {"lat": True}])
def test_wrong_types_stay_malformed_not_out_of_range(change: dict[str, object]) -> None:
    with pytest.raises(wire.MalformedPayloadError) as caught:
        wire.decode_fix(json.dumps({**FIX_JSON, **change}))
    assert not isinstance(caught.value, wire.OutOfRangeError)


def test_incident_out_of_range() -> None:
    obj = {"id": "I1", "type": "x", "priority": 7, "lat": 1, "lon": 1, "opened": "2026-11-28T09:00:00Z"}
    with pytest.raises(wire.OutOfRangeError):
        wire.decode_incident(json.dumps(obj))
    with pytest.raises(wire.OutOfRangeError):
        wire.decode_incident(json.dumps({**obj, "priority": 1, "lat": -95}))


ROW = EtaRow("PC-1", 204.3, 2310.0, 1.2, DutyStatus.AVAILABLE, EtaMethod.MODEL, False)
STALE = EtaRow(
    "PC-2", 388.0, 4852.0, 95.4, None, EtaMethod.FALLBACK, True, EtaConfidence.LOW, 231.7, assigned=True, offline=True
)
REPORT = EtaReport("INC-1", dt.datetime(2026, 11, 28, 9, 30, 2, tzinfo=UTC), "PC-1", (ROW, STALE))


def test_eta_round_trip_and_shape() -> None:
    payload = wire.encode_eta(REPORT)
    obj = json.loads(payload)
    assert obj["v"] == 1 and obj["incident"] == "INC-1" and obj["recommended"] == "PC-1"
    assert obj["computed"] == "2026-11-28T09:30:02.000Z"
    assert set(obj["units"][0]) == {
        "unit", "eta_s", "distance_m", "fix_age_s", "status", "method", "stale", "confidence"
    }  # fmt: skip
    assert obj["units"][1]["status"] == "unknown" and obj["units"][1]["offline"] is True
    assert wire.decode_eta(payload, incident_id="INC-1") == REPORT
    assert "candidates" not in obj  # optional: said only when known
    counted = dataclasses.replace(REPORT, candidates=7)
    assert json.loads(wire.encode_eta(counted))["candidates"] == 7
    assert wire.decode_eta(wire.encode_eta(counted)) == counted
    with pytest.raises(wire.MalformedPayloadError):
        wire.decode_eta(payload, incident_id="INC-2")


def test_the_documented_example_decodes() -> None:
    text = (Path(__file__).parents[2] / "docs" / "wire.md").read_text()
    example = re.search(r'^\{"v":1,"incident".*\}$', text, re.MULTILINE)
    assert example is not None
    report = wire.decode_eta(example.group(0))
    assert report.recommended == report.units[0].unit


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"recommended": "PC-9"}, wire.MalformedPayloadError),
        ({"units": "x"}, wire.MalformedPayloadError),
        ({"v": 2}, wire.VersionError),
        ({"computed": "noon"}, wire.MalformedPayloadError),
        ({"units": [{**ROW.to_dict(), "eta_s": -1}]}, wire.OutOfRangeError),
        ({"units": [{**ROW.to_dict(), "eta_s": "soon"}]}, wire.MalformedPayloadError),
        ({"units": [{**ROW.to_dict(), "method": "guess"}]}, wire.MalformedPayloadError),
        ({"units": [{**ROW.to_dict(), "stale": "no"}]}, wire.MalformedPayloadError),
        ({"units": [{**ROW.to_dict(), "eta_min_s": 500.0}]}, wire.OutOfRangeError),
        ({"candidates": 1}, wire.MalformedPayloadError),  # fewer than the two listed
        ({"candidates": "many"}, wire.MalformedPayloadError),
        ({"candidates": True}, wire.MalformedPayloadError),
    ],
)
def test_bad_eta_payloads(change: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        wire.decode_eta(json.dumps({**REPORT.to_dict(), **change}))


@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
def test_eta_decoder_raises_only_wire_errors(payload: bytes) -> None:
    try:
        wire.decode_eta(payload)
    except wire.WireError:
        pass
