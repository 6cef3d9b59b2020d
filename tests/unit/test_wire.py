from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import wire
from common.fix import Fix
from tests.strategies import fixes

UTC = dt.UTC
FIX = Fix(dt.datetime(2026, 11, 28, 9, 30, 1, tzinfo=UTC), 53.2352, -1.4211, 90.5, 12.3, 271.0, 3, 0.9, 9)


def test_pos_round_trip_and_shape() -> None:
    wf = wire.WireFix("PC-101", 42, FIX)
    payload = wire.encode_fix(wf)
    obj = json.loads(payload)
    assert obj["v"] == 1 and obj["unit"] == "PC-101" and obj["seq"] == 42
    assert {k: obj[k] for k in FIX.to_dict()} == FIX.to_dict()
    assert wire.decode_fix(payload, unit="PC-101") == wf
    with pytest.raises(wire.MalformedPayloadError):
        wire.decode_fix(payload, unit="PC-102")


@given(st.lists(fixes(), min_size=1, max_size=wire.MAX_TRACK_FIXES), st.integers(1, 2**40))
def test_track_round_trip(fs: list[Fix], first_seq: int) -> None:
    batch = [wire.WireFix("u1", first_seq + i, f) for i, f in enumerate(fs)]
    assert wire.decode_track(wire.encode_track("u1", batch), unit="u1") == batch


def test_track_limits() -> None:
    batch = [wire.WireFix("u1", i + 1, FIX) for i in range(wire.MAX_TRACK_FIXES + 1)]
    with pytest.raises(ValueError):
        wire.encode_track("u1", batch)
    with pytest.raises(ValueError):
        wire.encode_track("u1", [])
    payload = json.dumps({"v": 1, "unit": "u1", "fixes": [f.to_dict() for f in batch]})
    with pytest.raises(wire.MalformedPayloadError):
        wire.decode_track(payload)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"not json", wire.MalformedPayloadError),
        (b"\xff\xfe", wire.MalformedPayloadError),
        (b"[]", wire.MalformedPayloadError),
        (b'{"v": 2, "unit": "u1", "seq": 1}', wire.VersionError),
        (b'{"v": true, "unit": "u1", "seq": 1}', wire.VersionError),
        (b'{"unit": "u1", "seq": 1}', wire.VersionError),
        (b'{"v": 1, "unit": "u/1", "seq": 1, "time": "2026-11-28T09:30:01.000Z", "lat": 1, "lon": 1}', wire.WireError),
        (b'{"v": 1, "unit": "u1", "seq": 0, "time": "2026-11-28T09:30:01.000Z", "lat": 1, "lon": 1}', wire.WireError),
        (b'{"v": 1, "unit": "u1", "seq": 1.5, "time": "2026-11-28T09:30:01.000Z", "lat": 1, "lon": 1}', wire.WireError),
        (b'{"v": 1, "unit": "u1", "seq": 1, "time": "2026-11-28T09:30:01.000Z", "lat": 91, "lon": 1}', wire.WireError),
        (b'{"v": 1, "unit": "u1", "seq": 1, "lat": 1, "lon": 1}', wire.WireError),
        (b"[" * 50_000, wire.MalformedPayloadError),
        (b" " * (wire.MAX_PAYLOAD_BYTES + 1), wire.OversizedPayloadError),
    ],
)
def test_bad_pos_payloads(payload: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        wire.decode_fix(payload)


@given(st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_decoders_raise_only_wire_errors(payload: bytes) -> None:
    for decode in (wire.decode_fix, wire.decode_track, wire.decode_state, wire.decode_status,
                   wire.decode_incident, wire.decode_diag):  # fmt: skip
        try:
            decode(payload)
        except wire.WireError:
            pass


def test_state_and_status() -> None:
    assert wire.decode_state(wire.encode_state(wire.UnitState.OFFLINE)) is wire.UnitState.OFFLINE
    assert wire.decode_status(b"enroute") is wire.DutyStatus.ENROUTE
    with pytest.raises(wire.MalformedPayloadError, match="available"):
        wire.decode_status(b"busy")


def test_incident_round_trip_and_validation() -> None:
    incident = wire.Incident("INC-7", "burglary", 1, 53.23, -1.42, wire.IncidentStatus.OPEN,
                             dt.datetime(2026, 11, 28, 9, 0, tzinfo=UTC), ("PC-101",))  # fmt: skip
    assert wire.decode_incident(wire.encode_incident(incident), incident_id="INC-7") == incident
    obj = incident.to_dict()
    del obj["v"]  # CAD systems may leave the version out
    assert wire.decode_incident(json.dumps(obj)) == incident
    for key, bad in (("priority", 5), ("lat", "x"), ("status", "maybe"), ("opened", "yesterday"), ("units", "PC")):
        with pytest.raises(wire.MalformedPayloadError):
            wire.decode_incident(json.dumps({**obj, key: bad}))


def test_topics() -> None:
    topics = wire.Topics("derbyshire")
    assert topics.pos("PC-101") == "ac/v1/derbyshire/units/PC-101/pos"
    assert topics.eta("INC-7") == "ac/v1/derbyshire/incidents/INC-7/eta"
    assert topics.unit_filter(wire.TopicKind.TRACK) == "ac/v1/derbyshire/units/+/track"
    assert topics.public_units == "public/v1/derbyshire/units"
    assert topics.match("ac/v1/derbyshire/units/PC-101/track") == wire.TopicMatch(
        wire.TopicKind.TRACK, "derbyshire", "PC-101"
    )
    assert topics.match("ac/v1/derbyshire/incidents/INC-7").kind is wire.TopicKind.INCIDENT
    for bad in ("ac/v1/other/units/PC-101/pos", "ac/v1/derbyshire/units/PC-101/nope",
                "ac/v1/derbyshire/units/+/pos", "ac/v1/derbyshire/units/PC-101/incident", "x"):  # fmt: skip
        with pytest.raises(wire.InvalidTopicError):
            topics.match(bad)
    with pytest.raises(wire.WireError):
        topics.pos("a/b")
    with pytest.raises(wire.WireError):
        wire.Topics("#")
