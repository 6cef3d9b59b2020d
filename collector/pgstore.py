"""The collector's PostgreSQL store: the same interface as the SQLite one
(:mod:`collector.store`), for a service whose history outgrows one file and
whose collectors run as several instances on one database.

An I/O shell over psycopg 3's asyncio API and a small connection pool.

- History (``fixes``) is partitioned by fix time, one table per UTC day
  (:mod:`collector.partitions`); a write creates the days its batch needs,
  retention drops whole days and deletes row by row only in the day the cutoff
  falls inside.
- A batch of fixes is ONE statement: ``INSERT ... SELECT FROM unnest(arrays)``
  (one round trip however many rows), ``ON CONFLICT DO NOTHING`` on
  ``(unit, seq, time_ms)`` -- a redelivered fix has the same fix time, so it is
  stored and counted once. (A unique key on a partitioned table must hold the
  partition key: two different fixes with one ``seq`` would both be kept, where
  SQLite keeps the first.) The same statement moves ``latest`` forward from the
  rows it really inserted.
- The schema version lives in ``schema_version``; migrations run under an
  advisory lock, so collectors starting together migrate once.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import psycopg
from psycopg_pool import AsyncConnectionPool

from collector.arrivals import Arrival
from collector.deadletters import DeadLetter
from collector.partitions import Partition, expired, partitions_for
from collector.store import (
    UNIX_EPOCH,
    FleetSnapshot,
    StoredFix,
    StoreError,
    UnitHistory,
    WriteBatch,
    WriteResult,
    fix_row,
    fix_time_ms,
    stored_fix,
    to_ms,
)
from common.wire import DutyStatus, IncidentStatus, UnitState, decode_incident, encode_incident

__all__ = ["PG_MIGRATIONS", "PG_SCHEMA_VERSION", "PgStore"]

_FIX_COLUMNS: Final = "unit, seq, time_ms, lat, lon, alt, speed, track, mode, hdop, sats, received_ms"
_FIX_TYPES: Final = ("text", "bigint", "bigint") + ("float8",) * 5 + ("int", "float8", "int", "bigint")
_MIGRATE_LOCK: Final = 0x4143_0001  # advisory lock key: one migrating collector at a time
_PARTITION_LOCK: Final = 0x4143_0002

# Each entry moves the schema from version i to i + 1 (as collector.store.MIGRATIONS). Only ever append.
PG_MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE fixes (
        unit text NOT NULL, seq bigint NOT NULL, time_ms bigint NOT NULL,
        lat float8 NOT NULL, lon float8 NOT NULL, alt float8, speed float8, track float8,
        mode int NOT NULL, hdop float8, sats int, received_ms bigint NOT NULL,
        PRIMARY KEY (unit, seq, time_ms)
    ) PARTITION BY RANGE (time_ms);
    -- A unit's track, and latest_at (each unit's newest fix before a time): one descent per unit.
    CREATE INDEX fixes_by_unit_time ON fixes (unit, time_ms);
    -- Trends and exports over a period: within the days the period names.
    CREATE INDEX fixes_by_time ON fixes (time_ms);
    CREATE TABLE latest (
        unit text PRIMARY KEY, seq bigint NOT NULL, time_ms bigint NOT NULL,
        lat float8 NOT NULL, lon float8 NOT NULL, alt float8, speed float8, track float8,
        mode int NOT NULL, hdop float8, sats int, received_ms bigint NOT NULL
    );
    CREATE TABLE unit_status (unit text PRIMARY KEY, status text, since_ms bigint NOT NULL);
    CREATE TABLE unit_state (unit text PRIMARY KEY, state text NOT NULL, since_ms bigint NOT NULL);
    CREATE TABLE incidents (
        id text PRIMARY KEY, status text NOT NULL, payload text NOT NULL,
        updated_ms bigint NOT NULL, closed_ms bigint
    );
    CREATE TABLE incident_log (
        n bigserial PRIMARY KEY, id text NOT NULL, received_ms bigint NOT NULL, payload text
    );
    CREATE INDEX incident_log_by_id ON incident_log (id, received_ms);
    CREATE INDEX incident_log_by_time ON incident_log (received_ms);
    """,
    """
    CREATE TABLE dead_letters (
        id bigserial PRIMARY KEY, topic text NOT NULL, payload bytea NOT NULL,
        received_ms bigint NOT NULL, error text NOT NULL, attempts int NOT NULL DEFAULT 1,
        replay boolean NOT NULL DEFAULT false
    );
    """,
    """
    CREATE TABLE arrivals (
        incident text NOT NULL, unit text NOT NULL, priority int NOT NULL,
        called_ms bigint NOT NULL, dispatched_ms bigint NOT NULL, arrived_ms bigint NOT NULL,
        predicted_s float8, method text, how text NOT NULL,
        PRIMARY KEY (incident, unit)
    );
    CREATE INDEX arrivals_by_time ON arrivals (arrived_ms);
    """,
)
PG_SCHEMA_VERSION: Final = len(PG_MIGRATIONS)

