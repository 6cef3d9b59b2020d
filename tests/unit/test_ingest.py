from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from collector.ingest import (
    FixesReceived,
    Ignored,
    IncidentCleared,
    IncidentReceived,
    Ingest,
    RateLimitedLog,
    Rejected,
    RejectReason,
    StateReceived,
    StatusReceived,
)
from common import wire
from common.fix import Fix
from common.wire import DutyStatus, Incident, IncidentStatus, TopicKind, Topics, UnitState, WireFix

UTC = dt.UTC
T = Topics("derby")
FIX = Fix(dt.datetime(2026, 11, 28, 9, 30, 1, tzinfo=UTC), 53.2352, -1.4211, speed=12.0, mode=3)
INCIDENT = Incident("INC-1", "burglary", 1, 53.24, -1.43, IncidentStatus.OPEN, FIX.time, ("PC-1",))
R = FIX.time.timestamp()  # received the moment the fix was made


def test_every_subscribed_kind_becomes_its_event() -> None:
    ingest = Ingest(T)
    wf = WireFix("PC-1", 7, FIX)
    event = ingest.receive(T.pos("PC-1"), wire.encode_fix(wf), R + 10)
    assert event == FixesReceived("PC-1", (wf,), TopicKind.POS, R + 10)
    track = [WireFix("PC-1", 5, FIX), WireFix("PC-1", 6, FIX)]
    event = ingest.receive(T.track("PC-1"), wire.encode_track("PC-1", track), R + 11)
    assert event == FixesReceived("PC-1", tuple(track), TopicKind.TRACK, R + 11)
    assert ingest.receive(T.state("PC-1"), b"offline", R + 12) == StateReceived("PC-1", UnitState.OFFLINE, R + 12)
    assert ingest.receive(T.status("PC-1"), b"enroute", R + 13) == StatusReceived("PC-1", DutyStatus.ENROUTE, R + 13)
    assert ingest.receive(T.status("PC-1"), b"", R + 14) == StatusReceived("PC-1", None, R + 14)
    event = ingest.receive(T.incident("INC-1"), wire.encode_incident(INCIDENT), R + 15)
    assert event == IncidentReceived(INCIDENT, R + 15)
    assert ingest.receive(T.incident("INC-1"), b"", R + 16) == IncidentCleared("INC-1", R + 16)
    assert isinstance(ingest.receive(T.diag("PC-1"), b"{}", R + 17), Ignored)
    assert isinstance(ingest.receive(T.eta("INC-1"), b"{}", R + 17), Ignored)
    stats = ingest.stats
    assert stats.messages == 9 and stats.fixes == 3 and stats.rejected_total == 0
    assert stats.accepted == {TopicKind.POS: 1, TopicKind.TRACK: 1, TopicKind.STATE: 1, TopicKind.STATUS: 2,
                              TopicKind.INCIDENT: 2}  # fmt: skip


GOOD = json.loads(wire.encode_fix(WireFix("PC-1", 1, FIX)))


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (T.pos("PC-1"), b"{not json", RejectReason.MALFORMED),
        (T.pos("PC-1"), json.dumps({**GOOD, "unit": "PC-2"}).encode(), RejectReason.MALFORMED),
        (T.pos("PC-1"), json.dumps({**GOOD, "v": 9}).encode(), RejectReason.VERSION),
        (T.pos("PC-1"), json.dumps({**GOOD, "lat": 95.0}).encode(), RejectReason.OUT_OF_RANGE),
        (T.pos("PC-1"), b" " * (wire.MAX_PAYLOAD_BYTES + 1), RejectReason.OVERSIZED),
        (T.track("PC-1"), json.dumps(GOOD).encode(), RejectReason.MALFORMED),
        (T.state("PC-1"), b"maybe", RejectReason.MALFORMED),
        (T.status("PC-1"), b"\xff\xfe", RejectReason.MALFORMED),
        (T.incident("INC-1"), b"[]", RejectReason.MALFORMED),
        ("ac/v1/other/units/PC-1/pos", json.dumps(GOOD).encode(), RejectReason.UNKNOWN_TOPIC),
        ("ac/v1/derby/units/PC-1/bogus", b"x", RejectReason.UNKNOWN_TOPIC),
        ("ac/v1/derby/units/PC 1/pos", b"x", RejectReason.UNKNOWN_TOPIC),
    ],
)
def test_rejections_are_counted_by_reason(topic: str, payload: bytes, reason: RejectReason) -> None:
    ingest = Ingest(T)
    event = ingest.receive(topic, payload, R)
    assert isinstance(event, Rejected) and event.reason is reason
    assert len(event.detail) <= 200 and "\n" not in event.detail
    assert ingest.stats.rejected == {reason: 1}
    assert ingest.stats.as_dict()["rejected"][reason.value] == 1  # type: ignore[index]


