"""The collector's store interface, and the choice of backend.

Two backends keep the same facts with the same meaning: SQLite
(:class:`collector.store.Store`, one file, the embedded default) and PostgreSQL
(:class:`collector.pgstore.PgStore`, selected by ``[store] url =
"postgresql://..."``; history partitioned by day, shared by several
collectors). Both pass the same tests (tests/unit/test_store.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from collector.arrivals import Arrival
from collector.config import StoreSettings
from collector.deadletters import DeadLetter
from collector.store import FleetSnapshot, StoredFix, WriteBatch, WriteResult

__all__ = ["CollectorStore", "is_postgres_url", "open_store"]


class CollectorStore(Protocol):
    path: Any  # the file, or the database URL: what logs name it by

    async def close(self) -> None: ...
    async def schema_version(self) -> int: ...
    async def write(self, batch: WriteBatch) -> WriteResult: ...
    async def prune(self, older_than: float, *, batch_rows: int = 5000) -> int: ...
    async def check_writable(self) -> None: ...
    async def count_fixes(self) -> int: ...
    async def latest(self) -> list[StoredFix]: ...
    async def latest_at(self, time: float) -> list[StoredFix]: ...
    def iter_fixes(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        units: Sequence[str] = (),
        order: str = "time",
        page: int = 5000,
    ) -> AsyncIterator[StoredFix]: ...
    async def snapshot(self, *, now: float, window_s: float = 3600.0) -> FleetSnapshot: ...
    async def dead_letters(
        self, *, replay_only: bool = False, letter_id: int | None = None, limit: int = 1000
    ) -> list[DeadLetter]: ...
    async def count_dead_letters(self) -> int: ...
    async def mark_dead_letters(self, ids: Sequence[int] | None, *, replay: bool) -> int: ...
    async def drop_dead_letters(self, ids: Sequence[int] | None) -> int: ...
    async def arrivals(self, *, since: float | None = None) -> list[Arrival]: ...
    async def incident_log(self, *, since: float | None = None) -> list[Any]: ...


def is_postgres_url(url: str | None) -> bool:
    return url is not None and url.startswith(("postgresql://", "postgres://"))


async def open_store(settings: StoreSettings) -> CollectorStore:
    """PostgreSQL when ``settings.url`` names one, else the SQLite file at ``settings.path``."""
    if settings.url is not None:
        from collector.pgstore import PgStore  # psycopg is imported only by those who use it

        return await PgStore.open(settings.url)
    from collector.store import Store

    return await Store.open(settings.path, synchronous=settings.synchronous)