_LATEST_UPDATE: Final = ", ".join(f"{c} = excluded.{c}" for c in _FIX_COLUMNS.split(", ")[1:])
_INSERT_FIXES: Final = f"""
    WITH rows AS (
        SELECT * FROM unnest({", ".join(f"%s::{t}[]" for t in _FIX_TYPES)}) AS r ({_FIX_COLUMNS})
    ), inserted AS (
        INSERT INTO fixes ({_FIX_COLUMNS}) SELECT {_FIX_COLUMNS} FROM rows
        ON CONFLICT DO NOTHING RETURNING {_FIX_COLUMNS}
    ), newest AS (
        SELECT DISTINCT ON (unit) {_FIX_COLUMNS} FROM inserted ORDER BY unit, time_ms DESC, seq
    ), moved AS (
        INSERT INTO latest ({_FIX_COLUMNS}) SELECT {_FIX_COLUMNS} FROM newest
        ON CONFLICT (unit) DO UPDATE SET {_LATEST_UPDATE} WHERE excluded.time_ms > latest.time_ms
    )
    SELECT count(*) FROM inserted
"""

# Each unit's newest fix at or before a time, looked for first in the last day
# (%(since)s: one or two partitions, where nearly every unit is), then without that
# bound for the units not found there (%(all)s true: parked for longer), so the
# answer is the same as SQLite's without probing every day for every unit.
_LATEST_AT: Final = f"""
    WITH recent AS (
        SELECT {", ".join(f"f.{c}" for c in _FIX_COLUMNS.split(", "))}
        FROM latest AS l CROSS JOIN LATERAL (
            SELECT * FROM fixes WHERE unit = l.unit AND time_ms <= %(until)s AND time_ms > %(since)s
            ORDER BY time_ms DESC, seq DESC LIMIT 1
        ) AS f
    ), older AS (
        SELECT {", ".join(f"f.{c}" for c in _FIX_COLUMNS.split(", "))}
        FROM latest AS l CROSS JOIN LATERAL (
            SELECT * FROM fixes WHERE unit = l.unit AND time_ms <= %(since)s
            ORDER BY time_ms DESC, seq DESC LIMIT 1
        ) AS f
        WHERE NOT EXISTS (SELECT 1 FROM recent WHERE recent.unit = l.unit)
    )
    SELECT * FROM recent UNION ALL SELECT * FROM older ORDER BY unit
"""
_LATEST_AT_WINDOW_MS: Final = 86_400_000


def _upsert_since(table: str, column: str) -> str:
    return f"""
        INSERT INTO {table} (unit, {column}, since_ms) VALUES (%s, %s, %s)
        ON CONFLICT (unit) DO UPDATE SET {column} = excluded.{column}, since_ms = excluded.since_ms
        WHERE excluded.since_ms >= {table}.since_ms
    """


_NO_TIME: Final = 2**62


