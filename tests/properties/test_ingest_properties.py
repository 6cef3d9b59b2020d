"""Ingest never raises on what arrives from the broker, and counts what it refuses."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.ingest import FixesReceived, Ignored, Ingest, Rejected, RejectReason
from common import wire
from common.wire import TopicKind, Topics, WireFix
from tests.strategies import fixes

T = Topics("derby")
SUBSCRIBED = [T.pos("PC-1"), T.track("PC-1"), T.state("PC-1"), T.status("PC-1"), T.incident("INC-1")]
topics = (
    st.sampled_from(SUBSCRIBED)
    | st.text(max_size=80)
    | st.sampled_from(
        ["ac/v1/derby/units/PC-1", "ac/v1/derby/units/PC-1/pos/x", "ac/v1/derby/incidents/INC-1/eta", "", "/"]
    )
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@st.composite
def near_valid(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid payload for a topic with one field replaced, dropped, or added."""
    fix = draw(fixes())
    kind = draw(st.sampled_from(["pos", "track", "incident"]))
    obj: dict[str, Any]
    if kind == "pos":
        obj, topic = WireFix("PC-1", draw(st.integers(1, 10**6)), fix).to_dict(), T.pos("PC-1")
    elif kind == "track":
        item = WireFix("PC-1", 1, fix).to_dict()
        obj, topic = {"v": 1, "unit": "PC-1", "fixes": [item, item]}, T.track("PC-1")
    else:
        obj = {"v": 1, "id": "INC-1", "type": "x", "priority": 2, "lat": fix.lat, "lon": fix.lon,
               "status": "open", "opened": "2026-11-28T09:00:00Z", "units": []}  # fmt: skip
        topic = T.incident("INC-1")
    key = draw(st.sampled_from(sorted(obj)) | st.text(max_size=6))
    action = draw(st.sampled_from(["replace", "drop"]))
    if action == "drop":
        obj.pop(key, None)
    else:
        obj[key] = draw(json_values)
    return topic, json.dumps(obj).encode()


@settings(max_examples=300, deadline=None)
@given(topics, st.binary(max_size=300))
def test_random_bytes_never_raise_and_every_message_is_accounted(topic: str, payload: bytes) -> None:
    ingest = Ingest(T)
    event = ingest.receive(topic, payload, 1.0)
    stats = ingest.stats
    assert stats.messages == 1
    if isinstance(event, Rejected):
        assert stats.rejected_total == 1 and sum(stats.accepted.values()) == 0
    elif isinstance(event, Ignored):
        assert stats.rejected_total == 0
    else:
        assert sum(stats.accepted.values()) == 1


@settings(max_examples=300, deadline=None)
@given(near_valid())
def test_near_valid_payloads_are_accepted_whole_or_rejected_and_counted(message: tuple[str, bytes]) -> None:
    ingest = Ingest(T)
    topic, payload = message
    event = ingest.receive(topic, payload, 1.0)
    assert isinstance(event, Rejected) or not isinstance(event, Ignored)
    if isinstance(event, Rejected):
        assert ingest.stats.rejected[event.reason] == 1
    else:
        assert ingest.stats.rejected_total == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(fixes(), min_size=1, max_size=5), st.floats(0, wire.MAX_FIX_AHEAD_S))
def test_valid_fixes_in_time_bounds_always_pass(fs: list[Any], late: float) -> None:
    ingest = Ingest(T, wire.FixTimeBounds(max_age_s=200 * 365 * 86400.0))
    batch = [WireFix("PC-1", i + 1, f) for i, f in enumerate(fs)]
    received = max(f.time.timestamp() for f in fs) - late  # the newest at most the margin ahead
    event = ingest.receive(T.track("PC-1"), wire.encode_track("PC-1", batch), received)
    assert not isinstance(event, Rejected)
    assert ingest.stats.fixes == len(fs) and ingest.stats.accepted[TopicKind.TRACK] == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(fixes(), min_size=1, max_size=8), st.floats(-3e9, 4e9))
def test_no_fix_out_of_time_bounds_ever_gets_through(fs: list[Any], received: float) -> None:
    bounds = wire.FixTimeBounds()
    ingest = Ingest(T, bounds)
    batch = [WireFix("PC-1", i + 1, f) for i, f in enumerate(fs)]
    event = ingest.receive(T.track("PC-1"), wire.encode_track("PC-1", batch), received)
    def in_bounds(f: WireFix) -> bool:
        offset = f.fix.time.timestamp() - received
        return -bounds.max_age_s <= offset <= bounds.ahead_s

    kept = [f for f in batch if in_bounds(f)]
    if kept:
        assert isinstance(event, FixesReceived) and list(event.fixes) == kept
    else:
        assert isinstance(event, Rejected) and event.reason in (RejectReason.FUTURE, RejectReason.TOO_OLD)
    assert sum(ingest.stats.refused_fixes.values()) == len(batch) - len(kept)