def test_fixes_out_of_time_bounds_are_refused_under_their_own_reasons() -> None:
    ingest = Ingest(T, wire.FixTimeBounds(ahead_s=120, max_age_s=30 * 86400))
    ahead = WireFix("PC-1", 1, dataclasses.replace(FIX, time=FIX.time + dt.timedelta(days=365)))
    event = ingest.receive(T.pos("PC-1"), wire.encode_fix(ahead), R)
    assert isinstance(event, Rejected) and event.reason is RejectReason.FUTURE and "365 days after" in event.detail
    just_in = WireFix("PC-1", 2, dataclasses.replace(FIX, time=FIX.time + dt.timedelta(seconds=120)))
    assert isinstance(ingest.receive(T.pos("PC-1"), wire.encode_fix(just_in), R), FixesReceived)
    for year in (1, 1970):
        old = WireFix("PC-1", 3, dataclasses.replace(FIX, time=FIX.time.replace(year=year)))
        event = ingest.receive(T.pos("PC-1"), wire.encode_fix(old), R)
        assert isinstance(event, Rejected) and event.reason is RejectReason.TOO_OLD
    # A track keeps the fixes in bounds and says why it dropped the others.
    track = [WireFix("PC-1", 4, FIX), ahead, WireFix("PC-1", 6, FIX)]
    event = ingest.receive(T.track("PC-1"), wire.encode_track("PC-1", [dataclasses.replace(f, seq=i + 4)
                                                                           for i, f in enumerate(track)]), R)
    assert isinstance(event, FixesReceived) and [f.seq for f in event.fixes] == [4, 6]
    assert [reason for reason, _ in event.refused] == [RejectReason.FUTURE]
    assert ingest.stats.rejected == {RejectReason.FUTURE: 1, RejectReason.TOO_OLD: 2}  # messages
    assert ingest.stats.refused_fixes == {RejectReason.FUTURE: 2, RejectReason.TOO_OLD: 2}  # fixes


def test_rate_limited_log_admits_one_per_interval_and_reports_suppressed() -> None:
    log = RateLimitedLog(interval_s=60.0)
    assert log.admit("malformed:PC-1", 0.0) == 0
    assert [log.admit("malformed:PC-1", t) for t in (1.0, 2.0, 59.0)] == [None, None, None]
    assert log.admit("version:PC-2", 3.0) == 0  # another key is independent
    assert log.admit("malformed:PC-1", 60.0) == 3  # three held back since the last line
    assert log.admit("malformed:PC-1", 61.0) is None


def test_rate_limited_log_memory_is_bounded() -> None:
    log = RateLimitedLog(interval_s=60.0, max_keys=10)
    for i in range(1000):
        assert log.admit(f"key-{i}", float(i) / 100) == 0
    assert len(log._last) <= 10


def test_remote_text_is_escaped_to_one_line() -> None:
    from common.logsafe import escaped

    forged = "ac/v1/derby/units/PC-1/pos\nINFO collector: all good\x1b[2J\u2028\\"
    out = escaped(forged)
    assert "\n" not in out and "\x1b" not in out and "\u2028" not in out
    assert out == "ac/v1/derby/units/PC-1/pos\\nINFO collector: all good\\x1b[2J\\u2028\\\\"
    assert escaped("é" * 300, 10) == "é" * 10 + "…"
