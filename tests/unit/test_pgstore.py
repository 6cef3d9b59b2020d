"""What only the PostgreSQL store has: day partitions, dropped for retention;
several collectors on one database. (tests/unit/test_store.py runs the shared
behaviour on both backends.)"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import psycopg
import pytest

from collector.partitions import expired, partition_for, partition_of_name, partitions_for
from collector.pgstore import PG_MIGRATIONS, PG_SCHEMA_VERSION, PgStore
from collector.store import MIGRATIONS, StoreError, WriteBatch
from common.fix import Fix
from common.wire import WireFix

DAY0 = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)


def day_ms(days: float) -> int:
    return int((DAY0 + dt.timedelta(days=days)).timestamp() * 1000)


def test_partitions_are_utc_days_named_by_date() -> None:
    p = partition_for(day_ms(0.5))
    assert (p.low_ms, p.high_ms, p.name) == (day_ms(0), day_ms(1), "fixes_d20270301")
    assert partition_for(day_ms(1)) != p and partition_for(day_ms(1) - 1) == p
    assert partition_of_name(p.name) == p and partition_of_name("fixes_d2027030") is None
    assert partition_of_name("fixes_d20271341") is None and partition_of_name("latest") is None
    assert partition_for(-1).high_ms == 0  # before 1970: its own day still
    assert len(partitions_for([day_ms(0), day_ms(0.9), day_ms(2)])) == 2
    names = [partition_for(day_ms(d)).name for d in range(5)] + ["fixes_default"]
    drop, straddling = expired(names, day_ms(2.5))
    assert drop == names[:2] and straddling == partition_for(day_ms(2))
    assert expired(names, day_ms(3)) == (names[:3], None)


def fixes(unit: str, days: list[float]) -> WriteBatch:
    batch = WriteBatch()
    batch.add_fixes(
        [WireFix(unit, i + 1, Fix(DAY0 + dt.timedelta(days=d), 53.0, -1.0)) for i, d in enumerate(days)],
        DAY0.timestamp(),
    )
    return batch


def partition_names(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'fixes'::regclass ORDER BY 1"
        ).fetchall()
    return [r[0] for r in rows]


def test_retention_drops_whole_days_and_deletes_in_the_straddling_one(pg_url: str) -> None:
    async def main() -> None:
        async with await PgStore.open(pg_url) as store:
            await store.write(fixes("A", [0.1, 0.2, 1.1, 1.6, 2.5, 3.5]))
            assert partition_names(pg_url) == ["fixes_d20270301", "fixes_d20270302", "fixes_d20270303",
                                               "fixes_d20270304"]  # fmt: skip
            deleted = await store.prune(DAY0.timestamp() + 1.5 * 86400)
            assert deleted == 3 and await store.count_fixes() == 3
            assert partition_names(pg_url) == ["fixes_d20270302", "fixes_d20270303", "fixes_d20270304"]
            # A day dropped comes back when a (late) fix needs it.
            await store.write(fixes("B", [0.5]))
            assert await store.count_fixes() == 4 and "fixes_d20270301" in partition_names(pg_url)

    asyncio.run(main())


def test_two_collectors_migrate_once_and_store_a_redelivery_once(pg_url: str) -> None:
    async def main() -> tuple[int, int, int]:
        a, b = await asyncio.gather(PgStore.open(pg_url), PgStore.open(pg_url))
        try:
            batch = fixes("A", [0.1, 0.2, 0.3])
            counts = await asyncio.gather(a.write(batch), b.write(batch))  # the same messages to both
            return counts[0].fixes_inserted + counts[1].fixes_inserted, await a.count_fixes(), await b.schema_version()
        finally:
            await a.close()
            await b.close()

    inserted, stored, version = asyncio.run(main())
    assert inserted == stored == 3 and version == PG_SCHEMA_VERSION == len(MIGRATIONS)


def test_a_newer_schema_is_refused_and_migrations_only_add(pg_url: str) -> None:
    async def create() -> None:
        await (await PgStore.open(pg_url)).close()

    asyncio.run(create())
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (PG_SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="upgrade"):
        asyncio.run(PgStore.open(pg_url))
    for migration in PG_MIGRATIONS:
        assert "DROP " not in migration.upper() and "DELETE " not in migration.upper()


def test_an_unreachable_server_is_one_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot connect") as caught:
        asyncio.run(PgStore.open("postgresql://nobody:secret@127.0.0.1:1/x?connect_timeout=1", timeout_s=2.0))
    assert "secret" not in str(caught.value)


def test_the_command_line_reads_and_checks_the_postgres_store(pg_url: str) -> None:
    from collector.commands import _check_postgres, _open_store
    from collector.config import config_from_table
    from common.tomlconfig import parse_toml

    config = config_from_table(parse_toml(f'fleet = "t"\n[store]\nurl = "{pg_url}"\n', Path("c.toml")))

    async def main() -> tuple[bool, str, int]:
        result = await _check_postgres(config)
        store = await _open_store(config)
        try:
            return result.ok, result.detail, await store.count_fixes()
        finally:
            await store.close()

    ok, detail, fixes = asyncio.run(main())
    assert ok and "schema 3, 0 fixes" in detail and fixes == 0
