"""The public feed's shell: atomic files, inputs from the store and the live
state, the saved policy state, one tick on a real SQLite store."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.fleet import FleetState
from collector.incidents import IncidentBook
from collector.public import PublicPolicy, PublicState, call_token, snapshot, unit_pseudonym
from collector.public.history_store import PublicHistoryReader, PublicHistoryWriter
from collector.public.settings import PublicSettings
from collector.public.shell import (
    CALLS_FILE,
    UNITS_FILE,
    FeedInputs,
    PublicPublisher,
    feed_incidents,
    live_source,
    load_state,
    store_source,
    unit_inputs,
    write_atomic,
)
from collector.store import Store, WriteBatch
from common.fix import Fix
from common.wire import DutyStatus, Incident, IncidentStatus, Topics, WireFix

T0 = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
SECRET = b"e3b0c44298fc1c149afbf4c8996fb924"
TOPICS = Topics("testfleet")


def fix(unit: str, seq: int, t: dt.datetime, lat: float = 53.235, lon: float = -1.421) -> WireFix:
    return WireFix(unit, seq, Fix(t, lat, lon, mode=3))


def incident(ident: str, kind: str, status: IncidentStatus = IncidentStatus.OPEN, *units: str) -> Incident:
    return Incident(ident, kind, 2, 53.236, -1.42, status, T0, tuple(units))


def test_write_atomic_replaces_the_file_with_the_mode_and_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / UNITS_FILE
    old = os.umask(0o077)  # a strict umask must not make the public file unreadable
    try:
        write_atomic(path, b"one")
        write_atomic(path, b"two")
        write_atomic(tmp_path / "state.json", b"private", mode=0o600)
    finally:
        os.umask(old)
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", UNITS_FILE]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / CALLS_FILE
    write_atomic(path, b"old")

    def full_disk(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, b"new and longer")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [CALLS_FILE]


def test_units_without_a_known_status_are_unavailable_and_units_without_a_fix_still_observed() -> None:
    f = fix("PC-1", 1, T0).fix
    statuses = {"PC-2": DutyStatus.ONSCENE, "PC-3": DutyStatus.AVAILABLE, "PC-4": None}
    inputs = FeedInputs({"PC-1": f, "PC-2": f}, statuses, [])
    got = {(u.unit, u.status, u.fixes) for u in unit_inputs(inputs)}
    assert got == {
        ("PC-1", DutyStatus.UNAVAILABLE, (f,)),
        ("PC-2", DutyStatus.ONSCENE, (f,)),
        ("PC-3", DutyStatus.AVAILABLE, ()),
        ("PC-4", DutyStatus.UNAVAILABLE, ()),
    }


def test_closed_calls_keep_their_closing_time_and_old_ones_are_left_out() -> None:
    settings = PublicSettings(policy=PublicPolicy(linger_s=600))  # horizon: 900 + 600 + 120 s
    now = T0 + dt.timedelta(hours=1)
    recent, old, known = (incident(i, "theft", IncidentStatus.CLOSED) for i in ("INC-R", "INC-O", "INC-K"))
    still = incident("INC-S", "theft")
    closed_at = {"INC-R": now - dt.timedelta(seconds=1000), "INC-O": now - dt.timedelta(seconds=1700)}
    state = PublicState(closed_seen={"INC-K": now - dt.timedelta(seconds=60)})
    inputs = FeedInputs({}, {}, [recent, old, known, still], closed_at)
    incidents, state = feed_incidents(settings, now, inputs, state)
    assert [i.id for i in incidents] == ["INC-R", "INC-K", "INC-S"]
    assert state.closed_seen == {"INC-R": closed_at["INC-R"], "INC-K": now - dt.timedelta(seconds=60)}


def test_a_corrupt_state_file_starts_afresh_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.json"
    assert load_state(path) == PublicState()
    path.write_bytes(b'{"v": 99}')
    with caplog.at_level(logging.WARNING):
        assert load_state(path) == PublicState()
    assert "starting afresh" in caplog.text
    saved = PublicState(epsg=32630, cell_m=500.0, observed_at=T0)
    path.write_bytes(saved.to_json())
    assert load_state(path) == saved


async def _store_with_a_day(path: Path) -> Store:
    """Two units over 20 minutes; PC-2 goes off duty; one burglary, one domestic."""
    store = await Store.open(path, synchronous="NORMAL")
    batch = WriteBatch()
    for seq in range(1, 121):
        t = T0 + dt.timedelta(seconds=10 * seq)
        batch.add_fixes([fix("PC-1", seq, t, lon=-1.421 + seq * 1e-4), fix("PC-2", seq, t, lat=53.24)], t.timestamp())
    batch.statuses += [("PC-1", DutyStatus.AVAILABLE, T0.timestamp()), ("PC-2", DutyStatus.UNAVAILABLE, T0.timestamp())]
    batch.incidents += [
        (incident("INC-1", "Burglary"), T0.timestamp()),
        (incident("INC-2", "Domestic Abuse", IncidentStatus.OPEN, "PC-2"), T0.timestamp()),
    ]
    await store.write(batch)
    return store


def test_one_tick_saves_state_and_files_and_returns_the_retained_messages(tmp_path: Path) -> None:
    policy = PublicPolicy(unit_delay_s=300, call_delay_s=60)
    settings = PublicSettings(True, policy, 30.0, tmp_path / "www", tmp_path / "secret", tmp_path / "state.json")

    async def run() -> list[list[tuple[str, bytes]]]:
        async with await _store_with_a_day(tmp_path / "c.sqlite") as store:
            publisher = PublicPublisher(settings, TOPICS, store_source(store), SECRET)
            ticks = []
            for k in range(12):  # watch statuses for longer than the delay
                ticks.append(await publisher.tick(T0 + dt.timedelta(minutes=10, seconds=30 * k)))
            return ticks

    ticks = asyncio.run(run())
    (units_topic, units), (calls_topic, calls) = ticks[-1]
    assert (units_topic, calls_topic) == (TOPICS.public_units, TOPICS.public_calls)
    assert (tmp_path / "www" / UNITS_FILE).read_bytes() == units
    assert (tmp_path / "www" / CALLS_FILE).read_bytes() == calls
    doc = json.loads(units)
    now = T0 + dt.timedelta(minutes=15, seconds=30)
    assert doc["as_of"] == "2026-11-28T08:10:00Z"
    # PC-1 is shown under its pseudonym of the day; PC-2 (unavailable) is not.
    assert [f["properties"]["unit"] for f in doc["features"]] == [unit_pseudonym(SECRET, "PC-1", now.date())]
    assert [f["properties"]["category"] for f in json.loads(calls)["features"]] == ["burglary"]
    assert b"PC-" not in units + calls and b"INC-" not in calls
    state = PublicState.from_json((tmp_path / "state.json").read_bytes())
    assert state.observed_at == now and set(state.units) == {"PC-1", "PC-2"}
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600
    # Units appear only once their status has been watched for the delay.
    assert json.loads(ticks[0][0][1])["features"] == []


def test_the_live_source_reads_the_fleet_and_the_incident_book(tmp_path: Path) -> None:
    fleet, book = FleetState(), IncidentBook()
    fleet.apply_status("PC-1", DutyStatus.ENROUTE, T0.timestamp())
    fleet.apply_status("PC-3", None, T0.timestamp())
    book.apply(incident("INC-1", "theft"), T0.timestamp())
    closed = incident("INC-2", "theft", IncidentStatus.CLOSED)
    book.apply(closed, T0.timestamp() + 5)

    async def run() -> FeedInputs:
        async with await _store_with_a_day(tmp_path / "c.sqlite") as store:
            return await live_source(store, fleet, book)(T0 + dt.timedelta(minutes=10), T0 + dt.timedelta(minutes=5))

    inputs = asyncio.run(run())
    assert inputs.positions["PC-1"].time == T0 + dt.timedelta(minutes=5)
    assert set(inputs.positions) == {"PC-1", "PC-2"}
    assert inputs.statuses == {"PC-1": DutyStatus.ENROUTE, "PC-3": None}
    assert [i.id for i in inputs.incidents] == ["INC-1", "INC-2"]
    assert inputs.closed_at == {"INC-2": T0 + dt.timedelta(seconds=5)}


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 1800),
    st.integers(0, 1800),
    st.integers(0, 3600),
    st.lists(st.tuples(st.integers(-7200, 0), st.none() | st.integers(-7200, 0)), max_size=12),
)
def test_leaving_out_old_closed_calls_never_changes_the_calls_published(
    unit_delay_s: int, call_delay_s: int, linger_s: int, calls: list[tuple[int, int | None]]
) -> None:
    """What feed_incidents drops, the policy would not have shown anyway."""
    now = T0 + dt.timedelta(hours=3, seconds=17)
    policy = PublicPolicy(unit_delay_s=unit_delay_s, call_delay_s=call_delay_s, linger_s=linger_s)
    incidents, closed_at = [], {}
    for k, (opened_s, closed_s) in enumerate(calls):
        opened = now + dt.timedelta(seconds=opened_s)
        status = IncidentStatus.OPEN if closed_s is None else IncidentStatus.CLOSED
        incidents.append(Incident(f"INC-{k}", "theft", 2, 53.236, -1.42, status, opened))
        if closed_s is not None:
            closed_at[f"INC-{k}"] = max(opened, now + dt.timedelta(seconds=closed_s))
    everything = PublicState(closed_seen=closed_at)
    expected, _ = snapshot(policy, everything, now, [], incidents, SECRET)
    kept, state = feed_incidents(
        PublicSettings(policy=policy), now, FeedInputs({}, {}, incidents, closed_at), PublicState()
    )
    got, _ = snapshot(policy, state, now, [], kept, SECRET)
    assert got.calls == expected.calls


def test_each_tick_records_the_published_calls_in_the_public_history(tmp_path: Path) -> None:
    """The burglary goes in the history as published; the domestic never; a quiet tick commits nothing."""
    policy = PublicPolicy(unit_delay_s=300, call_delay_s=60)
    settings = PublicSettings(True, policy, 30.0, None, tmp_path / "secret", tmp_path / "state.json")
    reader = PublicHistoryReader(settings.history_path)

    async def run() -> list[int]:
        async with await _store_with_a_day(tmp_path / "c.sqlite") as store:
            history = PublicHistoryWriter.open(settings.history_path)
            publisher = PublicPublisher(settings, TOPICS, store_source(store), SECRET, history=history)
            versions = []
            for k in range(4):
                await publisher.tick(T0 + dt.timedelta(minutes=10, seconds=30 * k))
                versions.append(reader.version_sync())
            publisher.close()
            return versions

    versions = asyncio.run(run())
    (row,) = reader.calls_sync(T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=1))
    assert (row.call, row.category, row.priority) == (call_token(SECRET, "INC-1"), "burglary", "priority")
    assert versions[-1] == versions[-2], "a tick that changes nothing commits nothing"
    reader.close()
