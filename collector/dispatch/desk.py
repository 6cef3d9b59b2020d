"""The dispatcher's actions as MQTT publishes on the wire topics, through the collector's own session.

The board and the CAD API both come here; so the board, the API and the
command line stay equivalent: each action is one retained publish on
``incidents/<id>`` or ``units/<unit>/status`` (the payloads of
:mod:`common.wire`), which the collector then takes in like any other. Each
is logged to the ``collector.dispatch.audit`` logger with who did it (the
token's name), before and after the broker acknowledged it.

An incident published here is remembered until the collector has taken it
in, so that a create sent twice at once (a CAD retrying) is answered with
the first one, never published twice with different details.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from collector.dispatch.requests import ApiError, Decision, assign_unit, close_incident, decide_create
from collector.incidents import IncidentBook
from collector.session import BrokerSession
from common.logsafe import escaped
from common.mqtt import MqttError
from common.wire import DutyStatus, Incident, Topics, encode_incident, encode_status

__all__ = ["Desk"]

audit = logging.getLogger("collector.dispatch.audit")

PUBLISH_TIMEOUT_S = 5.0
PENDING_KEEP_S = 30.0


@dataclass
class _Pending:
    incident: Incident
    at: float


class Desk:
    def __init__(
        self,
        session: BrokerSession,
        topics: Topics,
        incidents: IncidentBook,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.topics = topics
        self.incidents = incidents
        self.clock = clock
        self._pending: dict[str, _Pending] = {}

    def current(self, incident_id: str) -> Incident | None:
        """The incident as last published here (until the collector has it), else as the collector knows it."""
        now = self.clock()
        pending = self._pending.get(incident_id)
        known = self.incidents.get(incident_id)
        if pending is not None and (known == pending.incident or now - pending.at > PENDING_KEEP_S):
            del self._pending[incident_id]
            pending = None
        return pending.incident if pending is not None else known

    async def _publish(self, who: str, action: str, topic: str, payload: bytes) -> None:
        connection = self.session.connection
        if connection is None or not connection.connected:
            audit.warning("%s: %s refused: not connected to the broker", escaped(who), action)
            raise ApiError(503, "", "the collector is not connected to the broker: nothing was published")
        audit.info("%s: %s (publishing %s)", escaped(who), action, topic)
        try:
            await asyncio.wait_for(connection.publish(topic, payload, qos=1, retain=True), PUBLISH_TIMEOUT_S)
        except (MqttError, TimeoutError) as exc:
            audit.warning("%s: %s failed: %s", escaped(who), action, escaped(str(exc) or "no acknowledgement"))
            raise ApiError(503, "", f"the broker did not take it ({exc or 'no acknowledgement in 5 s'})") from None
        audit.info("%s: %s done", escaped(who), action)

    async def _put_incident(self, who: str, action: str, incident: Incident) -> None:
        before = self._pending.get(incident.id)
        self._pending[incident.id] = _Pending(incident, self.clock())  # before the await: a concurrent create sees it
        try:
            await self._publish(who, action, self.topics.incident(incident.id), encode_incident(incident))
        except ApiError:
            if before is None:
                self._pending.pop(incident.id, None)
            else:
                self._pending[incident.id] = before
            raise

    async def create(self, who: str, incident: Incident) -> Decision:
        decision = decide_create(self.current(incident.id), incident)
        if decision.created:
            i = decision.incident
            await self._put_incident(who, f"open incident {i.id} ({escaped(i.type)}, P{i.priority}, "
                                          f"{i.lat:.5f}, {i.lon:.5f})", i)  # fmt: skip
        return decision

    async def update(self, who: str, incident: Incident) -> Incident:
        if incident != self.current(incident.id):
            await self._put_incident(who, f"update incident {incident.id} (P{incident.priority}, "
                                          f"{incident.lat:.5f}, {incident.lon:.5f}, units "
                                          f"{','.join(incident.units) or '-'})", incident)  # fmt: skip
        return incident

    async def assign(self, who: str, incident_id: str, unit: str) -> Incident:
        current = self.current(incident_id)
        changed = assign_unit(current, incident_id, unit)
        if changed is None:
            assert current is not None
            return current
        await self._put_incident(who, f"assign {unit} to incident {incident_id}", changed)
        return changed

    async def close(self, who: str, incident_id: str) -> Incident:
        current = self.current(incident_id)
        changed = close_incident(current, incident_id)
        if changed is None:
            assert current is not None
            return current
        await self._put_incident(who, f"close incident {incident_id}", changed)
        return changed

    async def set_status(self, who: str, unit: str, status: DutyStatus) -> None:
        await self._publish(who, f"set {unit} {status.value}", self.topics.status(unit), encode_status(status))

    @staticmethod
    def now_utc(clock: Callable[[], float]) -> dt.datetime:
        return dt.datetime.fromtimestamp(clock(), dt.UTC)
