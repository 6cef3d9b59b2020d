"""The collector's SQLite store: fix history, newest positions, duty and
connectivity, incidents. An I/O shell over aiosqlite; the rules live elsewhere.

Writes come in batches (:class:`WriteBatch`), and a batch of fixes is ONE
statement -- ``INSERT OR IGNORE ... SELECT FROM json_each(?)`` -- so it costs
one await and one transaction however many rows it has, and is all-or-nothing.
The database is in WAL mode with ``synchronous=FULL`` by default, so what a
write returned from survives SIGKILL and power loss; the service acknowledges
MQTT messages only after that.

``(unit, seq)`` is the primary key of the history, so a fix delivered twice
(a retained ``pos`` after a restart, a resent ``track``) is stored and
counted once. The ``latest`` table is kept by a trigger on the history, in
the same transaction, and only ever moves forward in fix time.

The schema is versioned with ``PRAGMA user_version``; migrations only add
(tables, columns, indexes), they never drop data.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiosqlite

from collector.arrivals import Arrival
from collector.deadletters import DeadLetter
from collector.export import StoredFix
from collector.fleet import FleetState
from collector.incidents import IncidentBook
from common.dbtx import rollback_if_open
from common.errors import ActiveCallsError
from common.fix import Fix
from common.wire import DutyStatus, Incident, IncidentStatus, UnitState, WireFix, decode_incident, encode_incident

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "UNIX_EPOCH",
    "FleetSnapshot",
    "Store",
    "StoreError",
    "StoredFix",
    "UnitHistory",
    "WriteBatch",
    "WriteResult",
    "fix_row",
    "fix_time_ms",
    "stored_fix",
    "to_ms",
]


class StoreError(ActiveCallsError):
    """The database cannot be used (newer schema, not a collector database)."""


_FIX_COLUMNS: Final = "unit, seq, time_ms, lat, lon, alt, speed, track, mode, hdop, sats, received_ms"

# Each entry moves the schema from version i to i + 1. Only ever append.
MIGRATIONS: Final[tuple[str, ...]] = (
    f"""
    CREATE TABLE fixes (
        unit TEXT NOT NULL, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL,
        lat REAL NOT NULL, lon REAL NOT NULL, alt REAL, speed REAL, track REAL,
        mode INTEGER NOT NULL, hdop REAL, sats INTEGER, received_ms INTEGER NOT NULL,
        PRIMARY KEY (unit, seq)
    ) WITHOUT ROWID;
    CREATE INDEX fixes_by_time ON fixes (time_ms);
    CREATE INDEX fixes_by_unit_time ON fixes (unit, time_ms);
    CREATE TABLE latest (
        unit TEXT PRIMARY KEY, seq INTEGER NOT NULL, time_ms INTEGER NOT NULL,
        lat REAL NOT NULL, lon REAL NOT NULL, alt REAL, speed REAL, track REAL,
        mode INTEGER NOT NULL, hdop REAL, sats INTEGER, received_ms INTEGER NOT NULL
    );
    -- Fires only for rows INSERT OR IGNORE really inserted: duplicates never touch it.
    CREATE TRIGGER fixes_keep_latest AFTER INSERT ON fixes BEGIN
        INSERT INTO latest ({_FIX_COLUMNS}) VALUES (NEW.unit, NEW.seq, NEW.time_ms, NEW.lat, NEW.lon,
            NEW.alt, NEW.speed, NEW.track, NEW.mode, NEW.hdop, NEW.sats, NEW.received_ms)
        ON CONFLICT (unit) DO UPDATE SET seq = excluded.seq, time_ms = excluded.time_ms,
            lat = excluded.lat, lon = excluded.lon, alt = excluded.alt, speed = excluded.speed,
            track = excluded.track, mode = excluded.mode, hdop = excluded.hdop, sats = excluded.sats,
            received_ms = excluded.received_ms
        WHERE excluded.time_ms > latest.time_ms;
    END;
    CREATE TABLE unit_status (unit TEXT PRIMARY KEY, status TEXT, since_ms INTEGER NOT NULL);
    CREATE TABLE unit_state (unit TEXT PRIMARY KEY, state TEXT NOT NULL, since_ms INTEGER NOT NULL);
    CREATE TABLE incidents (
        id TEXT PRIMARY KEY, status TEXT NOT NULL, payload TEXT NOT NULL,
        updated_ms INTEGER NOT NULL, closed_ms INTEGER
    );
    -- Every version of every incident, for calibration (who was assigned when).
    CREATE TABLE incident_log (id TEXT NOT NULL, received_ms INTEGER NOT NULL, payload TEXT);
    CREATE INDEX incident_log_by_id ON incident_log (id, received_ms);
    CREATE INDEX incident_log_by_time ON incident_log (received_ms);
    """,
    # Messages the service could not apply (an internal error): kept, not acknowledged
    # away (collector.deadletters). replay = 1: apply again at the next chance.
    """
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL,
        received_ms INTEGER NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1,
        replay INTEGER NOT NULL DEFAULT 0
    );
    """,
    # Arrivals measured (collector.arrivals): call -> dispatch -> arrival, and the ETA predicted at dispatch.
    """
    CREATE TABLE arrivals (
        incident TEXT NOT NULL, unit TEXT NOT NULL, priority INTEGER NOT NULL,
        called_ms INTEGER NOT NULL, dispatched_ms INTEGER NOT NULL, arrived_ms INTEGER NOT NULL,
        predicted_s REAL, method TEXT, how TEXT NOT NULL,
        PRIMARY KEY (incident, unit)
    );
    CREATE INDEX arrivals_by_time ON arrivals (arrived_ms);
    """,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

_INSERT_FIXES: Final = f"""
    INSERT OR IGNORE INTO fixes ({_FIX_COLUMNS})
    SELECT {", ".join(f"json_extract(value, '$[{i}]')" for i in range(12))} FROM json_each(?)
