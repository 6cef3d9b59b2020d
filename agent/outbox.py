"""The outbox: every fix chosen for reporting, on disk until the broker has it.

SQLite (through aiosqlite) in WAL mode with ``synchronous=FULL``: a fix is
committed, and given its ``seq``, before it is published, and deleted only
after the broker's PUBACK. A crash, a SIGKILL or a power cut at any moment
leaves either the state before or after a transaction, never a torn one, so
no acknowledged fix comes back and no unacknowledged one vanishes; and since
the last ``seq`` is committed together with the fixes that used it, a ``seq``
is never given to two different fixes.

Writes come in batches, one transaction each (an aiosqlite round trip costs
about 0.1 ms and a FULL commit an fsync): ``put`` takes all the fixes one
serial read completed, ``ack`` all the PUBACKs gathered since the last flush.

The outbox is bounded by ``max_fixes`` (default 300,000: over 72 h at 1 Hz).
Full, it thins the oldest half of the backlog, keeping every ``keep_every``-th
fix, rather than refusing the new ones: a recent track matters more than the
density of an old one. What it drops is counted (``dropped``) and shows as a
gap in ``seq``. The decisions are the pure :func:`thinning_plan`; the schema
and its migrations are data (:data:`MIGRATIONS`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiosqlite

from common.dbtx import rollback_if_open
from common.errors import ActiveCallsError
from common.fix import Fix, InvalidFixError, format_time

__all__ = [
    "DEFAULT_MAX_FIXES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Outbox",
    "OutboxCorruptError",
    "OutboxError",
    "OutboxStats",
    "thinning_plan",
]

DEFAULT_MAX_FIXES: Final = 300_000

# Migration i takes the schema from version i to i + 1. Append only; a
# migration adds or transforms, never drops data, and runs in the same
# transaction as the user_version bump.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        "CREATE TABLE fixes (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, fix TEXT NOT NULL)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO meta (key, value) VALUES ('last_seq', 0), ('dropped', 0)",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


class OutboxError(ActiveCallsError):
    """The outbox cannot be opened or used."""


class OutboxCorruptError(OutboxError):
    """The file is not an outbox we can read (corrupt, or written by a newer agent)."""


def thinning_plan(oldest_first: Sequence[int], count: int, max_fixes: int, keep_every: int) -> list[int]:
    """The seqs to delete so that ``count`` fixes fit in ``max_fixes``.

    ``oldest_first``: the seqs of the oldest half of the backlog (or more).
    Every ``keep_every``-th of them is kept, the others go; nothing is thinned
    while the outbox is not over its bound.
    """
    if count <= max_fixes or keep_every < 2:
        return []
    return [seq for i, seq in enumerate(oldest_first) if i % keep_every]


@dataclass(frozen=True, slots=True)
class OutboxStats:
    path: Path
    backlog: int
    last_seq: int
    dropped: int
    oldest: tuple[int, dt.datetime] | None  # (seq, fix time) of the oldest unacknowledged fix
    newest: tuple[int, dt.datetime] | None
    size_bytes: int
    schema_version: int

    def as_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "backlog": self.backlog,
            "last_seq": self.last_seq,
            "dropped": self.dropped,
            "oldest_seq": self.oldest[0] if self.oldest else None,
            "oldest_time": format_time(self.oldest[1]) if self.oldest else None,
            "newest_seq": self.newest[0] if self.newest else None,
            "newest_time": format_time(self.newest[1]) if self.newest else None,
            "size_bytes": self.size_bytes,
            "schema_version": self.schema_version,
        }


def _fix(seq: int, text: str) -> Fix:
    try:
        return Fix.from_json(text)
    except InvalidFixError as exc:
        raise OutboxCorruptError(f"outbox row seq={seq} holds no valid fix: {exc}") from None


class Outbox:
    """Open with ``await Outbox.open(path)``; one writer (the agent) at a time."""

    def __init__(self, db: aiosqlite.Connection, path: Path, max_fixes: int, keep_every: int) -> None:
        self._db = db
        self.path = path
        self.max_fixes = max_fixes
        self.keep_every = keep_every
        self.count = 0
        self.last_seq = 0
        self.dropped = 0
        # One connection, several tasks (writer, ack flusher, drain): one transaction at a time.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, path: Path, *, max_fixes: int = DEFAULT_MAX_FIXES, keep_every: int = 2, readonly: bool = False
    ) -> Outbox:
        """Open (creating and migrating as needed) the outbox at ``path``.
        ``readonly`` inspects an existing outbox without changing it."""
        if max_fixes < 2 or keep_every < 2:
            raise ValueError("max_fixes and keep_every must be at least 2")
        if readonly and not path.exists():
            raise OutboxError(f"{path}: no outbox there")
        try:
            if readonly:
                db = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, aiosqlite.Error) as exc:
            raise OutboxError(f"{path}: cannot open: {getattr(exc, 'strerror', None) or exc}") from None
        outbox = cls(db, path, max_fixes, keep_every)
        try:
            await outbox._prepare(readonly)
        except BaseException:
            await db.close()
            raise
        return outbox

    async def _prepare(self, readonly: bool) -> None:
        db = self._db
        try:
            await db.execute("PRAGMA busy_timeout = 5000")
            if not readonly:
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute("PRAGMA synchronous = FULL")
            version = await self._scalar("PRAGMA user_version")
            if version > SCHEMA_VERSION:
                raise OutboxCorruptError(
                    f"{self.path}: schema version {version} is newer than this agent's ({SCHEMA_VERSION}); "
                    "upgrade the agent rather than lose the backlog"
                )
            if version < SCHEMA_VERSION:
                if readonly:
                    raise OutboxError(f"{self.path}: schema version {version}, needs migrating (run the agent)")
                await self._migrate(version)
            self.last_seq = await self._scalar("SELECT value FROM meta WHERE key = 'last_seq'")
            self.dropped = await self._scalar("SELECT value FROM meta WHERE key = 'dropped'")
            self.count = await self._scalar("SELECT COUNT(*) FROM fixes")
        except aiosqlite.DatabaseError as exc:
            raise OutboxCorruptError(f"{self.path}: not a usable outbox: {exc}") from None
        except aiosqlite.Error as exc:
            raise OutboxError(f"{self.path}: {exc}") from None

    async def _scalar(self, sql: str, params: Sequence[object] = ()) -> int:
        rows = list(await self._db.execute_fetchall(sql, params))
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    async def _migrate(self, version: int) -> None:
        db = self._db
        for target in range(version, SCHEMA_VERSION):
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[target]:
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {target + 1}")
                await db.execute("COMMIT")
            except BaseException:
                await rollback_if_open(db)
                raise

    async def put(self, fixes: Sequence[Fix]) -> list[tuple[int, Fix]]:
        """Store fixes (one transaction), give each the next seq; thin if full.
        Returns (seq, fix) pairs; once this returns, they survive a crash."""
        if not fixes:
            return []
        return await asyncio.shield(self._put_locked(fixes))

    # Writes are shielded from cancellation. A task cancelled (at shutdown) while
    # its COMMIT runs in aiosqlite's thread would otherwise see the CancelledError
    # after the commit took place: the ROLLBACK that follows fails, the counters
    # miss the committed rows, and every later put collides with their seqs.
    # Shielded, the transaction and the counters finish together; the caller is
    # still cancelled, and what it wrote is in the outbox.

    async def _put_locked(self, fixes: Sequence[Fix]) -> list[tuple[int, Fix]]:
        async with self._lock:
            return await self._put(fixes)

    async def _put(self, fixes: Sequence[Fix]) -> list[tuple[int, Fix]]:
        first = self.last_seq + 1
        rows = [(first + i, format_time(f.time), f.to_json()) for i, f in enumerate(fixes)]
        last = first + len(rows) - 1
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.executemany("INSERT INTO fixes (seq, time, fix) VALUES (?, ?, ?)", rows)
            await db.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (last,))
            await db.execute("COMMIT")
        except BaseException:
            await rollback_if_open(db)
            raise
        self.last_seq = last
        self.count += len(rows)
        if self.count > self.max_fixes:
            await self._thin()
        return [(first + i, f) for i, f in enumerate(fixes)]

    async def _thin(self) -> None:
        window = list(await self._db.execute_fetchall("SELECT seq FROM fixes ORDER BY seq LIMIT ?", (self.count // 2,)))
        doomed = thinning_plan([int(r[0]) for r in window], self.count, self.max_fixes, self.keep_every)
        if not doomed:
            return
        db = self._db
        await db.execute("BEGIN IMMEDIATE")
        try:
            cursor = await db.executemany("DELETE FROM fixes WHERE seq = ?", [(s,) for s in doomed])
            removed = cursor.rowcount
            await db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped'", (removed,))
            await db.execute("COMMIT")
        except BaseException:
            await rollback_if_open(db)
            raise
        self.count -= removed
        self.dropped += removed

    async def ack(self, seqs: Collection[int]) -> None:
        """Forget fixes the broker acknowledged (one transaction)."""
        if not seqs:
            return
        await asyncio.shield(self._ack_locked(seqs))

    async def _ack_locked(self, seqs: Collection[int]) -> None:
        async with self._lock:
            db = self._db
            await db.execute("BEGIN IMMEDIATE")
            try:
                cursor = await db.executemany("DELETE FROM fixes WHERE seq = ?", [(s,) for s in seqs])
                removed = cursor.rowcount
                await db.execute("COMMIT")
            except BaseException:
                await rollback_if_open(db)
                raise
            self.count -= max(0, removed)

    async def after(self, seq: int, limit: int) -> list[tuple[int, Fix]]:
        """Up to ``limit`` unacknowledged fixes with a seq above ``seq``, oldest first."""
        sql = "SELECT seq, fix FROM fixes WHERE seq > ? ORDER BY seq LIMIT ?"
        async with self._lock:
            rows = await self._db.execute_fetchall(sql, (seq, limit))
        return [(int(s), _fix(int(s), text)) for s, text in rows]

    async def newest(self) -> tuple[int, Fix] | None:
        async with self._lock:
            rows = list(await self._db.execute_fetchall("SELECT seq, fix FROM fixes ORDER BY seq DESC LIMIT 1"))
        return (int(rows[0][0]), _fix(int(rows[0][0]), rows[0][1])) if rows else None

    async def stats(self) -> OutboxStats:
        async with self._lock:
            return await self._stats()

    async def _stats(self) -> OutboxStats:
        db = self._db

        async def end(order: str) -> tuple[int, dt.datetime] | None:
            rows = list(await db.execute_fetchall(f"SELECT seq, fix FROM fixes ORDER BY seq {order} LIMIT 1"))
            return (int(rows[0][0]), _fix(int(rows[0][0]), rows[0][1]).time) if rows else None

        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return OutboxStats(
            path=self.path,
            backlog=await self._scalar("SELECT COUNT(*) FROM fixes"),
            last_seq=await self._scalar("SELECT value FROM meta WHERE key = 'last_seq'"),
            dropped=await self._scalar("SELECT value FROM meta WHERE key = 'dropped'"),
            oldest=await end("ASC"),
            newest=await end("DESC"),
            size_bytes=size,
            schema_version=await self._scalar("PRAGMA user_version"),
        )

    async def integrity_check(self) -> str:
        """SQLite's own verdict on the file: ``"ok"`` or the first problems found."""
        rows = await self._db.execute_fetchall("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)

    async def close(self) -> None:
        async with self._lock:
            await self._db.close()
