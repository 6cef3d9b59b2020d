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
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import psycopg

from collector.arrivals import Arrival, ArrivalDetector
from collector.config import CollectorConfig
from collector.counters import ServiceCounters
from collector.deadletters import DeadLetter
from collector.dispatch.run import RunningDispatch, start_dispatch
from collector.etaloop import TICK_S, EtaPublisher
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
from collector.leader import AdvisoryLeader, Leadership, SoleLeader, lock_key, runs_here
from collector.learn import FleetLearner, ModelReference
from collector.public.shell import PublicPublisher, live_source
from collector.router import Router, configured_router
from collector.session import BrokerSession
from collector.store import StoreError
from collector.storeapi import CollectorStore, open_store
from collector.web.run import RunningSite, start_public_site
from collector.writer import StoreWriter
from common.fix import Fix
from common.logsafe import escaped
from common.mqtt import Delivery, MqttConnection
from common.sdnotify import Notifier, watchdog_interval
from common.tomlconfig import ConfigError
from common.wire import MAX_SEQ_JUMP, TopicKind, Topics, WireFix

__all__ = ["CollectorService", "Periodic", "run"]

log = logging.getLogger("collector")

STATS_EVERY_S = 60.0
DEAD_LETTER_REPLAY_S = 10.0  # how soon a replay asked for on the command line happens
# The learner's factors move over minutes; its cost is mostly per unit and per call
# (numpy, geodesics), so a lesson every few seconds costs a fraction of one a second.
TEACH_EVERY_S = 5.0


