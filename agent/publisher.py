"""The publisher: outbox -> broker, live fix first, backlog second.

One broker session at a time (:class:`common.mqtt.MqttConnection`), reconnected
with jittered backoff. In each session:

1. ``online`` goes to ``state`` (retained); the broker holds ``offline`` as our
   last will.
2. The newest reported fix, if the broker has not acknowledged it yet, goes to
   ``pos`` (retained): the map shows where the car is now, not where it was
   when the signal dropped. Every fix reported during the session follows it
   on ``pos`` at once.
3. The backlog (every older unacknowledged fix) drains on ``track``, oldest
   first, up to 500 fixes a message, with at most ``max_inflight`` messages
   awaiting PUBACK, so a live fix never queues behind more than that.

A fix leaves the outbox only after a PUBACK saying a subscriber took it;
PUBACKs are gathered and deleted in one transaction every ``ACK_FLUSH_S``
(sooner during a drain). A session that breaks loses nothing: what was not
acknowledged is still in the outbox and goes out again (consumers
de-duplicate on ``(unit, seq)``).

"A subscriber took it" matters after a broker has lost the collector's
session (a crash before its autosave, a reinstall): the broker then answers
PUBACK 0x10 "No matching subscribers" and keeps nothing. Such fixes stay in
the outbox; the live ``pos`` goes on (retained, so the map still shows the
car), and the backlog is tried again after a pause that grows with
:class:`~common.backoff.Backoff` (one window of messages per try, not the
whole backlog), until the collector has subscribed again. MQTT 3.1.1 has no
reason codes: there a PUBACK is taken at its word (use MQTT 5, the default).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from agent.outbox import Outbox
from common.backoff import Backoff
from common.fix import Fix
from common.mqtt import (
    ConnectionLostError,
    MqttConnection,
    MqttError,
    MqttSettings,
    NoSubscribersError,
    PublishRefusedError,
    Will,
    connect_with_retry,
)
from common.wire import MAX_TRACK_FIXES, Topics, UnitState, WireFix, encode_fix, encode_state, encode_track

__all__ = ["Publisher"]

log = logging.getLogger(__name__)

# Deleting acknowledged fixes late costs nothing but a resend after a crash; deleting
# them one transaction per PUBACK would cost a commit per live fix.
ACK_FLUSH_S: Final = 1.0
ACK_FLUSH_COUNT: Final = 2000


async def _until(waited: Awaitable[object], closed: asyncio.Future[MqttError]) -> bool:
    """Await ``waited``; False if the session closed first."""
    task = asyncio.ensure_future(waited)
    try:
        await asyncio.wait((task, closed), return_when=asyncio.FIRST_COMPLETED)
    finally:
        task.cancel()
    return not closed.done()


class Publisher:
    """Publishes what the outbox holds; call :meth:`live` after every put."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        unit: str,
        outbox: Outbox,
        *,
        batch_size: int = MAX_TRACK_FIXES,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.unit = unit
        self.outbox = outbox
        self.batch_size = min(batch_size, MAX_TRACK_FIXES)
        self._on_change = on_change
        self._state_topic = topics.state(unit)
        self._pos_topic = topics.pos(unit)
        self._track_topic = topics.track(unit)
        self.connection: MqttConnection | None = None
        self._ready = False  # a session is up and has sent its newest fix
        self._latest: tuple[int, Fix] | None = None
        self._pos_acked = 0  # highest seq the broker acknowledged on pos
        self._acked: list[int] = []
        self._ack_wakeup = asyncio.Event()
        self._live_inflight: set[int] = set()  # seqs sent on pos, awaiting PUBACK
        self._untaken = asyncio.Event()  # a PUBACK said no subscriber took a fix: send again later
        self.last_error = ""
        self.sent = 0  # fixes acknowledged by the broker, since start
        self.untaken = 0  # fixes the broker had no subscriber for (kept and sent again), since start
        self.sessions = 0

    @property
    def connected(self) -> bool:
        return self.connection is not None and self.connection.connected

    def remember_latest(self, latest: tuple[int, Fix] | None) -> None:
        """At start: the newest fix in the outbox (so a session sends it on pos)."""
        self._latest = latest

    # -- live fixes

    def live(self, entries: Sequence[tuple[int, Fix]]) -> None:
        """Fixes just committed to the outbox: out on ``pos`` now if connected."""
        if not entries:
            return
        self._latest = entries[-1]
        if self._ready:
            for seq, fix in entries:
                self._send_pos(seq, fix)

    def _send_pos(self, seq: int, fix: Fix) -> None:
        assert self.connection is not None
        payload = encode_fix(WireFix(self.unit, seq, fix))
        future = self.connection.publish(self._pos_topic, payload, qos=1, retain=True, require_subscriber=True)
        self._live_inflight.add(seq)

        def done(f: asyncio.Future[None]) -> None:
            self._live_inflight.discard(seq)
            self._acknowledged(f, (seq,), pos=True)

        future.add_done_callback(done)

    def _acknowledged(self, future: asyncio.Future[None], seqs: Sequence[int], *, pos: bool = False) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            if isinstance(error, NoSubscribersError):
                self._not_taken(len(seqs))
            elif isinstance(error, PublishRefusedError) and self.connection is not None:
                self.last_error = str(error)
                log.error("%s; reconnecting", error)
                self.connection.abort(error)
            return
        if pos:
            self._pos_acked = max(self._pos_acked, seqs[-1])
        self._acked.extend(seqs)
        self.sent += len(seqs)
        if len(self._acked) >= ACK_FLUSH_COUNT:
            self._ack_wakeup.set()

    def _not_taken(self, count: int) -> None:
        """The broker had no subscriber for ``count`` fixes: they stay in the outbox."""
        self.untaken += count
        if not self._untaken.is_set():
            log.warning(
                "broker: no subscriber took %d fix(es) (has the broker lost the collector's session?); "
                "they stay in the outbox and go again after a pause", count,
            )  # fmt: skip
            self._untaken.set()

    async def flush_acks(self) -> None:
        """Delete acknowledged fixes from the outbox now (one transaction)."""
        if not self._acked:
            return
        batch, self._acked = self._acked, []
        try:
            await self.outbox.ack(batch)
        except Exception as exc:  # disk trouble: the fixes will be sent again, nothing is lost
            log.error("outbox: cannot delete %d acknowledged fixes: %s", len(batch), exc)

    async def _ack_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ack_wakeup.wait(), ACK_FLUSH_S)
            self._ack_wakeup.clear()
            await self.flush_acks()

    # -- sessions

    def _connection(self) -> MqttConnection:
        will = Will(self._state_topic, encode_state(UnitState.OFFLINE), qos=1, retain=True)
        return MqttConnection(self.settings, will=will)

    async def run(self, stopping: asyncio.Event) -> None:
        """Sessions until ``stopping`` is set; never raises for network trouble."""
        backoff = Backoff(self.settings.backoff_initial_s, self.settings.backoff_max_s)
        ack_task = asyncio.create_task(self._ack_loop())
        try:
            while not stopping.is_set():
                connection = await connect_with_retry(self._connection, backoff, stopping, self._failed)
                if connection is None:
                    return
                self.connection = connection
                self.sessions += 1
                self.last_error = ""
                log.info("connected to %s as %s", self.settings.url, connection.client_id)
                reason = await self._session(connection, stopping)
                if stopping.is_set():
                    return  # shutdown() sends what is still decided, then ends the session cleanly
                self._ready = False
                self.connection = None
                self.last_error = str(reason)
                delay = backoff.next_delay()
                log.warning("%s; reconnecting in %.1f s", reason, delay)
                self._on_change()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
        finally:
            ack_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ack_task

    def _failed(self, exc: Exception, delay: float) -> None:
        message = str(exc)
        if message != self.last_error:
            log.warning("broker: %s; retrying in %.1f s", message, delay)
        else:
            log.debug("broker: %s; retrying in %.1f s", message, delay)
        self.last_error = message
        self._on_change()

    async def _session(self, connection: MqttConnection, stopping: asyncio.Event) -> MqttError:
        connection.publish(self._state_topic, encode_state(UnitState.ONLINE), qos=1, retain=True)
        await self.flush_acks()  # so nothing already acknowledged is read back as backlog
        # From here to _ready = True there is no await: no fix can slip between
        # the backlog (seq < floor) and the live stream (seq >= floor).
        latest = self._latest
        if latest is not None and latest[0] > self._pos_acked:
            floor = latest[0]
            self._ready = True
            self._send_pos(*latest)
        else:
            floor = self.outbox.last_seq + 1
            self._ready = True
        self._on_change()
        deliver = asyncio.create_task(self._deliver(connection, floor))
        stop_wait = asyncio.create_task(stopping.wait())
        try:
            await asyncio.wait((connection.closed, stop_wait, deliver), return_when=asyncio.FIRST_COMPLETED)
            if deliver.done() and not deliver.cancelled() and (error := deliver.exception()) is not None:
                # An unreadable outbox row, say: live fixes keep going out until the session ends.
                log.error("backlog drain failed: %s", error)
                await asyncio.wait((connection.closed, stop_wait), return_when=asyncio.FIRST_COMPLETED)
        finally:
            deliver.cancel()
            stop_wait.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # its error is logged above
                await deliver
        if connection.closed.done():
            return connection.closed.result()
        return ConnectionLostError("stopping")

    async def _deliver(self, connection: MqttConnection, floor: int) -> None:
        """The backlog below ``floor``, then, whenever the broker says no subscriber
        took a fix, everything still in the outbox again after a growing pause."""
        backoff = Backoff(self.settings.backoff_initial_s, self.settings.backoff_max_s)
        self._untaken.clear()
        while not connection.closed.done():
            complete = await self._drain(connection, floor)
            if complete and not self._untaken.is_set():
                backoff.reset()
                if not await _until(self._untaken.wait(), connection.closed):
                    return
            delay = backoff.next_delay()
            log.info("sending the fixes no subscriber took again in %.1f s", delay)
            if not await _until(asyncio.sleep(delay), connection.closed):
                return
            self._untaken.clear()
            await self.flush_acks()  # what was taken meanwhile is not sent again
            floor = (self._latest[0] if self._latest is not None else self.outbox.last_seq) + 1

    async def _drain(self, connection: MqttConnection, floor: int) -> bool:
        """Send every fix with seq < floor on ``track``, oldest first, but those on
        their way on ``pos``; False if a PUBACK said no subscriber took one (the
        rest is not sent: the next try starts again from the oldest)."""
        window = asyncio.Semaphore(self.settings.max_inflight)
        cursor = 0
        while not connection.closed.done() and not self._untaken.is_set():
            rows = [(s, f) for s, f in await self.outbox.after(cursor, self.batch_size) if s < floor]
            if not rows:
                break
            cursor = rows[-1][0]
            rows = [(s, f) for s, f in rows if s not in self._live_inflight]
            if not rows:
                continue
            payload = encode_track(self.unit, [WireFix(self.unit, s, f) for s, f in rows])
            await window.acquire()
            if connection.closed.done() or self._untaken.is_set():
                window.release()
                break
            seqs = [s for s, _f in rows]
            future = connection.publish(self._track_topic, payload, qos=1, require_subscriber=True)

            def done(f: asyncio.Future[None], seqs: list[int] = seqs) -> None:
                window.release()
                self._acknowledged(f, seqs)

            future.add_done_callback(done)
        # Wait for the last PUBACKs, so "drained" means acknowledged.
        for _ in range(self.settings.max_inflight):
            await window.acquire()
        complete = not connection.closed.done() and not self._untaken.is_set()
        if complete and self.outbox.count:
            log.info("backlog drained")
        self._on_change()
        return complete

    def publish_extra(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = True) -> None:
        """Diagnostics and the like: best effort, only while connected."""
        if self.connected and self.connection is not None:
            future = self.connection.publish(topic, payload, qos=qos, retain=retain)
            future.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def shutdown(self, timeout: float = 2.0) -> None:
        """Clean end: wait briefly for PUBACKs, flush them, publish ``offline``, disconnect."""
        connection = self.connection
        self._ready = False
        if connection is not None and connection.connected:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while connection.in_flight and loop.time() < deadline - 0.5 and connection.connected:
                await asyncio.sleep(0.02)
            offline = connection.publish(self._state_topic, encode_state(UnitState.OFFLINE), qos=1, retain=True)
            with contextlib.suppress(TimeoutError, MqttError):
                await asyncio.wait_for(offline, max(0.1, deadline - loop.time()))
            await self.flush_acks()
            await connection.disconnect(timeout=0.5)
        else:
            await self.flush_acks()
        self.connection = None
