"""GPS health (pure: times passed in) and the diag message's fields."""

from __future__ import annotations

import datetime as dt

from agent.service import Counters, build_diag
from agent.source import GpsHealth, SourceState
from tests.agentkit import drive


def test_states_over_time() -> None:
    h = GpsHealth(no_data_s=5, no_fix_s=30)
    assert h.state(0) is SourceState.CONNECTING
    h.closed("cannot open /dev/ttyACM0: no such device")
    assert h.state(1) is SourceState.DISCONNECTED
    assert h.describe(1) == "GPS disconnected: cannot open /dev/ttyACM0: no such device"
    h.opened(10)
    assert h.state(12) is SourceState.OK and h.error == ""
    assert h.state(15) is SourceState.NO_DATA  # silent since it opened
    h.data(16)
    assert h.state(17) is SourceState.OK
    h.data(40)
    assert h.state(41) is SourceState.NO_FIX  # 31 s of data without a fix
    assert h.describe(41) == "GPS: no fix for 31 s"
    h.fix(41)
    assert h.state(42) is SourceState.OK
    assert h.state(47) is SourceState.NO_DATA and h.describe(47) == "GPS: no data for 7 s"
    h.closed("unplugged")
    assert h.state(48) is SourceState.DISCONNECTED


def test_diag_fields() -> None:
    fix = drive(1)[0]
    diag = build_diag(
        now=dt.datetime(2026, 11, 28, 9, 30, 5, 120000, tzinfo=dt.UTC), uptime_s=86400.4, source=SourceState.OK,
        source_detail="", last_fix=fix, fix_fresh=True, counters=Counters(fixes=10, reported=4, jumps=1),
        decoder={"sentences": 40, "checksum_rejected": 2, "malformed": 1}, backlog=3, dropped=0, last_seq=4,
        sent=1, gps_reconnects=0, mqtt_sessions=1,
    )  # fmt: skip
    assert diag["time"] == "2026-11-28T09:30:05.120Z" and diag["uptime_s"] == 86400
    assert (diag["source"], diag["fix"], diag["sats"], diag["hdop"]) == ("ok", "3d", 9, 0.9)
    assert (diag["decoded"], diag["rejected"], diag["backlog"], diag["seq"]) == (40, 3, 3, 4)
    stale = build_diag(**{**_args(), "last_fix": fix, "fix_fresh": False})
    assert stale["fix"] == "none" and stale["last_fix"] == "2026-11-28T09:00:00.000Z"


def _args() -> dict[str, object]:
    return dict(
        now=dt.datetime(2026, 11, 28, tzinfo=dt.UTC), uptime_s=1.0, source=SourceState.NO_FIX, source_detail="",
        last_fix=None, fix_fresh=False, counters=Counters(), decoder={}, backlog=0, dropped=0, last_seq=0, sent=0,
        gps_reconnects=0, mqtt_sessions=0,
    )  # fmt: skip