def _one_line(exc: BaseException) -> str:
    return escaped(f"{type(exc).__name__}: {exc}", 500)


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
        self.ingest = Ingest(self.topics, config.ingest.fix_time)
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
        # Learning from the fleet and measuring arrivals (docs/eta.md): fed from the events below.
        self.learner = FleetLearner(ModelReference(config.eta.model))
        self.arrivals = ArrivalDetector()
        self._to_learn: dict[str, list[Fix]] = {}
        # Several collectors on one PostgreSQL: the one holding the lock publishes ETAs,
        # ticks the public feed and prunes (collector.leader); on SQLite, this one.
        self.leader: Leadership = (
            AdvisoryLeader(config.store.url, lock_key(config.fleet), on_change=self._leadership_changed)
            if config.store.url is not None
            else SoleLeader()
        )
        # In a shared group, this collector stores its share of the positions and sees
        # all of them (QoS 0, not stored) on a second connection for its fleet state.
        self.shared = config.ingest.shared_group is not None
        self.view_session = (
            BrokerSession(config, self.topics, self._on_view_delivery, self.counters, view=True)
            if self.shared
            else None
        )
        self.eta = EtaPublisher(
            config.eta,
            self.topics,
            self.fleet,
            self.incidents,
            self._publish_eta,
            self.counters,
            # OSRM now; the road graph of [eta] osm is read in start(), off the event loop.
            router=router or (configured_router(config.router, None) if config.router.osrm_url else None),
            learned=self.learner.factors,
            clock=clock,
        )
        self.writer = StoreWriter(self.counters)
        self.periodic: list[Periodic] = [
            Periodic("retention", config.store.prune_every_s, self._prune, first_after_s=5.0),
            Periodic("stats", STATS_EVERY_S, self._log_stats, first_after_s=STATS_EVERY_S),
            Periodic("dead-letters", DEAD_LETTER_REPLAY_S, self._replay_dead_letters, first_after_s=1.0),
            Periodic("learn", TEACH_EVERY_S, self._teach, first_after_s=TEACH_EVERY_S),
        ]
        self._store: CollectorStore | None = None
        self.public_feed: PublicPublisher | None = None
        self.site: RunningSite | None = None  # the public site ([web]), once started
        self.dispatch: RunningDispatch | None = None  # the board and CAD API ([dispatch]), once started

    @property
    def store(self) -> CollectorStore:
        if self._store is None:
            raise RuntimeError("the store is opened by run()")
        return self._store

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """Publish at QoS 1 if connected; False if not (see :meth:`BrokerSession.publish`)."""
        return self.session.publish(topic, payload, retain)

    def _publish_eta(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """ETAs (and their deletion) only from the leader; False elsewhere, so that
        the ETA loop keeps them due and publishes them when this one leads."""
        return runs_here("eta", leader=self.leader.is_leader) and self.session.publish(topic, payload, retain)

    def _leadership_changed(self, leader: bool) -> None:
        self.eta.published.clear()  # as a new leader: everything is published afresh
        if leader:
            self.eta.watch_open_incidents()
            self.eta.fleet_changed()

    def _on_view_delivery(self, _connection: MqttConnection, delivery: Delivery) -> None:
        """A position from the fleet-view connection: the fleet state only (its
        shared-subscription copy, in this collector or another, is stored)."""
        now = self.clock()
        try:
            event = self.ingest.receive(delivery.topic, delivery.payload, now)
            if not isinstance(event, FixesReceived):
                return
            outcome = self.fleet.apply_fixes(event.unit, event.fixes, event.received)
            if outcome.moved:
                self.eta.fleet_changed()
            arrivals = self._learn(event.unit, outcome.new)
        except Exception:  # its stored copy is parked as a dead letter if it fails there too
            return
        if arrivals:
            self.writer.batch.arrivals += arrivals
            self.writer.wake()

    def _publish_failed(self, exc: BaseException) -> None:
        if self._reject_log.admit("publish", self.clock()) is not None:
            log.warning("publish failed: %s", exc)

    # -- input: called by paho on the loop thread, one message at a time ---------

    def _on_delivery(self, connection: MqttConnection, delivery: Delivery) -> None:
        now = self.clock()
        try:
            self._apply(self.ingest.receive(delivery.topic, delivery.payload, now), now)
        except Exception as exc:  # a bug: park the message rather than lose it or stop the ingest
            self._park(DeadLetter(delivery.topic, delivery.payload, now, _one_line(exc)), exc)
        # Acknowledged once the batch holding its effect, or the dead letter, is committed.
        self.writer.hold_ack(connection, delivery.mid, delivery.qos)

    def _park(self, letter: DeadLetter, exc: BaseException) -> None:
        self.counters.dead_letters += 1
        self.writer.batch.dead_letters.append(letter)
        if self._reject_log.admit("dead_letter", self.clock()) is not None:
            # The traceback's frames are our code; the message (which may quote what the
            # sender wrote) only as the escaped line above them.
            frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
            log.error(
                "internal error applying a message on %s, kept as a dead letter "
                "(activecalls-collector dead-letters lists them): %s\n%s",
                escaped(letter.topic), letter.error, frames,
            )  # fmt: skip

    def _apply(self, event: Event, now: float, *, replay: bool = False) -> None:
        """Apply one ingested event to the state and the next write. ``replay``
        (a dead letter applied again): write what it carries even where the
        state says nothing changed, since its first try may have changed the
        state and failed before the write; the store's keys make it count once."""
        batch = self.writer.batch
        if isinstance(event, FixesReceived):
            outcome = self.fleet.apply_fixes(event.unit, event.fixes, event.received)
            # In a shared group the view connection may have applied these first: store
            # them all (the store's key counts each once).
            batch.add_fixes(event.fixes if replay or self.shared else outcome.new, event.received)
            self.counters.duplicates += outcome.duplicates
            if outcome.moved:
                self.eta.fleet_changed()
            batch.arrivals += self._learn(event.unit, outcome.new)
            for reason, detail in event.refused:
                self._log_rejection(reason, f"{TopicKind.TRACK.value} of {event.unit}", detail, now)
            for seq in outcome.seq_jumps:
                self.counters.seq_jumps += 1
                self._log_rejection("seq_jump", f"unit {event.unit}",
                                    f"seq jumped to {seq}, more than {MAX_SEQ_JUMP} from the span seen: "
                                    "flagged, not counted as missing", now)  # fmt: skip
        elif isinstance(event, StateReceived):
            if self.fleet.apply_state(event.unit, event.state, event.received) or replay:
                batch.states.append((event.unit, event.state, event.received))
                self.eta.fleet_changed()
        elif isinstance(event, StatusReceived):
            if self.fleet.apply_status(event.unit, event.status, event.received) or replay:
                batch.statuses.append((event.unit, event.status, event.received))
                self.eta.fleet_changed()
                batch.arrivals += self.arrivals.status(event.unit, event.status, event.received)
        elif isinstance(event, IncidentReceived):
            change = self.incidents.apply(event.incident, event.received)
            if change is IncidentChange.CONFLICT:
                self.counters.duplicate_incidents += 1
                current = self.incidents.get(event.incident.id)
                self._log_rejection("duplicate_id", f"incident {event.incident.id}",
                                    f"already open since {current.opened.isoformat() if current else '?'}; "
                                    f"refused a different incident opened {event.incident.opened.isoformat()}",
                                    now)  # fmt: skip
                return
            self.arrivals.incident(event.incident, event.received, self.eta.published.get(event.incident.id))
            if change.affects_etas or replay:
                batch.incidents.append((event.incident, event.received))
                self.eta.incident_changed(event.incident.id, change)
        elif isinstance(event, IncidentCleared):
            change = self.incidents.clear(event.incident_id)
            batch.cleared_incidents.append((event.incident_id, event.received))
            self.eta.incident_changed(event.incident_id, change)
        elif isinstance(event, Rejected):
            self._log_rejection(event.reason, event.topic, event.detail, now)

    def _learn(self, unit: str, fixes: tuple[WireFix, ...]) -> list[Arrival]:
        """New fixes may complete arrivals (at once), and are kept for the learner (every
        TEACH_EVERY_S, off the ingest path: :meth:`_teach`)."""
        if len(fixes) == 1:  # a live position: most messages
            fix = fixes[0].fix
            self._to_learn.setdefault(unit, []).append(fix)
            return self.arrivals.position(unit, fix)
        if not fixes:
            return []
        ordered = sorted((f.fix for f in fixes), key=lambda f: f.time)
        self._to_learn.setdefault(unit, []).extend(ordered)
        return [arrival for fix in ordered for arrival in self.arrivals.position(unit, fix)]

    async def _teach(self, _now: float) -> None:
        """The fixes since the last lesson to the learner, one batch per unit."""
        batches, self._to_learn = self._to_learn, {}
        for unit, fixes in batches.items():
            fixes.sort(key=lambda f: f.time)
            self.learner.observe(unit, np.array([f.time.timestamp() for f in fixes]),
                                 np.array([f.lat for f in fixes]), np.array([f.lon for f in fixes]))  # fmt: skip

    def _log_rejection(self, reason: str, where: str, detail: str, now: float) -> None:
        """One line per reason a minute: the key is ours, not the sender's, so no
        choice of topics gets past it; what the sender wrote is escaped."""
        held_back = self._reject_log.admit(reason, now)
        if held_back is not None:
            more = f" ({held_back} more since the last line)" if held_back else ""
            log.warning("rejected (%s) on %s: %s%s", reason, escaped(where), escaped(detail), more)

    async def _replay_dead_letters(self, now: float) -> None:
        """Apply again the dead letters ``dead-letters replay`` asked for."""
        for letter in await self.store.dead_letters(replay_only=True):
            assert letter.id is not None
            try:
                self._apply(self.ingest.receive(letter.topic, letter.payload, letter.received), now, replay=True)
            except Exception as exc:
                self.writer.batch.replay_failed.append((letter.id, _one_line(exc)))
                log.error("dead letter %d failed again: %s", letter.id, _one_line(exc))
                continue
            self.writer.batch.replayed.append(letter.id)
            self.counters.replayed += 1
            log.info("dead letter %d on %s applied", letter.id, escaped(letter.topic))
        self.writer.wake()

    # -- periodic work ------------------------------------------------------------

    async def _run_periodic(self, task: Periodic) -> None:
        delay = task.first_after_s
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            if self.stopping.is_set():
                return
            if not runs_here(task.name, leader=self.leader.is_leader):
                delay = min(task.interval_s, 1.0)  # look again soon: this one may become the leader
                continue
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
            f"eta_published={c.eta_published} store_errors={c.store_errors} publish_errors={c.publish_errors} "
            f"refused_fixes={sum(s.refused_fixes.values())} seq_jumps={c.seq_jumps} dead_letters={c.dead_letters}"
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
        self._store = await open_store(c)
        snapshot = await self._store.snapshot(now=self.clock())
        snapshot.restore(self.fleet, self.incidents)
        self.eta.watch_open_incidents()
        if self.shared and c.url is None:
            log.warning(
                "[ingest] shared_group without [store] url: this collector keeps only its share of the "
                "positions in its own SQLite file and publishes ETAs as if alone (docs/scale.md)"
            )
        log.info("store %s: %d units, %d open incidents", self._store.path, len(self.fleet), len(self.incidents.open()))
        await self._load_roads()
        p = self.config.public
        if p.enabled:  # after the restore: the feed reads the store and the live state
            public = PublicPublisher.start(p, self.topics, live_source(self.store, self.fleet, self.incidents))
            self.public_feed = public
            self.periodic.append(Periodic("public", p.publish_every_s, partial(self._public, public)))
            if self.config.web.enabled:
                self.site = await start_public_site(self.config, public)
        if self.config.dispatch.enabled:
            self.dispatch = await start_dispatch(self)

    async def _load_roads(self) -> None:
        """The road graph of ``[eta] osm`` (unless a router is already set): a failure is
        logged and the model stands in, so ETAs go on without the roads."""
        osm = self.config.eta.osm
        if self.eta.router is not None or osm is None:
            return
        from collector.roads.graph import RoadGraphError
        from collector.roads.router import RoadRouter

        try:
            router = await asyncio.to_thread(RoadRouter.from_osm, osm)
        except RoadGraphError as exc:
            log.error("road graph: %s; ETAs use the model", exc)
            return
        log.info("road graph %s: %s", osm, router.graph.describe())
        self.eta.router = router

    async def _public(self, publisher: PublicPublisher, now: float) -> None:
        published = False
        for topic, payload in await publisher.tick(dt.datetime.fromtimestamp(now, dt.UTC)):
            published = self.publish(topic, payload, retain=True) or published
        self.counters.public_snapshots += published

    async def run(self, *, handle_signals: bool = True) -> int:
        """Until SIGTERM/SIGINT (or ``stopping`` is set); the exit status.
        ``handle_signals=False``: for a loop outside the main thread (tests)."""
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stopping.set)
        try:
            await self.start()
        except ConfigError as exc:  # the public feed's secret, the sites' addresses, the board's certificate
            log.error("%s", exc)
            if self.site is not None:
                await self.site.stop()
            if self.public_feed is not None:
                self.public_feed.close()
            if self._store is not None:
                await self._store.close()
            return 2
        except (StoreError, sqlite3.Error, psycopg.Error, OSError, ValueError) as exc:
            log.error("store %s: %s", self._store.path if self._store else self.config.store.path, exc)
            return 1
        tasks = [
            asyncio.create_task(self.session.run(self.stopping), name="connection"),
            asyncio.create_task(self.writer.run(self.store, self.stopping), name="writer"),
            asyncio.create_task(self.eta.run(self.stopping), name="eta"),
            asyncio.create_task(self.leader.run(self.stopping), name="leader"),
            *([asyncio.create_task(self.view_session.run(self.stopping), name="view")] if self.view_session else []),
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
        if self.dispatch is not None:
            await self.dispatch.stop()
        if self.site is not None:
            await self.site.stop()
        if self.public_feed is not None:
            self.public_feed.close()
        await self.session.disconnect()
        if self.view_session is not None:
            await self.view_session.disconnect()
        if self._store is not None:
            await self._store.close()
        log.info("stopped: %s", self.stats_line())
        self.notifier.close()


def run(config: CollectorConfig, *, log_level: str = "INFO") -> int:
    """Configure logging once and run the collector until SIGTERM; the exit status."""
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    return asyncio.run(CollectorService(config).run())
