"""Which collector does the duties that must happen once.

Several collectors may share one PostgreSQL database and one shared MQTT
subscription: each stores its share of the positions and keeps the whole
fleet's state, but ETA publishing, the public feed's tick and retention must
run in exactly one of them. The one that holds a PostgreSQL session-level
advisory lock (:class:`AdvisoryLeader`, on a connection of its own) does them.
The server lets the lock go when that connection ends -- the process killed,
the machine gone (TCP keepalives) -- and another collector, trying every
``poll_s``, takes it within a few seconds.

A collector on SQLite is alone by construction (:class:`SoleLeader`).

The decisions are plain functions (:func:`runs_here`, :func:`lock_key`); the
lock is an I/O shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import Final, Protocol

import psycopg

__all__ = ["ONCE_DUTIES", "AdvisoryLeader", "Leadership", "SoleLeader", "lock_key", "runs_here"]

log = logging.getLogger("collector")

# What must happen once per fleet however many collectors run.
ONCE_DUTIES: Final = frozenset({"eta", "public", "retention"})


def runs_here(duty: str, *, leader: bool) -> bool:
    """Whether this collector does ``duty`` now: once-duties only in the leader;
    the rest (storing, stats, dead letters, learning) in every collector."""
    return leader or duty not in ONCE_DUTIES


def lock_key(fleet: str) -> int:
    """The advisory lock's key for a fleet: stable across processes and
    versions (not Python's salted hash), a signed 64-bit integer."""
    digest = hashlib.sha256(f"activecalls-collector-leader/{fleet}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool: ...

    async def run(self, stopping: asyncio.Event) -> None: ...


class SoleLeader:
    """The only collector (SQLite): always the leader."""

    is_leader = True

    async def run(self, stopping: asyncio.Event) -> None:
        await stopping.wait()


class AdvisoryLeader:
    """Leader while holding ``pg_try_advisory_lock(key)`` on a dedicated connection.

    Checked every ``poll_s``: a follower tries to take the lock, the leader
    checks that its connection (and so its lock) is still there. A leader whose
    connection fails stops being one at once (``on_change(False)``); it may take
    the lock again later like any follower."""

    def __init__(
        self, url: str, key: int, *, poll_s: float = 1.0, on_change: Callable[[bool], None] = lambda _l: None
    ) -> None:
        self.url = url
        self.key = key
        self.poll_s = poll_s
        self.on_change = on_change
        self._leader = False
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    @property
    def is_leader(self) -> bool:
        return self._leader

    def _set(self, leader: bool) -> None:
        if leader != self._leader:
            self._leader = leader
            log.info("%s", "leader: this collector now does ETAs, the public feed and retention"
                     if leader else "no longer the leader")  # fmt: skip
            self.on_change(leader)

    async def _check(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=5, keepalives_idle=5, keepalives_interval=2,
                keepalives_count=2,
            )  # fmt: skip
        if self._leader:
            await self._conn.execute("SELECT 1")  # the lock lives as long as this session
            return
        cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
        row = await cur.fetchone()
        self._set(bool(row and row[0]))

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            while not stopping.is_set():
                try:
                    await asyncio.wait_for(self._check(), timeout=max(self.poll_s, 5.0))
                except (psycopg.Error, OSError, TimeoutError) as exc:
                    if self._leader:
                        log.warning("leader lock lost: %s", exc)
                    self._set(False)
                    await self._drop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), self.poll_s)
        finally:
            self._set(False)
            await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()  # ends the session: the lock goes with it
