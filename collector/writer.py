"""The store writer: commit what arrived, then acknowledge it.

The service's input side (paho's callbacks, on the loop thread) adds each
message's effect to :attr:`StoreWriter.batch` and its acknowledgement with
:meth:`StoreWriter.hold_ack`; the writer task commits the batch in one
transaction and only then sends the acknowledgements. A message is therefore
acknowledged only after what it carried is on disk: SIGKILL at any moment
loses nothing the broker considers delivered, and what was received but not
acknowledged comes again (the store's ``(unit, seq)`` key counts it once).

Group commits: the first message after a quiet spell opens a short gathering
window (:class:`GroupCommit`, a few milliseconds); what arrives within it, up to
a count, joins the same transaction. One commit (one fsync) then serves
hundreds of messages under load, and costs at most the window's latency when
the fleet is quiet. The fleet state, and so the ETAs, see each message as it
arrives, before its commit: only the acknowledgement waits.

A failing write (disk full, I/O error) is retried with backoff and nothing of
its batch is acknowledged meanwhile; the broker stops sending once
``receive_maximum`` messages are unacknowledged, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import dataclass, field

import psycopg

from collector.counters import ServiceCounters
from collector.store import WriteBatch
from collector.storeapi import CollectorStore
from common.backoff import Backoff
from common.mqtt import MqttConnection

__all__ = ["GroupCommit", "StoreWriter"]

log = logging.getLogger("collector")


@dataclass(frozen=True, slots=True)
class GroupCommit:
    """When to stop gathering and commit: ``window_s`` after the first message
    held, or as soon as ``max_messages`` are held (the broker sends at most its
    receive_maximum unacknowledged ones anyway), or at once when stopping."""

    window_s: float = 0.004
    max_messages: int = 1000

    def wait_s(self, held: int, waited_s: float, *, stopping: bool = False) -> float:
        """How much longer to gather (0: commit now)."""
        if stopping or held >= self.max_messages:
            return 0.0
        return max(0.0, self.window_s - waited_s)


@dataclass
class _Pending:
    batch: WriteBatch = field(default_factory=WriteBatch)
    acks: list[tuple[MqttConnection, int, int]] = field(default_factory=list)


class StoreWriter:
    def __init__(self, counters: ServiceCounters, group: GroupCommit | None = None) -> None:
        self.counters = counters
        self.group = group or GroupCommit()
        self._pending = _Pending()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()  # max_messages held: stop gathering

    @property
    def batch(self) -> WriteBatch:
        """What the next transaction will write; the input side adds to it."""
        return self._pending.batch

    @property
    def pending_acks(self) -> int:
        """Messages received and not yet acknowledged (their batch is not yet committed)."""
        return len(self._pending.acks)

    def wake(self) -> None:
        """Write what the batch holds now (work that holds no acknowledgement)."""
        self._wake.set()

    def hold_ack(self, connection: MqttConnection, mid: int, qos: int) -> None:
        """Acknowledge this message once the batch it joined has committed."""
        self._pending.acks.append((connection, mid, qos))
        self._wake.set()
        if len(self._pending.acks) >= self.group.max_messages:
            self._full.set()

    async def _gather(self, stopping: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while delay := self.group.wait_s(len(self._pending.acks), loop.time() - started, stopping=stopping.is_set()):
            self._full.clear()
            if len(self._pending.acks) >= self.group.max_messages:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), delay)

    async def run(self, store: CollectorStore, stopping: asyncio.Event) -> None:
        """One transaction per gathering window until ``stopping``; then what is held is
        committed and acknowledged before returning (a clean shutdown loses
        nothing and leaves nothing for the broker to send again)."""
        backoff = Backoff(0.2, 10.0)
        while True:
            if not self._pending.acks and not self._pending.batch:
                if stopping.is_set():
                    return
                waiter = asyncio.create_task(self._wake.wait())
                stopper = asyncio.create_task(stopping.wait())
                await asyncio.wait((waiter, stopper), return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            await self._gather(stopping)
            self._wake.clear()
            self._full.clear()
            pending, self._pending = self._pending, _Pending()
            while pending.batch:
                try:
                    result = await store.write(pending.batch)
                except (sqlite3.Error, psycopg.Error, OSError) as exc:
                    # Nothing of this batch is acknowledged: retry it (messages behind it wait,
                    # and the broker stops sending once receive_maximum are unacknowledged).
                    self.counters.store_errors += 1
                    log.error("database write failed, retrying: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), backoff.next_delay())
                    if stopping.is_set():
                        return
                    continue
                backoff.reset()
                self.counters.batches += 1
                self.counters.fixes_stored += result.fixes_inserted
                break
            # A no-op for an ended session: the broker sends those again to the next one.
            for connection, deliveries in _by_connection(pending.acks).items():
                connection.ack_many(deliveries)
            self.counters.acked += len(pending.acks)


def _by_connection(acks: list[tuple[MqttConnection, int, int]]) -> dict[MqttConnection, list[tuple[int, int]]]:
    """(mid, qos) of each connection's messages, in the order they were received."""
    grouped: dict[MqttConnection, list[tuple[int, int]]] = {}
    for connection, mid, qos in acks:
        grouped.setdefault(connection, []).append((mid, qos))
    return grouped
