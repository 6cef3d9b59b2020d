"""When to recompute (and republish) which incident's ETAs: pure, time passed in.

Recomputing is cheap when few units moved (the ETA engine caches distances),
but a fleet of 500 units at 1 Hz changes something every 2 ms, and each
report is a retained MQTT message. So:

- a new, moved, reassigned or reopened incident is due at once (a dispatcher
  is waiting for it);
- a change in the fleet (a unit moved, changed duty or connectivity) makes
  every open incident due, but no sooner than ``min_interval_s`` after its
  last computation;
- every incident is due at least every ``refresh_s`` even if nothing arrived,
  because fix ages grow and positions turn stale with time alone.

The service asks :meth:`RecomputePlanner.due`, computes those incidents,
reports :meth:`computed`, and sleeps until :meth:`next_due`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from common.wire import EtaReport

__all__ = ["RecomputePlanner", "report_changed"]


@dataclass(slots=True)
class _Entry:
    last: float | None = None  # when last computed
    dirty: bool = True
    urgent: bool = True


class RecomputePlanner:
    def __init__(self, min_interval_s: float = 0.05, refresh_s: float = 10.0) -> None:
        if not 0 <= min_interval_s <= refresh_s:
            raise ValueError("need 0 <= min_interval_s <= refresh_s")
        self.min_interval_s = min_interval_s
        self.refresh_s = refresh_s
        self._entries: dict[str, _Entry] = {}

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self._entries

    def incident_changed(self, incident_id: str) -> None:
        """New, moved, reassigned or reopened: due immediately."""
        entry = self._entries.setdefault(incident_id, _Entry())
        entry.dirty = entry.urgent = True

    def incident_closed(self, incident_id: str) -> None:
        self._entries.pop(incident_id, None)

    def fleet_changed(self) -> None:
        """Some unit moved or changed status: every incident, throttled."""
        for entry in self._entries.values():
            entry.dirty = True

    def _due_at(self, entry: _Entry) -> float:
        if entry.last is None or entry.urgent:
            return -float("inf")
        if entry.dirty:
            return entry.last + self.min_interval_s
        return entry.last + self.refresh_s

    def due(self, now: float) -> list[str]:
        return [incident_id for incident_id, entry in self._entries.items() if self._due_at(entry) <= now]

    def computed(self, incident_ids: Iterable[str], now: float) -> None:
        for incident_id in incident_ids:
            entry = self._entries.get(incident_id)
            if entry is not None:
                entry.last, entry.dirty, entry.urgent = now, False, False

    def next_due(self) -> float | None:
        """The earliest time something will be due (-inf: now); None if nothing is tracked."""
        if not self._entries:
            return None
        return min(self._due_at(entry) for entry in self._entries.values())


def report_changed(old: EtaReport | None, new: EtaReport, *, eta_tolerance_s: float = 5.0) -> bool:
    """Whether ``new`` says something a dispatcher would notice compared with
    ``old``: another recommendation, other units or order, a flag that flipped,
    or an ETA that moved by more than ``eta_tolerance_s``. The service may skip
    publishing reports that did not change (fix ages alone always grow)."""
    if old is None or old.recommended != new.recommended or len(old.units) != len(new.units):
        return True
    for a, b in zip(old.units, new.units):
        if (a.unit, a.status, a.method, a.stale, a.offline, a.assigned) != (
            b.unit,
            b.status,
            b.method,
            b.stale,
            b.offline,
            b.assigned,
        ):
            return True
        if abs(a.eta_s - b.eta_s) > eta_tolerance_s:
            return True
    return False
