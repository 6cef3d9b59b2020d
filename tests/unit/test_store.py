"""The collector's stores: SQLite on real database files, and PostgreSQL on a
real server (tests/conftest.py starts it): the tests taking ``store_at`` run
once per backend."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from collector.fleet import FleetState
from collector.incidents import IncidentBook
from collector.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreError, WriteBatch
from collector.storeapi import CollectorStore
from common.fix import Fix
from common.wire import DutyStatus, Incident, IncidentStatus, UnitState, WireFix
from tests.strategies import fixes

UTC = dt.UTC
EPOCH = 1_800_000_000.0
R = TypeVar("R")


def run(where: Path | str, body: Callable[[Any], Awaitable[R]]) -> R:
    """``body(store)`` on the store at ``where``: a SQLite file, or a PostgreSQL URL."""

    async def main() -> R:
        store: CollectorStore
        if isinstance(where, str):
            from collector.pgstore import PgStore

            store = await PgStore.open(where)
        else:
            store = await Store.open(where)
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def wf(unit: str, seq: int, seconds: float, lat: float = 53.0) -> WireFix:
    return WireFix(unit, seq, Fix(dt.datetime.fromtimestamp(EPOCH + seconds, UTC), lat, -1.0, speed=10.0, mode=3))


def batch_of(*fixes: WireFix, received: float = EPOCH) -> WriteBatch:
    batch = WriteBatch()
    batch.add_fixes(fixes, received)
    return batch


def test_duplicates_are_stored_once_and_latest_only_moves_forward(store_at: Path | str) -> None:
    async def body(store: Store) -> None:
        first = await store.write(batch_of(wf("A", 1, 0), wf("A", 2, 5), wf("B", 1, 3)))
        assert first.fixes_inserted == 3
        again = await store.write(batch_of(wf("A", 2, 5), wf("A", 3, 10), wf("A", 3, 10)))
        assert again.fixes_inserted == 1 and await store.count_fixes() == 4
        late = await store.write(batch_of(wf("A", 0 + 4, 1, lat=50.0)))  # seq 4, but an older fix time
        assert late.fixes_inserted == 1
        latest = {s.fix.unit: s.fix for s in await store.latest()}
        assert latest["A"] == wf("A", 3, 10) and latest["B"] == wf("B", 1, 3)

    run(store_at, body)


def test_a_batch_of_fixes_is_one_statement(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        calls: list[str] = []
        real = store._db.execute

        def counting(sql: str, *args: Any) -> Any:
            calls.append(sql)
            return real(sql, *args)

        store._db.execute = counting  # type: ignore[method-assign]
        result = await store.write(batch_of(*(wf("A", s, s) for s in range(1, 5001))))
        assert result.fixes_inserted == 5000 and len(calls) == 1

    run(tmp_path / "c.db", body)


_examples = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(fixes(), min_size=1, max_size=20))
# A float timestamp of this time is a hair under .002 s: stored times must be exact.
@example([Fix(dt.datetime(2038, 2, 1, 0, 0, 0, 2000, tzinfo=UTC), 0.0, 0.0)])
def test_fixes_round_trip_exactly(store_at: Path | str, fs: list[Fix]) -> None:
    unit = f"U{next(_examples)}"  # one store for all the examples: a unit each
    batch = [WireFix(unit, i + 1, f) for i, f in enumerate(fs)]

    async def body(store: Store) -> list[WireFix]:
        await store.write(batch_of(*batch, received=EPOCH + 0.123))
        return [s.fix async for s in store.iter_fixes(order="unit", units=[unit])]

    stored = run(store_at, body)
    assert sorted(stored, key=lambda f: f.seq) == batch


def test_statuses_states_incidents_and_snapshot(store_at: Path | str) -> None:
    opened = dt.datetime.fromtimestamp(EPOCH, UTC)
    incident = Incident("INC-1", "burglary", 1, 53.2, -1.4, IncidentStatus.OPEN, opened, ("A",))

    async def body(store: Store) -> None:
        batch = batch_of(*(wf("A", s, s * 5.0) for s in (1, 2, 3, 6, 7, 10)), wf("B", 1, 0))
        batch.statuses += [("A", DutyStatus.AVAILABLE, EPOCH + 1), ("B", DutyStatus.ENROUTE, EPOCH + 1)]
        batch.states += [("A", UnitState.ONLINE, EPOCH + 1)]
        batch.incidents.append((incident, EPOCH + 2))
        await store.write(batch)
        later = WriteBatch(
            statuses=[("A", DutyStatus.ONSCENE, EPOCH + 9), ("B", None, EPOCH + 9), ("A", DutyStatus.ENROUTE, EPOCH)],
            states=[("A", UnitState.OFFLINE, EPOCH + 9)],
            incidents=[(dataclasses.replace(incident, status=IncidentStatus.CLOSED), EPOCH + 10)],
        )
        await store.write(later)
        snap = await store.snapshot(now=EPOCH + 60)
        assert snap.statuses == (("A", DutyStatus.ONSCENE, EPOCH + 9), ("B", None, EPOCH + 9))
        assert snap.states == (("A", UnitState.OFFLINE, EPOCH + 9),)
        assert [(i.id, i.status) for i, _ in snap.incidents] == [("INC-1", IncidentStatus.CLOSED)]
        (history_a, history_b) = snap.history
        assert (history_a.low, history_a.high, history_a.gaps) == (1, 10, ((4, 5), (8, 9)))
        assert history_a.recent_intervals == (5.0, 5.0, 15.0, 5.0, 15.0) and history_b.gaps == ()
        log = await store.incident_log()
        assert [(i, inc.status if inc else None) for i, _, inc in log] == [
            ("INC-1", IncidentStatus.OPEN), ("INC-1", IncidentStatus.CLOSED)
        ]  # fmt: skip
        await store.write(WriteBatch(cleared_incidents=[("INC-1", EPOCH + 11)]))
        assert (await store.snapshot(now=EPOCH + 60)).incidents == ()
        assert (await store.incident_log())[-1][2] is None

        # The snapshot rebuilds the fleet as it was.
        fleet, book = FleetState(), IncidentBook()
        snap.restore(fleet, book)
        assert fleet.view("B", EPOCH + 60).duty is None and len(book) == 1
        view = fleet.view("A", EPOCH + 60)
        assert view.seq == 10 and view.missing == 4 and view.report_interval_s == 5.0

    run(store_at, body)


def test_export_query_filters_orders_and_pages(store_at: Path | str) -> None:
    async def body(store: Store) -> None:
        await store.write(batch_of(*(wf(u, s, s * 10.0 + i) for s in range(1, 21) for i, u in enumerate("ABC"))))
        by_time = [s.fix async for s in store.iter_fixes(page=7)]
        assert len(by_time) == 60 and [f.fix.time for f in by_time] == sorted(f.fix.time for f in by_time)
        by_unit = [s.fix async for s in store.iter_fixes(order="unit", page=7)]
        assert [f.unit for f in by_unit] == ["A"] * 20 + ["B"] * 20 + ["C"] * 20
        window = [s.fix async for s in store.iter_fixes(since=EPOCH + 50, until=EPOCH + 100, units=["B"], page=2)]
        assert [f.seq for f in window] == [5, 6, 7, 8, 9]
        with pytest.raises(ValueError):
            [s async for s in store.iter_fixes(order="speed")]

    run(store_at, body)


def test_latest_at_gives_positions_as_they_were(store_at: Path | str) -> None:
    async def body(store: Store) -> None:
        await store.write(batch_of(wf("A", 1, 0), wf("A", 2, 10), wf("A", 3, 20), wf("B", 1, 15), wf("C", 7, 5)))
        await store.write(batch_of(wf("A", 4, 12)))  # a late backlog fix between 2 and 3
        await store.write(batch_of(wf("D", 1, -3 * 86400.0)))  # parked for days: older partitions too
        at = {s.fix.unit: s.fix.seq for s in await store.latest_at(EPOCH + 12.5)}
        assert at == {"A": 4, "C": 7, "D": 1}  # B had no fix yet
        assert {s.fix.unit: s.fix.seq for s in await store.latest_at(EPOCH + 100)} == {"A": 3, "B": 1, "C": 7, "D": 1}
        assert [s.fix.unit for s in await store.latest_at(EPOCH - 1)] == ["D"]
        assert await store.latest_at(EPOCH - 4 * 86400.0) == []

    run(store_at, body)


def test_latest_at_never_scans_the_history(tmp_path: Path) -> None:
    from collector.store import _LATEST_AT

    run(tmp_path / "c.db", lambda store: store.write(batch_of(wf("A", 1, 0), wf("B", 1, 5))))
    with sqlite3.connect(tmp_path / "c.db") as db:
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {_LATEST_AT}", (0,))]
    assert not any(step.startswith("SCAN f") for step in plan), plan  # "SCAN fixes", "SCAN f": the whole history
    assert "SEARCH f USING PRIMARY KEY (unit=? AND seq=?)" in plan


def test_prune_deletes_old_history_in_batches_and_keeps_latest(store_at: Path | str) -> None:
    async def body(store: Store) -> None:
        await store.write(batch_of(*(wf("A", s, float(s)) for s in range(1, 1201))))
        await store.write(WriteBatch(incidents=[(Incident("I", "x", 1, 1.0, 1.0, IncidentStatus.OPEN,
                                                          dt.datetime.fromtimestamp(EPOCH, UTC)), EPOCH)]))  # fmt: skip
        deleted = await store.prune(EPOCH + 1001, batch_rows=128)
        assert deleted == 1000 + 1  # 1000 fixes and one incident log entry
        assert await store.count_fixes() == 200
        assert (await store.latest())[0].fix.seq == 1200
        assert await store.prune(EPOCH + 1001) == 0

    run(store_at, body)


def test_schema_is_versioned_wal_and_migrations_only_add(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    run(path, lambda store: store.write(batch_of(wf("A", 1, 0))))
    assert run(path, lambda store: store.schema_version()) == SCHEMA_VERSION
    assert run(path, lambda store: store.count_fixes()) == 1  # reopening keeps the data
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="upgrade"):
        run(path, lambda store: store.count_fixes())
    for migration in MIGRATIONS:
        assert "DROP " not in migration.upper() and "DELETE " not in migration.upper()
    with pytest.raises(ValueError):
        asyncio.run(Store.open(tmp_path / "x.db", synchronous="OFF"))


def test_dead_letters_are_kept_marked_replayed_and_dropped(store_at: Path | str) -> None:
    from collector.deadletters import DeadLetter, format_dead_letter, format_dead_letters

    path = store_at
    parked = WriteBatch()
    parked.dead_letters += [DeadLetter("ac/v1/f/units/A/pos", b'{"x":1}\n', EPOCH, "KeyError: 'x'"),
                            DeadLetter("ac/v1/f/units/B/pos\nforged", b"\xff", EPOCH + 1, "ValueError: y")]  # fmt: skip
    run(path, lambda store: store.write(parked))
    letters = run(path, lambda store: store.dead_letters())
    assert [(d.id, d.topic, d.payload, d.attempts, d.replay) for d in letters] == [
        (1, "ac/v1/f/units/A/pos", b'{"x":1}\n', 1, False),
        (2, "ac/v1/f/units/B/pos\nforged", b"\xff", 1, False),
    ]
    table = format_dead_letters(letters, 2)
    assert "forged" in table and "\nforged" not in table  # remote text stays on its line
    assert 'payload:  {"x":1}\\n' in format_dead_letter(letters[0])
    assert run(path, lambda store: store.mark_dead_letters([2], replay=True)) == 1
    assert [d.id for d in run(path, lambda store: store.dead_letters(replay_only=True))] == [2]
    outcome = WriteBatch(replayed=[1], replay_failed=[(2, "ValueError: again")])
    run(path, lambda store: store.write(outcome))
    (left,) = run(path, lambda store: store.dead_letters())
    assert (left.id, left.error, left.attempts, left.replay) == (2, "ValueError: again", 2, False)
    assert run(path, lambda store: store.drop_dead_letters(None)) == 1
    assert run(path, lambda store: store.count_dead_letters()) == 0
