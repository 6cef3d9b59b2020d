"""``activecalls-collector run``: the collector's shells wired together.

broker (persistent session, manual acks) -> :class:`~collector.ingest.Ingest`
-> :class:`~collector.fleet.FleetState` / :class:`~collector.incidents.IncidentBook`
-> :class:`~collector.store.WriteBatch` -> ``Store.write`` (one await per batch)
-> acknowledgements. Beside it the ETA loop asks the
:class:`~collector.recompute.RecomputePlanner` what is due, computes it with
the :class:`~collector.eta.EtaEngine` and publishes the reports that changed.

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
from dataclasses import dataclass, field
from functools import partial
from typing import Final

from collector.config import CollectorConfig
from collector.eta import EtaEngine
from collector.fleet import FleetState
from collector.incidents import IncidentBook, IncidentChange
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
from collector.recompute import RecomputePlanner, report_changed
from collector.router import OsrmRouter, Router, route_in_thread
from collector.store import Store, StoreError, WriteBatch
from collector.web.run import RunningSite, start_public_site
from common.backoff import Backoff
from common.mqtt import Delivery, MqttConnection, MqttError, connect_with_retry
from common.sdnotify import Notifier, watchdog_interval
from common.tomlconfig import ConfigError
from common.wire import EtaReport, Incident, IncidentStatus, TopicKind, Topics, encode_eta

__all__ = ["CollectorService", "Periodic", "ServiceCounters", "run", "subscriptions"]

log = logging.getLogger("collector")

TICK_S: Final = 1.0
STATS_EVERY_S: Final = 60.0
SUBSCRIBED_KINDS: Final = (TopicKind.POS, TopicKind.TRACK, TopicKind.STATE, TopicKind.STATUS)


def subscriptions(topics: Topics, shared_group: str | None = None) -> list[str]:
    """The topic filters the collector subscribes to (as a shared subscription with a group)."""
    filters = [topics.unit_filter(kind) for kind in SUBSCRIBED_KINDS] + [topics.incidents_filter]
    return [f"$share/{shared_group}/{f}" for f in filters] if shared_group else filters


@dataclass
class ServiceCounters:
    batches: int = 0
    fixes_stored: int = 0
    duplicates: int = 0
    acked: int = 0
    store_errors: int = 0
    eta_rounds: int = 0
    eta_published: int = 0
    publish_errors: int = 0
    sessions: int = 0


@dataclass
class Periodic:
    """``fn(now)`` every ``interval_s``; an exception is logged and the next run comes anyway."""

    name: str
    interval_s: float
    fn: Callable[[float], Awaitable[None]]
    first_after_s: float = 0.0


@dataclass
class _Pending:
    batch: WriteBatch = field(default_factory=WriteBatch)
    acks: list[tuple[MqttConnection, int, int]] = field(default_factory=list)


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
        e = config.eta
        self.engine = EtaEngine(e.model, e.policy)
        self.planner = RecomputePlanner(e.min_interval_s, e.refresh_s)
        r = config.router
        self.router = router or (
            OsrmRouter(r.osrm_url, profile=r.profile, timeout_s=r.timeout_s, max_table_size=r.max_table_size)
            if r.osrm_url
            else None
        )
        self.counters = ServiceCounters()
        self.stopping = asyncio.Event()
        self.connection: MqttConnection | None = None
        self.subscribed = asyncio.Event()  # set while subscribed (tests and check wait on it)
        self.published: dict[str, EtaReport] = {}  # the last ETA report published per incident
        self.periodic: list[Periodic] = [
            Periodic("retention", config.store.prune_every_s, self._prune, first_after_s=5.0),
            Periodic("stats", STATS_EVERY_S, self._log_stats, first_after_s=STATS_EVERY_S),
        ]
        self._store: Store | None = None
        self.public_feed: PublicPublisher | None = None
        self.site: RunningSite | None = None  # the public site ([web]), once started
        self._pending = _Pending()
        self._wake_writer = asyncio.Event()
        self._wake_eta = asyncio.Event()
        # A moving fleet changes something every few ms: the ETA loop takes note once
        # per round (not per message), and is woken for it only from a long sleep.
        self._fleet_dirty = False
        self._eta_idle = False
        self._reject_log = RateLimitedLog()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the store is opened by run()")
        return self._store

    # -- output ------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """Publish at QoS 1 if connected (False if not: the caller's next round
        will bring it again); a broker refusal is logged, never raised."""
        connection = self.connection
        if connection is None or not connection.connected:
            return False
        future = connection.publish(topic, payload, qos=1, retain=retain)
        future.add_done_callback(self._published_done)
        return True

    def _published_done(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.counters.publish_errors += 1
            if self._reject_log.admit("publish", self.clock()) is not None:
                log.warning("publish failed: %s", future.exception())

    # -- input: called by paho on the loop thread, one message at a time ---------

    def _on_delivery(self, connection: MqttConnection, delivery: Delivery) -> None:
        now = self.clock()
        try:
            self._apply(self.ingest.receive(delivery.topic, delivery.payload, now), now)
        except Exception:  # a bug here must not stop the ingest; the message is still acked after the batch
            log.exception("internal error handling a message on %s", delivery.topic[:200])
        self._pending.acks.append((connection, delivery.mid, delivery.qos))
        self._wake_writer.set()

    def _apply(self, event: Event, now: float) -> None:
        batch = self._pending.batch
        if isinstance(event, FixesReceived):
            outcome = self.fleet.apply_fixes(event.unit, event.fixes, event.received)
            batch.add_fixes(outcome.new, event.received)
            self.counters.duplicates += outcome.duplicates
            if outcome.moved:
                self._fleet_changed()
        elif isinstance(event, StateReceived):
            if self.fleet.apply_state(event.unit, event.state, event.received):
                batch.states.append((event.unit, event.state, event.received))
                self._fleet_changed()
        elif isinstance(event, StatusReceived):
            if self.fleet.apply_status(event.unit, event.status, event.received):
                batch.statuses.append((event.unit, event.status, event.received))
                self._fleet_changed()
        elif isinstance(event, IncidentReceived):
            change = self.incidents.apply(event.incident, event.received)
            if change.affects_etas:
                batch.incidents.append((event.incident, event.received))
                self._incident_changed(event.incident.id, change)
        elif isinstance(event, IncidentCleared):
            change = self.incidents.clear(event.incident_id)
            batch.cleared_incidents.append((event.incident_id, event.received))
            self._incident_changed(event.incident_id, change)
        elif isinstance(event, Rejected):
            held_back = self._reject_log.admit(f"{event.reason}:{event.topic}", now)
            if held_back is not None:
                more = f" ({held_back} more since the last line)" if held_back else ""
                log.warning("rejected (%s) on %s: %s%s", event.reason, event.topic, event.detail, more)

    def _fleet_changed(self) -> None:
        self._fleet_dirty = True
        if self._eta_idle:
            self._eta_idle = False
            self._wake_eta.set()

    def _incident_changed(self, incident_id: str, change: IncidentChange) -> None:
        if change in (IncidentChange.CLOSED, IncidentChange.REMOVED):
            self.planner.incident_closed(incident_id)
            self.engine.forget(incident_id)
            if self.published.pop(incident_id, None) is not None or change is IncidentChange.CLOSED:
                self.publish(self.topics.eta(incident_id), b"", retain=True)  # delete the retained ETAs
        elif change.affects_etas:
            self.planner.incident_changed(incident_id)
            self._wake_eta.set()

    # -- the loops ------------------------------------------------------------

    async def _writer(self) -> None:
        """Commit what arrived, then acknowledge it: one transaction per wake-up."""
        backoff = Backoff(0.2, 10.0)
        while True:
            if not self._pending.acks and not self._pending.batch:
                if self.stopping.is_set():
                    return
                waiter = asyncio.create_task(self._wake_writer.wait())
                stopper = asyncio.create_task(self.stopping.wait())
                await asyncio.wait((waiter, stopper), return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            self._wake_writer.clear()
            pending, self._pending = self._pending, _Pending()
            while pending.batch:
                try:
                    result = await self.store.write(pending.batch)
                except (sqlite3.Error, OSError) as exc:
                    # Nothing of this batch is acknowledged: retry it (messages behind it wait,
                    # and the broker stops sending once receive_maximum are unacknowledged).
                    self.counters.store_errors += 1
                    log.error("database write failed, retrying: %s", exc)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), backoff.next_delay())
                    if self.stopping.is_set():
                        return
                    continue
                backoff.reset()
                self.counters.batches += 1
                self.counters.fixes_stored += result.fixes_inserted
                break
            for connection, mid, qos in pending.acks:
                connection.ack(mid, qos)  # a no-op for an ended session: the broker sends it again
            self.counters.acked += len(pending.acks)

    async def _eta_loop(self) -> None:
        while not self.stopping.is_set():
            self._take_fleet_changes()
            now = self.clock()
            due = self.planner.due(now)
            if due:
                await self._recompute(due, now)
            self._take_fleet_changes()  # those that came while a router was asked
            next_due = self.planner.next_due()
            now = self.clock()
            wait = TICK_S if next_due is None else min(TICK_S, max(0.0, next_due - now))
            # Idle: incidents to watch and nothing pending but the periodic refresh.
            self._eta_idle = next_due is not None and next_due - now > self.planner.min_interval_s
            self._wake_eta.clear()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake_eta.wait(), wait)

    def _take_fleet_changes(self) -> None:
        if self._fleet_dirty:
            self._fleet_dirty = False
            self.planner.fleet_changed()

    async def _recompute(self, due: list[str], now: float) -> None:
        incidents: list[Incident] = []
        for incident_id in due:
            incident = self.incidents.get(incident_id)
            if incident is None or incident.status is not IncidentStatus.OPEN:
                self.planner.incident_closed(incident_id)
            else:
                incidents.append(incident)
        if not incidents:
            return
        table = self.fleet.table(now)
        routes = None
        if self.router is not None:
            routes = await route_in_thread(self.router, self.engine.route_requests(table, incidents))
        reports = self.engine.reports(table, incidents, routes)
        self.planner.computed([i.id for i in incidents], now)
        self.counters.eta_rounds += 1
        tolerance = self.config.eta.eta_tolerance_s
        for report in reports:
            if self.incidents.get(report.incident) is None:
                continue  # closed while the router was asked
            if report_changed(self.published.get(report.incident), report, eta_tolerance_s=tolerance) and self.publish(
                self.topics.eta(report.incident), encode_eta(report), retain=True
            ):
                self.published[report.incident] = report
                self.counters.eta_published += 1

    async def _connection_loop(self) -> None:
        settings = self.config.mqtt
        backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        filters = subscriptions(self.topics, self.config.ingest.shared_group)

        def make() -> MqttConnection:
            holder: list[MqttConnection] = []
            connection = MqttConnection(
                settings,
                on_delivery=lambda d: self._on_delivery(holder[0], d),
                session_expiry_s=self.config.ingest.session_expiry_s,
                receive_maximum=self.config.ingest.receive_maximum,
            )
            holder.append(connection)
            return connection

        def failed(exc: Exception, delay: float) -> None:
            log.warning("broker: %s; retrying in %.1f s", exc, delay)
            self._status(f"broker unreachable: {exc}")

        while not self.stopping.is_set():
            connection = await connect_with_retry(make, backoff, self.stopping, failed)
            if connection is None:
                return
            self.connection = connection
            self.counters.sessions += 1
            try:
                for topic_filter in filters:
                    await connection.subscribe(topic_filter, 1)
            except MqttError as exc:
                log.error("broker: %s", exc)
                connection.abort(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), backoff.next_delay())
                continue
            log.info("connected to %s as %s; subscribed to %s", settings.url, settings.client_id, ", ".join(filters))
            self.subscribed.set()
            self._status()
            stopper = asyncio.create_task(self.stopping.wait())
            await asyncio.wait((connection.closed, stopper), return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            self.subscribed.clear()
            if not self.stopping.is_set():
                log.warning("%s", connection.closed.result())
                self._status()

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
        connected = self.connection is not None and self.connection.connected
        line = text or (
            f"{'connected' if connected else 'not connected'}; {len(self.fleet)} units, "
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
        for incident in self.incidents.open():
            self.planner.incident_changed(incident.id)
        log.info("store %s: %d units, %d open incidents", c.path, len(self.fleet), len(self.incidents.open()))
        p = self.config.public
        if p.enabled:  # after the restore: the feed reads the store and the live state
            public = PublicPublisher.start(p, self.topics, live_source(self.store, self.fleet, self.incidents))
            self.public_feed = public
            self.periodic.append(Periodic("public", p.publish_every_s, partial(self._public, public)))
            if self.config.web.enabled:
                self.site = await start_public_site(self.config, public)

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
        except ConfigError as exc:  # the public feed's secret, the public site's address
            log.error("%s", exc)
            if self.public_feed is not None:
                self.public_feed.close()
            if self._store is not None:
                await self._store.close()
            return 2
        except (StoreError, sqlite3.Error, OSError, ValueError) as exc:
            log.error("store %s: %s", self.config.store.path, exc)
            return 1
        tasks = [
            asyncio.create_task(self._connection_loop(), name="connection"),
            asyncio.create_task(self._writer(), name="writer"),
            asyncio.create_task(self._eta_loop(), name="eta"),
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
        if self.site is not None:
            await self.site.stop()
        if self.public_feed is not None:
            self.public_feed.close()
        if self.connection is not None:
            await self.connection.disconnect()
        if self._store is not None:
            await self._store.close()
        log.info("stopped: %s", self.stats_line())
        self.notifier.close()


def run(config: CollectorConfig, *, log_level: str = "INFO") -> int:
    """Configure logging once and run the collector until SIGTERM; the exit status."""
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    return asyncio.run(CollectorService(config).run())
