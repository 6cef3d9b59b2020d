"""Arrivals measured: when a dispatched unit reaches its incident, and what was predicted. Pure.

A unit is *dispatched* when it first appears among an open incident's
assigned units (the time the collector received that incident message). The
ETA *predicted at dispatch* is the unit's ETA in the last report computed for
that incident before it (what the dispatcher saw when choosing it), with its
method; None if the unit was not in it. The unit *arrives* at the first of:

- a fix within ``radius_m`` of the incident while slow or stopped (the fix's
  speed, or the speed since the unit's previous fix, at most ``slow_mps``):
  driving past does not count;
- its duty status becoming ``onscene`` (the officer said so).

Each arrival is recorded once: call (incident opened) -> dispatch -> arrival,
with the prediction. Closing the incident or unassigning the unit drops a
pending dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.eta import geodesic_m
from common.fix import Fix
from common.wire import DutyStatus, EtaReport, Incident, IncidentStatus

__all__ = ["Arrival", "ArrivalDetector"]


@dataclass(frozen=True, slots=True)
class Arrival:
    incident: str
    unit: str
    priority: int
    called: float  # the incident's opening time (POSIX s)
    dispatched: float
    arrived: float
    predicted_s: float | None  # the ETA at dispatch
    method: str | None  # how that ETA was computed (model, router, fallback)
    how: str  # "position" or "onscene"

    @property
    def actual_s(self) -> float:
        return self.arrived - self.dispatched

    @property
    def response_s(self) -> float:
        return self.arrived - self.called


@dataclass(slots=True)
class _Pending:
    incident: Incident
    dispatched: float
    predicted_s: float | None
    method: str | None


class ArrivalDetector:
    def __init__(self, *, radius_m: float = 100.0, slow_mps: float = 3.0) -> None:
        if not (radius_m > 0 and slow_mps >= 0):
            raise ValueError("radius_m must be > 0 and slow_mps >= 0")
        self.radius_m = radius_m
        self.slow_mps = slow_mps
        self._pending: dict[tuple[str, str], _Pending] = {}  # (incident, unit)
        self._done: set[tuple[str, str]] = set()
        self._last_fix: dict[str, Fix] = {}

    def pending(self) -> list[tuple[str, str]]:
        return sorted(self._pending)

    def incident(self, incident: Incident, received: float, report: EtaReport | None) -> None:
        """A new version of an incident; ``report``: the last ETA report computed for it."""
        if incident.status is not IncidentStatus.OPEN:
            for key in [k for k in self._pending if k[0] == incident.id]:
                del self._pending[key]
            return
        for key in [k for k in self._pending if k[0] == incident.id and k[1] not in incident.units]:
            del self._pending[key]
        predicted = {row.unit: row for row in report.units} if report is not None else {}
        for unit in incident.units:
            key = (incident.id, unit)
            if key in self._done:
                continue
            if key in self._pending:
                self._pending[key].incident = incident  # moved: arrive at the new place
                continue
            row = predicted.get(unit)
            self._pending[key] = _Pending(
                incident, received, None if row is None else row.eta_s, None if row is None else row.method.value
            )

    def position(self, unit: str, fix: Fix) -> list[Arrival]:
        """A unit's new fix (in time order); the arrivals it completes."""
        previous = self._last_fix.get(unit)
        self._last_fix[unit] = fix
        mine = [(k, p) for k, p in self._pending.items() if k[1] == unit]
        if not mine:
            return []
        speed = fix.speed
        if speed is None and previous is not None:
            dt_s = (fix.time - previous.time).total_seconds()
            if dt_s > 0:
                speed = float(geodesic_m(previous.lat, previous.lon, fix.lat, fix.lon)) / dt_s
        if speed is None or speed > self.slow_mps:
            return []
        out = []
        for key, pending in mine:
            where = pending.incident
            if float(geodesic_m(fix.lat, fix.lon, where.lat, where.lon)) <= self.radius_m:
                out.append(self._arrive(key, pending, max(fix.time.timestamp(), pending.dispatched), "position"))
        return out

    def status(self, unit: str, status: DutyStatus | None, received: float) -> list[Arrival]:
        """A unit's duty status changed; ``onscene`` completes its pending dispatches."""
        if status is not DutyStatus.ONSCENE:
            return []
        mine = [(k, p) for k, p in self._pending.items() if k[1] == unit]
        return [self._arrive(key, pending, max(received, pending.dispatched), "onscene") for key, pending in mine]

    def _arrive(self, key: tuple[str, str], pending: _Pending, arrived: float, how: str) -> Arrival:
        del self._pending[key]
        self._done.add(key)
        i = pending.incident
        called = i.opened.timestamp()
        return Arrival(i.id, key[1], i.priority, called, pending.dispatched, arrived, pending.predicted_s,
                       pending.method, how)  # fmt: skip
