"""``activecalls-collector run``: the collector's shells wired together.

:class:`~collector.session.BrokerSession` (persistent session, manual acks)
-> :class:`~collector.ingest.Ingest` -> :class:`~collector.fleet.FleetState` /
:class:`~collector.incidents.IncidentBook` -> the
:class:`~collector.writer.StoreWriter`'s batch -> ``Store.write`` (one await
per batch) -> acknowledgements. Beside it the
:class:`~collector.etaloop.EtaPublisher` recomputes what its planner says is
due and publishes the reports that changed. This module only routes each
ingested event to the parts it concerns and runs the tasks.

Why the acks wait: the session is persistent (MQTT 5 session expiry, clean
start off) and paho acknowledges nothing by itself (``manual_ack``), so a
message is acknowledged only after the transaction holding it has committed.
SIGKILL at any moment then loses nothing the broker considers delivered;
what was received but not acknowledged comes again and the store's
``(unit, seq)`` key makes it count once.

Other periodic work (retention, the public feed) is a :class:`Periodic` in
:attr:`CollectorService.periodic`; it sees the service's ``fleet``,
``incidents``, ``store`` and :meth:`CollectorService.publish`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from collector.config import CollectorConfig
from collector.counters import ServiceCounters
from collector.etaloop import TICK_S, EtaPublisher
from collector.fleet import FleetState
from collector.incidents import IncidentBook
from collector.ingest import (
    Event,
    FixesReceived,
    IncidentCleared,
    IncidentReceived,
    Ingest,
    RateLimitedLog,
    Rejected,
    StateReceived,
    StatusReceived,
)
from collector.public.shell import PublicPublisher, live_source
from collector.router import OsrmRouter, Router
from collector.session import BrokerSession
from collector.store import Store, StoreError
from collector.writer import StoreWriter
from common.mqtt import Delivery, MqttConnection
from common.sdnotify import Notifier, watchdog_interval
from common.tomlconfig import ConfigError
from common.wire import Topics

__all__ = ["CollectorService", "Periodic", "run"]

log = logging.getLogger("collector")

STATS_EVERY_S = 60.0


@dataclass
class Periodic:
    """``fn(now)`` every ``interval_s``; an exception is logged and the next run comes anyway."""

    name: str
    interval_s: float
    fn: Callable[[float], Awaitable[None]]
    first_after_s: float = 0.0


class CollectorService:
    def __init__(
        self,
        config: CollectorConfig,
        *,
        notifier: Notifier | None = None,
        router: Router | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.notifier = notifier or Notifier()
        self.clock = clock
        self.topics = Topics(config.fleet)
        self.ingest = Ingest(self.topics)
        self.fleet = FleetState(config.staleness)
        self.incidents = IncidentBook()
        self.counters = ServiceCounters()
        self.stopping = asyncio.Event()
        self._reject_log = RateLimitedLog()
        self.session = BrokerSession(
            config,
            self.topics,
            self._on_delivery,
            self.counters,
            on_status=self._status,
            on_publish_error=self._publish_failed,
        )
        r = config.router
        self.eta = EtaPublisher(
            config.eta,
            self.topics,
            self.fleet,
            self.incidents,
            self.session.publish,
            self.counters,
            router=router
            or (
                OsrmRouter(r.osrm_url, profile=r.profile, timeout_s=r.timeout_s, max_table_size=r.max_table_size)
                if r.osrm_url
                else None
            ),
            clock=clock,
        )
        self.writer = StoreWriter(self.counters)
        self.periodic: list[Periodic] = [
            Periodic("retention", config.store.prune_every_s, self._prune, first_after_s=5.0),
            Periodic("stats", STATS_EVERY_S, self._log_stats, first_after_s=STATS_EVERY_S),
        ]
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the store is opened by run()")
        return self._store

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """Publish at QoS 1 if connected; False if not (see :meth:`BrokerSession.publish`)."""
        return self.session.publish(topic, payload, retain)

    def _publish_failed(self, exc: BaseException) -> None:
        if self._reject_log.admit("publish", self.clock()) is not None:
            log.warning("publish failed: %s", exc)

    # -- input: called by paho on the loop thread, one message at a time ---------

    def _on_delivery(self, connection: MqttConnection, delivery: Delivery) -> None:
        now = self.clock()
        try:
            self._apply(self.ingest.receive(delivery.topic, delivery.payload, now), now)
        except Exception:  # a bug here must not stop the ingest; the message is still acked after the batch
            log.exception("internal error handling a message on %s", delivery.topic[:200])
        self.writer.hold_ack(connection, delivery.mid, delivery.qos)

    def _apply(self, event: Event, now: float) -> None:
        batch = self.writer.batch
        if isinstance(event, FixesReceived):
            outcome = self.fleet.apply_fixes(event.unit, event.fixes, event.received)
            batch.add_fixes(outcome.new, event.received)
            self.counters.duplicates += outcome.duplicates
            if outcome.moved:
                self.eta.fleet_changed()
        elif isinstance(event, StateReceived):
            if self.fleet.apply_state(event.unit, event.state, event.received):
                batch.states.append((event.unit, event.state, event.received))
                self.eta.fleet_changed()
        elif isinstance(event, StatusReceived):
            if self.fleet.apply_status(event.unit, event.status, event.received):
                batch.statuses.append((event.unit, event.status, event.received))
                self.eta.fleet_changed()
        elif isinstance(event, IncidentReceived):
            change = self.incidents.apply(event.incident, event.received)
            if change.affects_etas:
                batch.incidents.append((event.incident, event.received))
                self.eta.incident_changed(event.incident.id, change)
        elif isinstance(event, IncidentCleared):
            change = self.incidents.clear(event.incident_id)
            batch.cleared_incidents.append((event.incident_id, event.received))
            self.eta.incident_changed(event.incident_id, change)
        elif isinstance(event, Rejected):
            held_back = self._reject_log.admit(f"{event.reason}:{event.topic}", now)
            if held_back is not None:
                more = f" ({held_back} more since the last line)" if held_back else ""
                log.warning("rejected (%s) on %s: %s%s", event.reason, event.topic, event.detail, more)

    # -- periodic work ------------------------------------------------------------

    async def _run_periodic(self, task: Periodic) -> None:
        delay = task.first_after_s
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if self.stopping.is_set():
                return
            try:
                await task.fn(self.clock())
            except Exception:
                log.exception("%s failed; trying again in %g s", task.name, task.interval_s)
            delay = task.interval_s

    async def _prune(self, now: float) -> None:
        cutoff = now - self.config.store.retention_days * 86400
        deleted = await self.store.prune(cutoff)
        forgotten = self.incidents.prune_closed(now, self.config.eta.keep_closed_s)
        if deleted or forgotten:
            log.info("retention: %d history rows deleted, %d closed incidents forgotten", deleted, len(forgotten))

    async def _log_stats(self, _now: float) -> None:
        log.info("%s", self.stats_line())

    def stats_line(self) -> str:
        s, c = self.ingest.stats, self.counters
        rejected = " ".join(f"{reason}={n}" for reason, n in sorted(s.rejected.items()) if n)
        return (
            f"messages={s.messages} fixes_stored={c.fixes_stored} duplicates={c.duplicates} acked={c.acked} "
            f"batches={c.batches} rejected={s.rejected_total}{' (' + rejected + ')' if rejected else ''} "
            f"eta_published={c.eta_published} store_errors={c.store_errors} publish_errors={c.publish_errors}"
        )

    def _status(self, text: str | None = None) -> None:
        line = text or (
            f"{'connected' if self.session.connected else 'not connected'}; {len(self.fleet)} units, "
            f"{len(self.incidents.open())} open incidents, {self.ingest.stats.messages} messages, "
            f"{self.ingest.stats.rejected_total} rejected"
        )
        self.notifier.status(line)

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Open the store and rebuild the state from it (before any message)."""
        c = self.config.store
        self._store = await Store.open(c.path, synchronous=c.synchronous)
        snapshot = await self._store.snapshot(now=self.clock())
        snapshot.restore(self.fleet, self.incidents)
        self.eta.watch_open_incidents()
        log.info("store %s: %d units, %d open incidents", c.path, len(self.fleet), len(self.incidents.open()))
        p = self.config.public
        if p.enabled:  # after the restore: the feed reads the store and the live state
            public = PublicPublisher.start(p, self.topics, live_source(self.store, self.fleet, self.incidents))
            self.periodic.append(Periodic("public", p.publish_every_s, partial(self._public, public)))

    async def _public(self, publisher: PublicPublisher, now: float) -> None:
        for topic, payload in await publisher.tick(dt.datetime.fromtimestamp(now, dt.UTC)):
            self.publish(topic, payload, retain=True)

    async def run(self, *, handle_signals: bool = True) -> int:
        """Until SIGTERM/SIGINT (or ``stopping`` is set); the exit status.
        ``handle_signals=False``: for a loop outside the main thread (tests)."""
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stopping.set)
        try:
            await self.start()
        except ConfigError as exc:  # the public feed's secret
            log.error("%s", exc)
            if self._store is not None:
                await self._store.close()
            return 2
        except (StoreError, sqlite3.Error, OSError, ValueError) as exc:
            log.error("store %s: %s", self.config.store.path, exc)
            return 1
        tasks = [
            asyncio.create_task(self.session.run(self.stopping), name="connection"),
            asyncio.create_task(self.writer.run(self.store, self.stopping), name="writer"),
            asyncio.create_task(self.eta.run(self.stopping), name="eta"),
            *(asyncio.create_task(self._run_periodic(p), name=p.name) for p in self.periodic),
        ]
        self.notifier.ready("started; connecting to the broker")
        log.info("collector of fleet %s running (config %s)", self.config.fleet, self.config.path)
        try:
            interval = min(TICK_S, watchdog_interval() or TICK_S)
            tick = 0
            while not self.stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), interval)
                self.notifier.watchdog()
                tick += 1
                if tick % 5 == 0:
                    self._status()
                crashed = [t for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
                if crashed:  # a bug: let systemd restart us rather than run half-alive
                    raise crashed[0].exception()  # type: ignore[misc]
        finally:
            await self._shutdown(tasks)
        return 0

    async def _shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        self.stopping.set()
        self.notifier.stopping()
        # The writer commits and acknowledges what has arrived, then returns.
        writer = next(t for t in tasks if t.get_name() == "writer")
        with contextlib.suppress(TimeoutError, Exception):
            await asyncio.wait_for(asyncio.shield(writer), 3.0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.session.disconnect()
        if self._store is not None:
            await self._store.close()
        log.info("stopped: %s", self.stats_line())
        self.notifier.close()


def run(config: CollectorConfig, *, log_level: str = "INFO") -> int:
    """Configure logging once and run the collector until SIGTERM; the exit status."""
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    return asyncio.run(CollectorService(config).run())