class PgStore:
    """Open with ``await PgStore.open(url)``; several processes may share one database."""

    def __init__(self, pool: AsyncConnectionPool, url: str) -> None:
        self._pool = pool
        self.path = _redacted(url)  # what logs name it by (as the SQLite store's file); no password
        self._partitions: set[Partition] = set()  # days known to exist

    @classmethod
    async def open(cls, url: str, *, pool_size: int = 4, timeout_s: float = 30.0) -> PgStore:
        pool = AsyncConnectionPool(url, min_size=1, max_size=pool_size, open=False, timeout=timeout_s)
        try:
            await pool.open(wait=True, timeout=timeout_s)
        except Exception as exc:
            await pool.close()
            raise StoreError(f"cannot connect to {_redacted(url)}: {exc}") from None
        store = cls(pool, url)
        try:
            await store._migrate()
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        await self._pool.close()

    async def __aenter__(self) -> PgStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
            row = await cur.fetchone()
            if not row or not row[0]:
                return 0
            cur = await conn.execute("SELECT version FROM schema_version")
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version int NOT NULL)")
            cur = await conn.execute("SELECT version FROM schema_version")
            row = await cur.fetchone()
            version = int(row[0]) if row else 0
            if row is None:
                await conn.execute("INSERT INTO schema_version VALUES (0)")
            if version > PG_SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}; this collector knows up to "
                    f"{PG_SCHEMA_VERSION}: upgrade it"
                )
            for target in range(version + 1, PG_SCHEMA_VERSION + 1):
                await conn.execute(PG_MIGRATIONS[target - 1].encode())
                await conn.execute("UPDATE schema_version SET version = %s", (target,))

    # -- writing -------------------------------------------------------------

    async def _ensure_partitions(self, conn: psycopg.AsyncConnection[Any], needed: set[Partition]) -> None:
        missing = needed - self._partitions
        if not missing:
            return
        # Another collector may be creating the same day: the lock makes it one at a time.
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
        for p in sorted(missing):
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {p.name} PARTITION OF fixes "
                f"FOR VALUES FROM ({p.low_ms}) TO ({p.high_ms})".encode()
            )
        self._partitions |= missing

    async def write(self, batch: WriteBatch) -> WriteResult:
        """Store a batch in one transaction (one commit)."""
        inserted = 0
        async with self._pool.connection() as conn:
            try:
                async with conn.transaction():
                    if batch.fixes:
                        rows = [fix_row(f, received) for f, received in batch.fixes]
                        await self._ensure_partitions(conn, partitions_for(r[2] for r in rows))
                        cur = await conn.execute(_INSERT_FIXES, [list(column) for column in zip(*rows, strict=True)])
                        row = await cur.fetchone()
                        inserted = int(row[0]) if row else 0
                    await self._write_rest(conn, batch)
            except psycopg.Error:
                self._partitions.clear()  # a rolled-back CREATE may have left one out: look again
                raise
        return WriteResult(inserted)

    async def _write_rest(self, conn: psycopg.AsyncConnection[Any], batch: WriteBatch) -> None:
        async with conn.cursor() as cur:
            if batch.statuses:
                await cur.executemany(
                    _upsert_since("unit_status", "status"),
                    [(u, None if s is None else s.value, to_ms(t)) for u, s, t in batch.statuses],
                )
            if batch.states:
                await cur.executemany(
                    _upsert_since("unit_state", "state"), [(u, s.value, to_ms(t)) for u, s, t in batch.states]
                )
            if batch.incidents:
                await cur.executemany(
                    """INSERT INTO incidents (id, status, payload, updated_ms, closed_ms) VALUES (%s, %s, %s, %s, %s)
                    ON CONFLICT (id) DO UPDATE SET status = excluded.status, payload = excluded.payload,
                        updated_ms = excluded.updated_ms, closed_ms = coalesce(incidents.closed_ms, excluded.closed_ms)
                    WHERE excluded.updated_ms >= incidents.updated_ms""",
                    [(i.id, i.status.value, encode_incident(i).decode(), to_ms(t),
                      to_ms(t) if i.status is IncidentStatus.CLOSED else None) for i, t in batch.incidents],
                )  # fmt: skip
            if batch.incidents or batch.cleared_incidents:
                for incident_id, _t in batch.cleared_incidents:
                    await cur.execute("DELETE FROM incidents WHERE id = %s", (incident_id,))
                log: list[tuple[str, int, str | None]] = [
                    (i.id, to_ms(t), encode_incident(i).decode()) for i, t in batch.incidents
                ]
                log += [(incident_id, to_ms(t), None) for incident_id, t in batch.cleared_incidents]
                await cur.executemany("INSERT INTO incident_log (id, received_ms, payload) VALUES (%s, %s, %s)", log)
            if batch.arrivals:
                await cur.executemany(
                    """INSERT INTO arrivals (incident, unit, priority, called_ms, dispatched_ms, arrived_ms,
                       predicted_s, method, how) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                    [(a.incident, a.unit, a.priority, to_ms(a.called), to_ms(a.dispatched), to_ms(a.arrived),
                      a.predicted_s, a.method, a.how) for a in batch.arrivals],
                )  # fmt: skip
            if batch.dead_letters:
                await cur.executemany(
                    "INSERT INTO dead_letters (topic, payload, received_ms, error) VALUES (%s, %s, %s, %s)",
                    [(d.topic, d.payload, to_ms(d.received), d.error) for d in batch.dead_letters],
                )
            if batch.replayed:
                await cur.execute("DELETE FROM dead_letters WHERE id = ANY(%s)", (list(batch.replayed),))
            if batch.replay_failed:
                await cur.executemany(
                    "UPDATE dead_letters SET error = %s, attempts = attempts + 1, replay = false WHERE id = %s",
                    [(error, i) for i, error in batch.replay_failed],
                )

    async def prune(self, older_than: float, *, batch_rows: int = 5000) -> int:
        """Drop the days of history wholly before ``older_than``; in the day it falls
        inside, and in the incident log, delete ``batch_rows`` per transaction."""
        cutoff = to_ms(older_than)
        total = 0
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'fixes'::regclass"
            )
            names = [str(r[0]) for r in await cur.fetchall()]
            drop, straddling = expired(names, cutoff)
            for name in drop:
                cur = await conn.execute(f"SELECT count(*) FROM {name}".encode())
                row = await cur.fetchone()
                total += int(row[0]) if row else 0
                await conn.execute(f"DROP TABLE {name}".encode())
                await conn.commit()
            self._partitions = {p for p in self._partitions if p.high_ms > cutoff}
            deletes: list[tuple[str, str, str]] = [("incident_log", "received_ms", "n")]
            if straddling is not None:
                deletes.insert(0, (straddling.name, "time_ms", "unit, seq, time_ms"))
            for table, column, key in deletes:
                while True:
                    cur = await conn.execute(
                        f"DELETE FROM {table} WHERE ({key}) IN "
                        f"(SELECT {key} FROM {table} WHERE {column} < %s LIMIT %s)".encode(),
                        (cutoff, batch_rows),
                    )
                    await conn.commit()
                    total += cur.rowcount
                    if cur.rowcount < batch_rows:
                        break
        return total

    async def check_writable(self) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("SELECT 1 FROM schema_version FOR UPDATE")
            await conn.rollback()

    # -- reading -------------------------------------------------------------

    async def _rows(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql.encode(), args)
            return list(await cur.fetchall())

    async def _one(self, sql: str, args: Sequence[Any] = ()) -> int:
        rows = await self._rows(sql, args)
        return int(rows[0][0]) if rows else 0

    async def count_fixes(self) -> int:
        return await self._one("SELECT count(*) FROM fixes")

    async def latest(self) -> list[StoredFix]:
        return [stored_fix(r) for r in await self._rows(f"SELECT {_FIX_COLUMNS} FROM latest ORDER BY unit")]

    async def latest_at(self, time: float) -> list[StoredFix]:
        """Each unit's newest fix at or before ``time`` (see Store.latest_at): one
        index descent per unit in the last day's partitions, and further back only
        for the units with no fix in that day."""
        when = fix_time_ms(UNIX_EPOCH + dt.timedelta(seconds=time))
        args = {"until": when, "since": when - _LATEST_AT_WINDOW_MS}
        return [stored_fix(r) for r in await self._rows(_LATEST_AT, args)]

    async def iter_fixes(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        units: Sequence[str] = (),
        order: str = "time",
        page: int = 5000,
    ) -> AsyncIterator[StoredFix]:
        """As Store.iter_fixes: history in [since, until), a page at a time."""
        if order not in ("time", "unit"):
            raise ValueError(f"order must be 'time' or 'unit', got {order!r}")
        key = "time_ms, unit, seq" if order == "time" else "unit, time_ms, seq"
        where = ["time_ms >= %s", "time_ms < %s"]
        args: list[Any] = [
            to_ms(since) if since is not None else -_NO_TIME,
            to_ms(until) if until is not None else _NO_TIME,
        ]
        if units:
            where.append("unit = ANY(%s)")
            args.append(list(units))
        after: tuple[Any, ...] | None = None
        while True:
            keyset = f"AND ({key}) > (%s, %s, %s)" if after else ""
            rows = await self._rows(
                f"SELECT {_FIX_COLUMNS} FROM fixes WHERE {' AND '.join(where)} {keyset} ORDER BY {key} LIMIT %s",
                (*args, *(after or ()), page),
            )
            for row in rows:
                yield stored_fix(row)
            if len(rows) < page:
                return
            unit, seq, time_ms = rows[-1][:3]
            after = (time_ms, unit, seq) if order == "time" else (unit, time_ms, seq)

    async def snapshot(self, *, now: float, window_s: float = 3600.0) -> FleetSnapshot:
        latest = await self.latest()
        cutoff = to_ms(now - window_s)
        spans: dict[str, list[Any]] = {}
        for unit, low, high in await self._rows(
            "SELECT unit, min(seq), max(seq) FROM fixes WHERE time_ms >= %s GROUP BY unit", (cutoff,)
        ):
            spans[unit] = [low, high, [], []]
        for unit, first, last in await self._rows(
            """SELECT unit, seq + 1, next_seq - 1 FROM (
                   SELECT unit, seq, lead(seq) OVER (PARTITION BY unit ORDER BY seq) AS next_seq
                   FROM fixes WHERE time_ms >= %s) AS s
               WHERE next_seq > seq + 1 ORDER BY unit, seq""",
            (cutoff,),
        ):
            spans[unit][2].append((first, last))
        for unit, time_ms in await self._rows(
            """SELECT unit, time_ms FROM (
                   SELECT unit, time_ms, row_number() OVER (PARTITION BY unit ORDER BY time_ms DESC) AS n
                   FROM fixes WHERE time_ms >= %s) AS s
               WHERE n <= 10 ORDER BY unit, time_ms""",
            (cutoff,),
        ):
            spans[unit][3].append(time_ms / 1000)
        history = tuple(
            UnitHistory(unit, low, high, tuple(gaps), tuple(b - a for a, b in itertools.pairwise(times) if b > a))
            for unit, (low, high, gaps, times) in sorted(spans.items())
        )
        statuses = tuple(
            (u, None if s is None else DutyStatus(s), t / 1000)
            for u, s, t in await self._rows("SELECT unit, status, since_ms FROM unit_status ORDER BY unit")
        )
        states = tuple(
            (u, UnitState(s), t / 1000)
            for u, s, t in await self._rows("SELECT unit, state, since_ms FROM unit_state ORDER BY unit")
        )
        incidents = tuple(
            (decode_incident(p), t / 1000)
            for p, t in await self._rows("SELECT payload, updated_ms FROM incidents ORDER BY id")
        )
        return FleetSnapshot(tuple(latest), history, statuses, states, incidents)

    # -- dead letters, arrivals, incident log ------------------------------------

    async def dead_letters(
        self, *, replay_only: bool = False, letter_id: int | None = None, limit: int = 1000
    ) -> list[DeadLetter]:
        where = "WHERE replay" if replay_only else ""
        args: tuple[int, ...] = ()
        if letter_id is not None:
            where, args = "WHERE id = %s", (letter_id,)
        rows = await self._rows(
            f"SELECT id, topic, payload, received_ms, error, attempts, replay FROM dead_letters {where} "
            "ORDER BY id LIMIT %s",
            (*args, limit),
        )
        return [DeadLetter(t, bytes(p), r / 1000, e, i, a, bool(rp)) for i, t, p, r, e, a, rp in rows]

    async def count_dead_letters(self) -> int:
        return await self._one("SELECT count(*) FROM dead_letters")

    async def mark_dead_letters(self, ids: Sequence[int] | None, *, replay: bool) -> int:
        return await self._dead_letter_change("UPDATE dead_letters SET replay = %s", (replay,), ids)

    async def drop_dead_letters(self, ids: Sequence[int] | None) -> int:
        return await self._dead_letter_change("DELETE FROM dead_letters", (), ids)

    async def _dead_letter_change(self, sql: str, args: tuple[Any, ...], ids: Sequence[int] | None) -> int:
        if ids is not None and not ids:
            return 0
        where = "" if ids is None else " WHERE id = ANY(%s)"
        async with self._pool.connection() as conn:
            cur = await conn.execute((sql + where).encode(), (*args, *(() if ids is None else (list(ids),))))
            return int(cur.rowcount)

    async def arrivals(self, *, since: float | None = None) -> list[Arrival]:
        rows = await self._rows(
            """SELECT incident, unit, priority, called_ms, dispatched_ms, arrived_ms, predicted_s, method, how
               FROM arrivals WHERE arrived_ms >= %s ORDER BY arrived_ms, incident, unit""",
            (to_ms(since) if since is not None else -_NO_TIME,),
        )
        return [Arrival(i, u, p, c / 1000, d / 1000, a / 1000, ps, m, h) for i, u, p, c, d, a, ps, m, h in rows]

    async def incident_log(self, *, since: float | None = None) -> list[tuple[str, float, Any]]:
        rows = await self._rows(
            "SELECT id, received_ms, payload FROM incident_log WHERE received_ms >= %s ORDER BY received_ms, n",
            (to_ms(since) if since is not None else -_NO_TIME,),
        )
        return [(i, t / 1000, None if p is None else decode_incident(p)) for i, t, p in rows]


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in info.items())
