"""The change stream behind the board and the CAD API's ``/api/events`` (Server-Sent Events).

Events, each a JSON object on one ``data:`` line:

- ``eta``: an ETA report the collector published (with the board's why-not
  per row), pushed the moment it is published;
- ``incident``: an incident opened, changed or closed (checked every
  ``TICK_S``);
- ``units``: the units whose row changed (position, duty, link, stale):
  checked every ``TICK_S``, so a unit turns stale on the board within its
  threshold plus that;
- ``snapshot``: everything, first thing on every connection.

An event is encoded once and queued to every client. A client that does not
read (its queue full) is dropped rather than let it hold memory: its
browser's EventSource connects again and starts from a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any, Final

from collector.dispatch.board import (
    eta_json,
    incident_json,
    incident_signature,
    incidents_json,
    unit_json,
    units_changed,
)
from collector.etaloop import EtaPublisher
from collector.fleet import FleetState
from collector.incidents import IncidentBook
from common.wire import EtaReport

__all__ = ["TICK_S", "EventHub", "sse"]

TICK_S: Final = 0.5
QUEUE_EVENTS: Final = 512


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class EventHub:
    def __init__(
        self,
        fleet: FleetState,
        incidents: IncidentBook,
        eta: EtaPublisher,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fleet = fleet
        self.incidents = incidents
        self.eta = eta
        self.clock = clock
        self.clients: set[asyncio.Queue[bytes | None]] = set()
        self.sent = 0
        self.dropped = 0
        self._seq = 0
        self._units: dict[str, dict[str, Any]] = {}
        self._incidents: dict[str, tuple[Any, ...]] = {}
        eta.listeners.append(self.eta_published)

    def subscribe(self) -> asyncio.Queue[bytes | None]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_EVENTS)
        if not self.clients:
            self.prime()
        self.clients.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes | None]) -> None:
        self.clients.discard(queue)

    def snapshot(self) -> bytes:
        now = self.clock()
        return sse("snapshot", {
            "now": now,
            "units": [unit_json(v) for v in self.fleet.views(now)],
            "incidents": incidents_json(self.incidents),
            "etas": [eta_json(r) for r in self.eta.published.values()],
        })  # fmt: skip

    def _broadcast(self, event: str, data: Any) -> None:
        if not self.clients:
            return
        self._seq += 1
        chunk = sse(event, data, self._seq)
        for queue in list(self.clients):
            try:
                queue.put_nowait(chunk)
                self.sent += 1
            except asyncio.QueueFull:
                self.clients.discard(queue)
                self.dropped += 1
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)  # the handler ends the response

    def eta_published(self, report: EtaReport) -> None:
        self._broadcast("eta", eta_json(report))

    def tick(self) -> None:
        """Units and incidents that changed since the last tick."""
        if not self.clients:
            self._units.clear()  # a first client gets a snapshot; the next tick compares with that
            self._incidents.clear()
            return
        now = self.clock()
        changed = units_changed(self._units, self.fleet.views(now))
        if changed:
            self._broadcast("units", {"now": now, "units": changed})
        seen = set()
        for entry in self.incidents:
            incident = entry.incident
            seen.add(incident.id)
            signature = incident_signature(incident)
            if self._incidents.get(incident.id) != signature:
                self._incidents[incident.id] = signature
                self._broadcast("incident", incident_json(entry))
        for gone in set(self._incidents) - seen:
            del self._incidents[gone]
            self._broadcast("incident", {"id": gone, "status": "removed"})

    def prime(self) -> None:
        """Take the present state as seen (a new client has just been sent a snapshot of it)."""
        now = self.clock()
        units_changed(self._units, self.fleet.views(now))
        for entry in self.incidents:
            self._incidents[entry.incident.id] = incident_signature(entry.incident)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), TICK_S)
        for queue in list(self.clients):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
