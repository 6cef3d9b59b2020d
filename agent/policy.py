"""Which fixes to report: the reporting policy, pure (fix times are the clock).

A receiver gives a fix every second or faster; the fleet map needs far fewer.
:class:`ReportPolicy` reports a fix when any of these holds, measured against
the last *reported* fix:

- moving (speed >= ``stationary_speed_ms``): ``interval_s`` has passed, or the
  unit moved ``min_distance_m``, or its heading turned ``min_heading_deg``
  (wrapping at 360: 350 -> 10 is a 20 degree turn);
- it has just stopped (the first stationary fix after moving: where it stopped);
- stationary: ``heartbeat_s`` has passed, or it crept further than the drift
  radius, ``max(min_distance_m, hdop * drift_m_per_hdop)`` (a parked receiver
  wanders by a few metres per unit of HDOP; that is not movement).

Before that, each fix is checked against the last plausible one: if reaching
it needs a speed above ``max_speed_ms`` (beyond the position noise of both
fixes), it is a jump (multipath, a receiver glitch). ``jump_action = "drop"``
drops it; ``"flag"`` lets it through the rules, marked. If ``jump_confirm``
fixes in a row agree with each other but not with the old anchor, the old
anchor was the wrong one: the policy re-anchors on the new position.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from common import geodesy
from common.fix import Fix

__all__ = ["Decision", "Reason", "ReportPolicy", "ReportSettings", "distance_m", "heading_change_deg"]


def distance_m(a: Fix, b: Fix) -> float:
    """Great-circle distance in metres between two fixes."""
    return geodesy.distance_m(a.lat, a.lon, b.lat, b.lon)


def heading_change_deg(a: float, b: float) -> float:
    """The smaller angle between two headings, in [0, 180]."""
    diff = abs(a - b) % 360.0
    return 360.0 - diff if diff > 180.0 else diff


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """The ``[report]`` table: when to report a fix."""

    interval_s: float = 5.0
    min_distance_m: float = 50.0
    min_heading_deg: float = 20.0
    heartbeat_s: float = 60.0
    stationary_speed_ms: float = 1.0
    drift_m_per_hdop: float = 5.0
    max_speed_ms: float = 90.0  # 324 km/h: beyond any patrol car
    jump_action: str = "drop"  # "drop" | "flag"
    jump_confirm: int = 3


class Reason(enum.StrEnum):
    """Why a fix was reported, or why not."""

    FIRST = "first"
    INTERVAL = "interval"
    DISTANCE = "distance"
    HEADING = "heading"
    STOPPED = "stopped"
    HEARTBEAT = "heartbeat"
    # not reported:
    WAIT = "wait"  # nothing changed enough yet
    DRIFT = "drift"  # stationary, within the drift radius
    JUMP = "jump"  # implausible jump, dropped


@dataclass(frozen=True, slots=True)
class Decision:
    report: bool
    reason: Reason
    jump: bool = False  # an implausible jump (dropped, or flagged and let through)


class ReportPolicy:
    """Feed every fix in time order to :meth:`decide`; report those it says."""

    def __init__(self, settings: ReportSettings | None = None) -> None:
        self.settings = settings or ReportSettings()
        self.last_reported: Fix | None = None
        self._reported_moving = False
        self._anchor: Fix | None = None  # last plausible fix (reported or not)
        self._candidate: Fix | None = None  # last implausible fix ...
        self._chain = 0  # ... and how many implausible fixes in a row agree with each other
        self.jumps = 0

    def _noise_m(self, fix: Fix) -> float:
        return self.settings.drift_m_per_hdop * (fix.hdop if fix.hdop is not None else 1.0)

    def _plausible(self, before: Fix, after: Fix) -> bool:
        seconds = (after.time - before.time).total_seconds()
        if seconds <= 0:
            return False  # time not moving forward: a repeat, or a receiver reset
        moved = max(0.0, distance_m(before, after) - self._noise_m(before) - self._noise_m(after))
        return moved / seconds <= self.settings.max_speed_ms

    def decide(self, fix: Fix) -> Decision:
        s = self.settings
        jump = False
        anchor = self._anchor
        if anchor is None or self._plausible(anchor, fix):
            self._anchor, self._candidate, self._chain = fix, None, 0
        else:
            jump = True
            self.jumps += 1
            candidate = self._candidate
            self._chain = self._chain + 1 if candidate is not None and self._plausible(candidate, fix) else 1
            self._candidate = fix
            if self._chain >= s.jump_confirm:
                # Several fixes agree with each other, not with the anchor: the anchor was wrong.
                self._anchor, self._candidate, self._chain = fix, None, 0
            elif s.jump_action == "drop":
                return Decision(False, Reason.JUMP, jump=True)
        decision = self._rules(fix, anchor)
        if decision.report:
            self.last_reported = fix
            self._reported_moving = self._moving(fix, anchor)
        return Decision(decision.report, decision.reason, jump) if jump else decision

    def _moving(self, fix: Fix, previous: Fix | None) -> bool:
        speed = fix.speed
        if speed is None:  # no speed from the receiver: estimate from the previous fix
            if previous is None:
                return False
            seconds = (fix.time - previous.time).total_seconds()
            speed = distance_m(previous, fix) / seconds if seconds > 0 else 0.0
        return speed >= self.settings.stationary_speed_ms

    def _rules(self, fix: Fix, previous: Fix | None) -> Decision:
        s = self.settings
        last = self.last_reported
        if last is None:
            return Decision(True, Reason.FIRST)
        elapsed = (fix.time - last.time).total_seconds()
        moved = distance_m(last, fix)
        if self._moving(fix, previous):
            if elapsed >= s.interval_s:
                return Decision(True, Reason.INTERVAL)
            if moved >= s.min_distance_m:
                return Decision(True, Reason.DISTANCE)
            if (
                fix.track is not None
                and last.track is not None
                and heading_change_deg(fix.track, last.track) >= s.min_heading_deg
            ):
                return Decision(True, Reason.HEADING)
            return Decision(False, Reason.WAIT)
        if self._reported_moving:
            return Decision(True, Reason.STOPPED)
        if moved >= max(s.min_distance_m, self._noise_m(fix)):
            return Decision(True, Reason.DISTANCE)
        if elapsed >= s.heartbeat_s:
            return Decision(True, Reason.HEARTBEAT)
        return Decision(False, Reason.DRIFT)
