"""Bad input while real positions flow: random and near-valid payloads on every
topic the collector subscribes to. It keeps running, stores every valid
position of the real stream, and its counters say what it refused."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.ingest import RejectReason
from common.wire import MAX_PAYLOAD_BYTES, Incident, IncidentStatus, encode_fix, encode_incident
from tests.conftest import Broker, start_broker
from tests.integration.collectorkit import TOPICS, Client, ServiceThread, fix, load, wait_until, write_config

pytestmark = pytest.mark.integration

VALID_FIX = json.loads(encode_fix(fix("F1", 1, 53.2, -1.4)))
VALID_INCIDENT = json.loads(
    encode_incident(Incident("X1", "theft", 2, 53.2, -1.4, IncidentStatus.OPEN, fix("F1", 1, 0, 0).fix.time))
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@st.composite
def near_valid(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    """A valid payload with one field changed, dropped or added, or its version bumped."""
    obj = dict(base)
    key = draw(st.sampled_from(sorted(obj)))
    action = draw(st.sampled_from(["change", "drop", "add", "version", "range"]))
    if action == "change":
        obj[key] = draw(json_values)
    elif action == "drop":
        del obj[key]
    elif action == "add":
        obj[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    elif action == "version":
        obj["v"] = draw(st.integers(2, 99))
    else:
        field = draw(st.sampled_from(["lat", "lon", "seq", "priority"]))
        obj[field] = draw(st.sampled_from([91, -181, 0, -1, 7, 1e308]))
    return json.dumps(obj, allow_nan=True).encode()


payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    near_valid(VALID_FIX),
    near_valid(VALID_INCIDENT),
    st.just(b"[" * 100_000),
    st.just(b"x" * (MAX_PAYLOAD_BYTES + 1)),
)
unit_ids = st.sampled_from(["F1", "F2", "Z9"]) | st.from_regex(r"[A-Za-z0-9 .é-]{1,10}", fullmatch=True)
topics = st.one_of(
    st.builds(
        lambda unit, kind: f"{TOPICS.root}/units/{unit}/{kind}",
        unit_ids,
        st.sampled_from(["pos", "track", "state", "status"]),
    ),
    unit_ids.map(lambda i: f"{TOPICS.root}/incidents/{i}"),
)


def test_fuzz_on_every_topic_while_positions_flow(tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "broker")
    try:
        _fuzz(broker, tmp_path)
    finally:
        broker.stop()


def _fuzz(broker: Broker, tmp_path: Path) -> None:
    config = load(write_config(tmp_path, port=broker.port))
    collector = ServiceThread(config).start()
    real, fuzzer = Client(broker.port, "real"), Client(broker.port, "fuzzer")
    sent: list[int] = []
    stop = threading.Event()

    def flow() -> None:  # the real unit, 50 Hz
        seq = 0
        while not stop.is_set():
            seq += 1
            real.fix(fix("REAL", seq, 53.2 + seq * 1e-5, -1.4))
            sent.append(seq)
            time.sleep(0.02)

    flowing = threading.Thread(target=flow)
    flowing.start()
    published = [0]

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(topic=topics, payload=payloads, retain=st.booleans())
    def publish(topic: str, payload: bytes, retain: bool) -> None:
        fuzzer.publish(topic, payload, retain=retain, wait=False)
        published[0] += 1
        if published[0] % 25 == 0:
            fuzzer.flush()

    try:
        publish()
        fuzzer.flush()
    finally:
        stop.set()
        flowing.join(10)
    try:
        assert collector.alive, collector.result
        wait_until(lambda: collector.call(lambda s: s.fleet.view("REAL", time.time()).seq) == sent[-1], 5,
                   "last real position")  # fmt: skip
        stats = collector.call(lambda s: s.ingest.stats.as_dict())
        assert stats["messages"] >= published[0] + len(sent)
        rejected = stats["rejected"]
        assert rejected[RejectReason.MALFORMED] > 0 and rejected[RejectReason.UNKNOWN_TOPIC] > 0
        assert sum(rejected.values()) > published[0] // 3, stats
    finally:
        real.close()
        fuzzer.close()
        assert collector.stop() == 0
    with sqlite3.connect(config.store.path) as db:
        stored = {row[0] for row in db.execute("SELECT seq FROM fixes WHERE unit = 'REAL'")}
    assert stored == set(sent), f"lost: {sorted(set(sent) - stored)[:10]}"