"""


# One (unit, time) index lookup per unit, then one primary-key lookup. MATERIALIZED
# matters: joined directly, SQLite scans the whole history and runs the
# subquery for every row (165 ms instead of 3 ms at 500 units x 30 min of fixes).
_LATEST_AT: Final = f"""
    WITH pick AS MATERIALIZED (
        SELECT l.unit AS unit, (SELECT seq FROM fixes WHERE unit = l.unit AND time_ms <= ?
                                ORDER BY time_ms DESC, seq DESC LIMIT 1) AS seq
        FROM latest AS l)
    SELECT {", ".join(f"f.{c.strip()}" for c in _FIX_COLUMNS.split(","))}
    FROM pick JOIN fixes AS f ON f.unit = pick.unit AND f.seq = pick.seq
    ORDER BY f.unit
"""


def _upsert_since(table: str, column: str) -> str:
    """Set each unit's ``column`` from [[unit, value, since_ms], ...], unless the
    stored value is newer. "WHERE true" keeps SQLite from reading ON CONFLICT as
    part of the SELECT."""
    return f"""
        INSERT INTO {table} (unit, {column}, since_ms)
        SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
        FROM json_each(?) WHERE true
        ON CONFLICT (unit) DO UPDATE SET {column} = excluded.{column}, since_ms = excluded.since_ms
        WHERE excluded.since_ms >= {table}.since_ms
    """


_UPSERT_STATUS: Final = _upsert_since("unit_status", "status")
_UPSERT_STATE: Final = _upsert_since("unit_state", "state")


def to_ms(seconds: float) -> int:
    """POSIX seconds as the stores keep them: integer milliseconds."""
    return math.floor(seconds * 1000)


UNIX_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS: Final = dt.timedelta(milliseconds=1)


def fix_time_ms(time: dt.datetime) -> int:
    """A fix time as the stores keep it: integer milliseconds since the epoch."""
    # Integer arithmetic: a float timestamp can land a millisecond off.
    return (time - UNIX_EPOCH) // _MS


@dataclass(slots=True)
class WriteBatch:
    """What arrived since the last write; times are receive times (POSIX s)."""

    fixes: list[tuple[WireFix, float]] = field(default_factory=list)
    statuses: list[tuple[str, DutyStatus | None, float]] = field(default_factory=list)
    states: list[tuple[str, UnitState, float]] = field(default_factory=list)
    incidents: list[tuple[Incident, float]] = field(default_factory=list)
    cleared_incidents: list[tuple[str, float]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)  # new ones (id None)
    replayed: list[int] = field(default_factory=list)  # dead letters applied again: delete them
    replay_failed: list[tuple[int, str]] = field(default_factory=list)  # (id, error): parked again
    arrivals: list[Arrival] = field(default_factory=list)

    def __len__(self) -> int:
        return (
            len(self.fixes) + len(self.statuses) + len(self.states) + len(self.incidents) + len(self.cleared_incidents)
            + len(self.dead_letters) + len(self.replayed) + len(self.replay_failed)
            + len(self.arrivals)
        )  # fmt: skip

    def add_fixes(self, fixes: Iterable[WireFix], received: float) -> None:
        self.fixes.extend((f, received) for f in fixes)


@dataclass(frozen=True, slots=True)
class WriteResult:
    fixes_inserted: int  # new rows; the rest of the batch's fixes were already stored


@dataclass(frozen=True, slots=True)
class UnitHistory:
    """What the store knows of a unit's sequence numbers in a recent window."""

    unit: str
    low: int
    high: int
    gaps: tuple[tuple[int, int], ...]
    recent_intervals: tuple[float, ...]  # seconds between its last fixes


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    """Everything needed to rebuild the in-memory state after a restart."""

    latest: tuple[StoredFix, ...]
    history: tuple[UnitHistory, ...]
    statuses: tuple[tuple[str, DutyStatus | None, float], ...]
    states: tuple[tuple[str, UnitState, float], ...]
    incidents: tuple[tuple[Incident, float], ...]

    def restore(self, fleet: FleetState, book: IncidentBook) -> None:
        """Load this into a fresh fleet and incident book (before live messages)."""
        history = {h.unit: h for h in self.history}
        for stored in self.latest:
            h = history.pop(stored.fix.unit, None)
            fleet.restore_unit(
                stored.fix.unit,
                stored.fix,
                received=stored.received,
                seq_span=None if h is None else (h.low, h.high),
                gaps=() if h is None else h.gaps,
                recent_intervals=() if h is None else h.recent_intervals,
            )
        for unit, status, since in self.statuses:
            fleet.apply_status(unit, status, since)
        for unit, state, since in self.states:
            fleet.apply_state(unit, state, since)
        for incident, received in self.incidents:
            book.apply(incident, received)


