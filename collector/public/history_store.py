"""The public history's file: an SQLite database holding only published calls.

A file of its own, apart from the collector's database, so that the public
site opens nothing but public data: :class:`PublicHistoryReader` opens it
read-only, and there is no private table in it to reach, whatever a handler
asks. The feed's tick writes it (:class:`PublicHistoryWriter`) with the rows
:func:`collector.public.history.record` returns. Nothing in it is secret (it
can be copied to a researcher as it is); it is kept for ever, at about 100
bytes a call.

sqlite3 in a worker thread rather than aiosqlite: one small transaction per
tick, and reads that return lists, behind a lock so concurrent requests never
share a cursor.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from collector.public.history import CallKey, HistoryUpdate, PublishedCall, from_minute, minute
from common.errors import ActiveCallsError

__all__ = ["HISTORY_VERSION", "PublicHistoryError", "PublicHistoryReader", "PublicHistoryWriter"]

HISTORY_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS calls (
    call TEXT NOT NULL, opened_min INTEGER NOT NULL, category TEXT NOT NULL, priority TEXT NOT NULL,
    lat REAL NOT NULL, lon REAL NOT NULL,
    attending_min INTEGER, closed_min INTEGER, seen_open_min INTEGER,
    PRIMARY KEY (call, opened_min)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS calls_by_opened ON calls (opened_min);
CREATE INDEX IF NOT EXISTS calls_by_closed ON calls (closed_min);
"""
_COLUMNS: Final = "call, opened_min, category, priority, lat, lon, attending_min, closed_min, seen_open_min"
# Withdrawals (a reclassified call) only ever concern calls the collector still
# knows: recent ones. The horizon keeps a token that repeats years later safe.
_WITHDRAW_HORIZON: Final = dt.timedelta(days=8)
# linger_s is at most 7 days: a call closed before that is no longer shown.
_LINGER_HORIZON: Final = dt.timedelta(days=7, minutes=5)


class PublicHistoryError(ActiveCallsError):
    """The public history file cannot be used (another program's file, a newer version)."""


def _optional(m: int | None) -> dt.datetime | None:
    return None if m is None else from_minute(m)


def _row(call: PublishedCall) -> tuple[Any, ...]:
    def m(t: dt.datetime | None) -> int | None:
        return None if t is None else minute(t)

    return (
        call.call,
        minute(call.opened),
        call.category,
        call.priority,
        call.lat,
        call.lon,
        m(call.attending),
        m(call.closed),
        m(call.seen_open),
    )


def _call(row: Sequence[Any]) -> PublishedCall:
    token, opened, category, priority, lat, lon, attending, closed, seen_open = row
    return PublishedCall(
        token, from_minute(opened), category, priority, lat, lon, _optional(attending), _optional(closed),
        _optional(seen_open),
    )  # fmt: skip


class PublicHistoryWriter:
    """The feed's handle: create or upgrade the file, apply updates."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    def open(cls, path: Path) -> PublicHistoryWriter:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # readers (the site) never wait for the tick
            db.execute("PRAGMA busy_timeout=5000")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > HISTORY_VERSION:
                raise PublicHistoryError(f"{path}: public history version {version}, this collector knows 1")
            db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA}; PRAGMA user_version = {HISTORY_VERSION}; COMMIT;")
        except sqlite3.DatabaseError as exc:
            db.close()
            raise PublicHistoryError(f"{path}: not a public history: {exc}") from None
        except BaseException:
            db.close()
            raise
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    def shown_calls(self, now: dt.datetime) -> dict[CallKey, PublishedCall]:
        """The calls that may still be shown (not closed, or closed lately, lingering):
        what :func:`~collector.public.history.record` needs after a restart."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM calls WHERE closed_min IS NULL OR closed_min >= ?",
            (minute(now - _LINGER_HORIZON),),
        ).fetchall()
        return {call.key: call for call in map(_call, rows)}

    def apply(self, update: HistoryUpdate, now: dt.datetime) -> None:
        """One transaction: the update's rows, then its withdrawals."""
        if not update:
            return
        horizon = minute(now - _WITHDRAW_HORIZON)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                f"INSERT OR REPLACE INTO calls ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_row(c) for c in update.upserts],
            )
            db.executemany(
                "DELETE FROM calls WHERE call = ? AND opened_min >= ?", [(t, horizon) for t in sorted(update.withdrawn)]
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def add(self, calls: Iterable[PublishedCall]) -> None:
        """Insert rows as they are (benchmarks and tests build years of history this way)."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(f"INSERT OR REPLACE INTO calls ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 [_row(c) for c in calls])  # fmt: skip


class PublicHistoryReader:
    """The public site's handle on the history: read-only, and the only database it opens."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None:
            if not self.path.is_file():
                return None  # no call published yet
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            db = self._connect()
            if db is None:
                return []
            try:
                return db.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []  # created, not yet initialised by the feed
                raise

    def calls_sync(self, opened_from: dt.datetime, opened_before: dt.datetime) -> list[PublishedCall]:
        rows = self._query(
            f"SELECT {_COLUMNS} FROM calls WHERE opened_min >= ? AND opened_min < ? ORDER BY opened_min, call",
            (minute(opened_from), minute(opened_before)),
        )
        return [_call(row) for row in rows]

    async def calls(self, opened_from: dt.datetime, opened_before: dt.datetime) -> list[PublishedCall]:
        """The calls opened in [opened_from, opened_before), oldest first."""
        return await asyncio.to_thread(self.calls_sync, opened_from, opened_before)

    def version_sync(self) -> int:
        """A number that changes whenever the feed commits to the history (SQLite's
        ``data_version`` of this connection): caches of what is computed from it key on it."""
        rows = self._query("PRAGMA data_version", ())
        return int(rows[0][0]) if rows else 0
