"""The store writer: commit what arrived, then acknowledge it.

The service's input side (paho's callbacks, on the loop thread) adds each
message's effect to :attr:`StoreWriter.batch` and its acknowledgement with
:meth:`StoreWriter.hold_ack`; the writer task commits the batch in one
transaction and only then sends the acknowledgements. A message is therefore
acknowledged only after what it carried is on disk: SIGKILL at any moment
loses nothing the broker considers delivered, and what was received but not
acknowledged comes again (the store's ``(unit, seq)`` key counts it once).

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

from collector.counters import ServiceCounters
from collector.store import Store, WriteBatch
from common.backoff import Backoff
from common.mqtt import MqttConnection

__all__ = ["StoreWriter"]

log = logging.getLogger("collector")


@dataclass
class _Pending:
    batch: WriteBatch = field(default_factory=WriteBatch)
    acks: list[tuple[MqttConnection, int, int]] = field(default_factory=list)


class StoreWriter:
    def __init__(self, counters: ServiceCounters) -> None:
        self.counters = counters
        self._pending = _Pending()
        self._wake = asyncio.Event()

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

    async def run(self, store: Store, stopping: asyncio.Event) -> None:
        """One transaction per wake-up until ``stopping``; then what is held is
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
            self._wake.clear()
            pending, self._pending = self._pending, _Pending()
            while pending.batch:
                try:
                    result = await store.write(pending.batch)
                except (sqlite3.Error, OSError) as exc:
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
            for connection, mid, qos in pending.acks:
                connection.ack(mid, qos)  # a no-op for an ended session: the broker sends it again
            self.counters.acked += len(pending.acks)