def fix_row(wire_fix: WireFix, received: float) -> list[Any]:
    """A fix as a row of the history (``_FIX_COLUMNS``), for either store."""
    f = wire_fix.fix
    return [
        wire_fix.unit,
        wire_fix.seq,
        fix_time_ms(f.time),
        f.lat,
        f.lon,
        f.alt,
        f.speed,
        f.track,
        f.mode,
        f.hdop,
        f.sats,
        to_ms(received),
    ]


def stored_fix(row: Sequence[Any]) -> StoredFix:
    """A history row back as the fix it was, for either store."""
    unit, seq, time_ms, lat, lon, alt, speed, track, mode, hdop, sats, received_ms = row
    time = UNIX_EPOCH + time_ms * _MS
    return StoredFix(WireFix(unit, seq, Fix(time, lat, lon, alt, speed, track, mode, hdop, sats)), received_ms / 1000)


class Store:
    """Open with ``await Store.open(path)``; one per process."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: str | Path, *, synchronous: str = "FULL") -> Store:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, got {synchronous!r}")
        path = Path(path)
        # isolation_level=None: each statement is its own transaction unless we BEGIN.
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            await db.execute("PRAGMA busy_timeout=5000")
            store = cls(db, path)
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        version = await self.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}; this collector knows up to {SCHEMA_VERSION}: upgrade it"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            # executescript commits first; BEGIN ... COMMIT makes each step all-or-nothing.
            await self._db.executescript(
                f"BEGIN IMMEDIATE; {MIGRATIONS[target - 1]}; PRAGMA user_version = {target}; COMMIT;"
            )

    # -- writing -------------------------------------------------------------

    async def write(self, batch: WriteBatch) -> WriteResult:
        """Store a batch in one transaction (one commit, one fsync). Fixes go in
        one statement (one await); statuses, states and incidents, rarer, in one
        statement per kind. A batch of fixes alone is that statement's own
        transaction: no BEGIN and COMMIT round trips."""
        db = self._db
        one_statement = not (
            batch.statuses or batch.states or batch.incidents or batch.cleared_incidents or batch.arrivals
            or batch.dead_letters or batch.replayed or batch.replay_failed
        )  # fmt: skip
        if one_statement:
            return await self._write_parts(batch)
        await db.execute("BEGIN IMMEDIATE")
        try:
            result = await self._write_parts(batch)
            await db.execute("COMMIT")
        except BaseException:
            await rollback_if_open(db)
            raise
        return result

    async def _write_parts(self, batch: WriteBatch) -> WriteResult:
        inserted = 0
        db = self._db
        if batch.fixes:
            payload = json.dumps([fix_row(f, received) for f, received in batch.fixes], allow_nan=False)
            async with db.execute(_INSERT_FIXES, (payload,)) as cursor:
                inserted = cursor.rowcount
        if batch.statuses:
            rows = [[u, None if s is None else s.value, to_ms(t)] for u, s, t in batch.statuses]
            await db.execute(_UPSERT_STATUS, (json.dumps(rows),))
        if batch.states:
            rows = [[u, s.value, to_ms(t)] for u, s, t in batch.states]
            await db.execute(_UPSERT_STATE, (json.dumps(rows),))
        if batch.incidents or batch.cleared_incidents:
            await self._write_incidents(batch)
        if batch.arrivals:
            await db.executemany(
                """INSERT OR IGNORE INTO arrivals (incident, unit, priority, called_ms, dispatched_ms, arrived_ms,
                   predicted_s, method, how) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [(a.incident, a.unit, a.priority, to_ms(a.called), to_ms(a.dispatched), to_ms(a.arrived), a.predicted_s,
                  a.method, a.how) for a in batch.arrivals],
            )  # fmt: skip
        if batch.dead_letters or batch.replayed or batch.replay_failed:
            await self._write_dead_letters(batch)
        return WriteResult(inserted)

    async def _write_dead_letters(self, batch: WriteBatch) -> None:
        # After the batch's other writes: a replayed letter goes once what it carried is stored.
        db = self._db
        await db.executemany(
            "INSERT INTO dead_letters (topic, payload, received_ms, error) VALUES (?, ?, ?, ?)",
            [(d.topic, d.payload, to_ms(d.received), d.error) for d in batch.dead_letters],
        )
        await db.executemany("DELETE FROM dead_letters WHERE id = ?", [(i,) for i in batch.replayed])
        await db.executemany(
            "UPDATE dead_letters SET error = ?, attempts = attempts + 1, replay = 0 WHERE id = ?",
            [(error, i) for i, error in batch.replay_failed],
        )

    async def _write_incidents(self, batch: WriteBatch) -> None:
        upserts = [
            (
                i.id,
                i.status.value,
                encode_incident(i).decode(),
                to_ms(t),
                to_ms(t) if i.status is IncidentStatus.CLOSED else None,
            )
            for i, t in batch.incidents
        ]
        log: list[tuple[str, int, str | None]] = [
            (i.id, to_ms(t), encode_incident(i).decode()) for i, t in batch.incidents
        ]
        log += [(incident_id, to_ms(t), None) for incident_id, t in batch.cleared_incidents]
        await self._db.executemany(
            """INSERT INTO incidents (id, status, payload, updated_ms, closed_ms) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET status = excluded.status, payload = excluded.payload,
                updated_ms = excluded.updated_ms, closed_ms = coalesce(incidents.closed_ms, excluded.closed_ms)
            WHERE excluded.updated_ms >= incidents.updated_ms""",
            upserts,
        )
        await self._db.executemany("DELETE FROM incidents WHERE id = ?", [(i,) for i, _ in batch.cleared_incidents])
        await self._db.executemany("INSERT INTO incident_log (id, received_ms, payload) VALUES (?, ?, ?)", log)

    async def prune(self, older_than: float, *, batch_rows: int = 5000) -> int:
        """Delete history (fixes, incident log) with times before ``older_than``,
        ``batch_rows`` per transaction so readers and writers are never held up
        for long. Newest positions, statuses and incidents stay."""
        cutoff = to_ms(older_than)
        total = 0
        for table, column, key in (("fixes", "time_ms", "unit, seq"), ("incident_log", "received_ms", "rowid")):
            while True:
                async with self._db.execute(
                    f"DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {column} < ? LIMIT ?)",
                    (cutoff, batch_rows),
                ) as cursor:
                    deleted = cursor.rowcount
                total += deleted
                if deleted < batch_rows:
                    break
        return total

    async def check_writable(self) -> None:
        """Take the write lock and let it go: raises if this process could not write."""
        await self._db.execute("BEGIN IMMEDIATE")
        await self._db.execute("ROLLBACK")

    # -- reading -------------------------------------------------------------

    async def count_fixes(self) -> int:
        async with self._db.execute("SELECT count(*) FROM fixes") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def latest(self) -> list[StoredFix]:
        async with self._db.execute(f"SELECT {_FIX_COLUMNS} FROM latest ORDER BY unit") as cursor:
            return [stored_fix(row) for row in await cursor.fetchall()]

    async def latest_at(self, time: float) -> list[StoredFix]:
        """Each unit's newest fix with a fix time at or before ``time``: positions as
        they were then (the public feed shows them late). Units with no fix that
        old are left out. Uses the (unit, time) index: one lookup per unit."""
        async with self._db.execute(_LATEST_AT, (fix_time_ms(UNIX_EPOCH + dt.timedelta(seconds=time)),)) as cursor:
            return [stored_fix(row) for row in await cursor.fetchall()]

    async def iter_fixes(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        units: Sequence[str] = (),
        order: str = "time",
        page: int = 5000,
    ) -> AsyncIterator[StoredFix]:
        """History with fix times in [since, until), read a page at a time, in
        fix-time order (``order="time"``) or grouped by unit (``order="unit"``)."""
        if order not in ("time", "unit"):
            raise ValueError(f"order must be 'time' or 'unit', got {order!r}")
        key = ("time_ms", "unit", "seq") if order == "time" else ("unit", "time_ms", "seq")
        where = ["time_ms >= ?", "time_ms < ?"]
        args: list[Any] = [
            to_ms(since) if since is not None else -(2**62),
            to_ms(until) if until is not None else 2**62,
        ]
        if units:
            where.append(f"unit IN ({', '.join('?' * len(units))})")
            args += list(units)
        columns = ", ".join(key)
        after: tuple[Any, ...] | None = None
        while True:
            keyset = f"AND ({columns}) > (?, ?, ?)" if after else ""
            sql = f"SELECT {_FIX_COLUMNS} FROM fixes WHERE {' AND '.join(where)} {keyset} ORDER BY {columns} LIMIT ?"
            async with self._db.execute(sql, (*args, *(after or ()), page)) as cursor:
                rows = list(await cursor.fetchall())
            for row in rows:
                yield stored_fix(row)
            if len(rows) < page:
                return
            unit, seq, time_ms = rows[-1][:3]
            after = (time_ms, unit, seq) if order == "time" else (unit, time_ms, seq)

    async def snapshot(self, *, now: float, window_s: float = 3600.0) -> FleetSnapshot:
        """State to restore after a restart; sequence gaps over the last ``window_s``."""
        latest = await self.latest()
        cutoff = to_ms(now - window_s)
        spans: dict[str, list[Any]] = {}
        async with self._db.execute(
            "SELECT unit, min(seq), max(seq) FROM fixes WHERE time_ms >= ? GROUP BY unit", (cutoff,)
        ) as cursor:
            for unit, low, high in await cursor.fetchall():
                spans[unit] = [low, high, [], []]
        async with self._db.execute(
            """SELECT unit, seq + 1, next_seq - 1 FROM (
                   SELECT unit, seq, lead(seq) OVER (PARTITION BY unit ORDER BY seq) AS next_seq
                   FROM fixes WHERE time_ms >= ?)
               WHERE next_seq > seq + 1 ORDER BY unit, seq""",
            (cutoff,),
        ) as cursor:
            for unit, first, last in await cursor.fetchall():
                spans[unit][2].append((first, last))
        async with self._db.execute(
            """SELECT unit, time_ms FROM (
                   SELECT unit, time_ms, row_number() OVER (PARTITION BY unit ORDER BY time_ms DESC) AS n
                   FROM fixes WHERE time_ms >= ?)
               WHERE n <= 10 ORDER BY unit, time_ms""",
            (cutoff,),
        ) as cursor:
            for unit, time_ms in await cursor.fetchall():
                spans[unit][3].append(time_ms / 1000)
        history = tuple(
            UnitHistory(unit, low, high, tuple(gaps), tuple(b - a for a, b in itertools.pairwise(times) if b > a))
            for unit, (low, high, gaps, times) in sorted(spans.items())
        )
        async with self._db.execute("SELECT unit, status, since_ms FROM unit_status ORDER BY unit") as cursor:
            statuses = tuple((u, None if s is None else DutyStatus(s), t / 1000) for u, s, t in await cursor.fetchall())
        async with self._db.execute("SELECT unit, state, since_ms FROM unit_state ORDER BY unit") as cursor:
            states = tuple((u, UnitState(s), t / 1000) for u, s, t in await cursor.fetchall())
        async with self._db.execute("SELECT payload, updated_ms FROM incidents ORDER BY id") as cursor:
            incidents = tuple((decode_incident(p), t / 1000) for p, t in await cursor.fetchall())
        return FleetSnapshot(tuple(latest), history, statuses, states, incidents)

    # -- dead letters ------------------------------------------------------------

    async def dead_letters(
        self, *, replay_only: bool = False, letter_id: int | None = None, limit: int = 1000
    ) -> list[DeadLetter]:
        """Parked messages, oldest first: those asked to be replayed (``replay_only``),
        the one with ``letter_id``, or all."""
        where = "WHERE replay = 1" if replay_only else ""
        args: tuple[int, ...] = ()
        if letter_id is not None:
            where, args = "WHERE id = ?", (letter_id,)
        async with self._db.execute(
            f"SELECT id, topic, payload, received_ms, error, attempts, replay FROM dead_letters {where} "
            "ORDER BY id LIMIT ?",
            (*args, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [DeadLetter(t, bytes(p), r / 1000, e, i, a, bool(rp)) for i, t, p, r, e, a, rp in rows]

    async def count_dead_letters(self) -> int:
        async with self._db.execute("SELECT count(*) FROM dead_letters") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def mark_dead_letters(self, ids: Sequence[int] | None, *, replay: bool) -> int:
        """Ask for these (None: all) to be applied again by the running service; the count marked."""
        return await self._dead_letter_change("UPDATE dead_letters SET replay = ?", (int(replay),), ids)

    async def drop_dead_letters(self, ids: Sequence[int] | None) -> int:
        """Delete these (None: all) for good; the count deleted."""
        return await self._dead_letter_change("DELETE FROM dead_letters", (), ids)

    async def _dead_letter_change(self, sql: str, args: tuple[Any, ...], ids: Sequence[int] | None) -> int:
        where = "" if ids is None else f" WHERE id IN ({', '.join('?' * len(ids))})"
        if ids is not None and not ids:
            return 0
        async with self._db.execute(sql + where, (*args, *(ids or ()))) as cursor:
            return int(cursor.rowcount)

    async def arrivals(self, *, since: float | None = None) -> list[Arrival]:
        """Arrivals measured, oldest first (arrived at or after ``since``)."""
        async with self._db.execute(
            """SELECT incident, unit, priority, called_ms, dispatched_ms, arrived_ms, predicted_s, method, how
               FROM arrivals WHERE arrived_ms >= ? ORDER BY arrived_ms, incident, unit""",
            (to_ms(since) if since is not None else -(2**62),),
        ) as cursor:
            rows = await cursor.fetchall()
        return [Arrival(i, u, p, c / 1000, d / 1000, a / 1000, ps, m, h) for i, u, p, c, d, a, ps, m, h in rows]

    async def incident_log(self, *, since: float | None = None) -> list[tuple[str, float, Incident | None]]:
        """Every version of every incident received (None: cleared), oldest first."""
        async with self._db.execute(
            "SELECT id, received_ms, payload FROM incident_log WHERE received_ms >= ? ORDER BY received_ms, rowid",
            (to_ms(since) if since is not None else -(2**62),),
        ) as cursor:
            rows = await cursor.fetchall()
        return [(i, t / 1000, None if p is None else decode_incident(p)) for i, t, p in rows]
