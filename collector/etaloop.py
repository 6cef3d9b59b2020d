"""The ETA loop: recompute what the planner says is due, publish what changed.

:class:`EtaPublisher` owns the ETA engine (with its distance cache), the
:class:`~collector.recompute.RecomputePlanner`, the optional road router and
the last report published per incident. The service tells it what happened
(:meth:`fleet_changed`, :meth:`incident_changed`); its task
(:meth:`run`) asks the planner what is due, computes those incidents (the
router, which blocks, in a worker thread), and publishes each report that
changed, retained. A closed or withdrawn incident's retained ETAs are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Final

from collector.config import EtaSettings
from collector.counters import ServiceCounters
from collector.eta import EtaEngine, FloatArray
from collector.fleet import FleetState
from collector.incidents import IncidentBook, IncidentChange
from collector.recompute import RecomputePlanner, report_changed
from collector.router import Router, route_in_thread, router_candidates
from common.wire import EtaReport, Incident, IncidentStatus, Topics, encode_eta

__all__ = ["TICK_S", "EtaPublisher", "LearnedFactors", "Publish"]

TICK_S: Final = 1.0

# publish(topic, payload, retain) -> False when not connected (the next round brings it again)
Publish = Callable[[str, bytes, bool], bool]
# learned(units, now) -> per unit, how much slower than the model it drives (collector.learn)
LearnedFactors = Callable[[tuple[str, ...], float], FloatArray]


class EtaPublisher:
    def __init__(
        self,
        settings: EtaSettings,
        topics: Topics,
        fleet: FleetState,
        incidents: IncidentBook,
        publish: Publish,
        counters: ServiceCounters,
        *,
        router: Router | None = None,
        learned: LearnedFactors | None = None,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.fleet = fleet
        self.incidents = incidents
        self.publish = publish
        self.counters = counters
        self.router = router
        self.learned = learned
        self.clock = clock
        self.engine = EtaEngine(settings.model, settings.policy)
        self.planner = RecomputePlanner(settings.min_interval_s, settings.refresh_s)
        self.published: dict[str, EtaReport] = {}  # the last ETA report published per incident
        self.listeners: list[Callable[[EtaReport], None]] = []  # told each report published (the board)
        self._wake = asyncio.Event()
        # A moving fleet changes something every few ms: the loop takes note once
        # per round (not per message), and is woken for it only from a long sleep.
        self._fleet_dirty = False
        self._idle = False

    def watch_open_incidents(self) -> None:
        """After a restart: every open incident is due."""
        for incident in self.incidents.open():
            self.planner.incident_changed(incident.id)

    def fleet_changed(self) -> None:
        self._fleet_dirty = True
        if self._idle:
            self._idle = False
            self._wake.set()

    def incident_changed(self, incident_id: str, change: IncidentChange) -> None:
        if change in (IncidentChange.CLOSED, IncidentChange.REMOVED):
            self.planner.incident_closed(incident_id)
            self.engine.forget(incident_id)
            if self.published.pop(incident_id, None) is not None or change is IncidentChange.CLOSED:
                self.publish(self.topics.eta(incident_id), b"", True)  # delete the retained ETAs
        elif change.affects_etas:
            self.planner.incident_changed(incident_id)
            self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
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
            self._idle = next_due is not None and next_due - now > self.planner.min_interval_s
            self._wake.clear()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

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
        started = time.perf_counter()
        table = self.fleet.table(now)
        routes = None
        if self.router is not None:
            requests = self.engine.route_requests(table, incidents, nearest=router_candidates(self.router))
            routes = await route_in_thread(self.router, requests)
        learned = self.learned(table.units, now) if self.learned is not None else None
        reports = self.engine.reports(table, incidents, routes, learned=learned)
        self.planner.computed([i.id for i in incidents], now)
        self.counters.eta_rounds += 1
        self.counters.eta_seconds += time.perf_counter() - started
        tolerance = self.settings.eta_tolerance_s
        for report in reports:
            if self.incidents.get(report.incident) is None:
                continue  # closed while the router was asked
            if report_changed(self.published.get(report.incident), report, eta_tolerance_s=tolerance) and self.publish(
                self.topics.eta(report.incident), encode_eta(report), True
            ):
                self.published[report.incident] = report
                for listener in self.listeners:
                    listener(report)
                self.counters.eta_published += 1
