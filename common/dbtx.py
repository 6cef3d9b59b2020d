"""Transactions on aiosqlite connections, for the agent's outbox and the collector's store."""

from __future__ import annotations

import contextlib
import sqlite3

import aiosqlite

__all__ = ["rollback_if_open"]


async def rollback_if_open(db: aiosqlite.Connection) -> None:
    """Undo a failed transaction, if one is still open.

    Called from ``except BaseException`` around a transaction: if the failure was
    a cancellation that arrived after the COMMIT ran in aiosqlite's thread, there
    is nothing to undo, and a failing ROLLBACK must not replace the error (or the
    cancellation) that brought us here.
    """
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            await db.execute("ROLLBACK")
