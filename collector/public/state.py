"""What the public policy remembers between snapshots, as one immutable value.

The policy is a pure function ``(policy, state, now, inputs) -> (snapshot,
state)``; the publishing shell keeps the returned state and passes it back
next time, and saves it (``to_json``) so a restart neither re-derives every
unit's cell without hysteresis nor forgets when a call closed. The state
holds real unit and incident ids: it is private, like the collector's
database, and never published.

Three memories:
- each unit's public cell (hysteresis needs the previous cell);
- each unit's duty status and assignments as observed over the last delay,
  so the feed shows the status a unit had at the published time rather than
  now (a status shown live would say "on scene" the minute officers arrive);
- when each call was first seen closed, to delay and then drop it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from collector.public.config import PublicPolicyError
from collector.public.grid import Cell
from common.wire import DutyStatus

__all__ = ["PublicStateError", "DutyObservation", "Anchor", "UnitMemory", "PublicState", "STATE_VERSION"]

STATE_VERSION: Final = 1


class PublicStateError(PublicPolicyError):
    """A saved state that cannot be read back (corrupt, or another version)."""


@dataclass(frozen=True, slots=True)
class DutyObservation:
    """A unit's duty status and assigned incidents, as first observed at ``since``."""

    since: dt.datetime
    status: DutyStatus
    incidents: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a suppressed call a unit attended was (projected metres).

    A unit leaving such a call reappears in the feed only once it is a cell
    away from the call, or ``linger_s`` after it was released, so its
    reappearance does not mark the cell of a domestic or a sudden death.
    """

    x: float
    y: float
    released: dt.datetime | None = None  # the published time at which the unit was no longer assigned


@dataclass(frozen=True, slots=True)
class UnitMemory:
    duty: tuple[DutyObservation, ...] = ()  # oldest first
    cell: Cell | None = None
    anchor: Anchor | None = None


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class PublicState:
    """Everything the policy carries from one snapshot to the next. Start with ``PublicState()``."""

    epsg: int | None = None  # the grid's CRS once chosen: a grid that moved would give away positions
    cell_m: float | None = None  # the cell size the remembered cells and anchors are in
    units: Mapping[str, UnitMemory] = field(default_factory=lambda: MappingProxyType({}))
    closed_seen: Mapping[str, dt.datetime] = field(default_factory=lambda: MappingProxyType({}))
    observed_at: dt.datetime | None = None  # ``now`` of the snapshot that made this state

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", _frozen_map(self.units))
        object.__setattr__(self, "closed_seen", _frozen_map(self.closed_seen))

    def to_json(self) -> bytes:
        """A compact JSON form for the shell to save (privately: it holds real ids)."""
        units = {
            unit: {
                "cell": list(memory.cell) if memory.cell is not None else None,
                "anchor": _anchor_to_json(memory.anchor),
                "duty": [[_time_to_json(o.since), o.status.value, sorted(o.incidents)] for o in memory.duty],
            }
            for unit, memory in sorted(self.units.items())
        }
        obj = {
            "v": STATE_VERSION,
            "epsg": self.epsg,
            "cell_m": self.cell_m,
            "units": units,
            "closed_seen": {key: _time_to_json(t) for key, t in sorted(self.closed_seen.items())},
            "observed_at": None if self.observed_at is None else _time_to_json(self.observed_at),
        }
        return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> PublicState:
        """Inverse of :meth:`to_json`; raises PublicStateError on anything else."""
        try:
            obj = json.loads(data)
            if not isinstance(obj, dict) or obj.get("v") != STATE_VERSION:
                raise PublicStateError(f"not a public-feed state of version {STATE_VERSION}")
            epsg, cell_m = obj["epsg"], obj["cell_m"]
            if not (epsg is None or type(epsg) is int) or not (cell_m is None or type(cell_m) in (int, float)):
                raise PublicStateError("epsg and cell_m must be numbers or null")
            units = {str(unit): _memory_from_json(m) for unit, m in obj["units"].items()}
            closed = {str(key): _time_from_json(t) for key, t in obj["closed_seen"].items()}
            observed_at = None if obj["observed_at"] is None else _time_from_json(obj["observed_at"])
            return cls(epsg, None if cell_m is None else float(cell_m), units, closed, observed_at)
        except PublicStateError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PublicStateError(f"unreadable public-feed state: {type(exc).__name__}: {exc}") from None


def _time_to_json(t: dt.datetime) -> str:
    # Microseconds kept: a reloaded state must compare equal to the saved one.
    return t.astimezone(dt.UTC).isoformat()


def _time_from_json(text: object) -> dt.datetime:
    if not isinstance(text, str):
        raise TypeError(f"a time must be a string, got {text!r}")
    t = dt.datetime.fromisoformat(text)
    if t.utcoffset() != dt.timedelta(0):
        raise ValueError(f"a time must be UTC, got {text!r}")
    return t


def _anchor_to_json(anchor: Anchor | None) -> list[Any] | None:
    if anchor is None:
        return None
    return [anchor.x, anchor.y, None if anchor.released is None else _time_to_json(anchor.released)]


def _memory_from_json(obj: Any) -> UnitMemory:
    cell = obj["cell"]
    if cell is not None:
        column, row = cell
        if type(column) is not int or type(row) is not int:
            raise TypeError(f"cell must be two integers, got {cell!r}")
        cell = (column, row)
    anchor = None
    if obj["anchor"] is not None:
        x, y, released = obj["anchor"]
        anchor = Anchor(float(x), float(y), None if released is None else _time_from_json(released))
    duty = tuple(
        DutyObservation(_time_from_json(since), DutyStatus(status), frozenset(str(i) for i in incidents))
        for since, status, incidents in obj["duty"]
    )
    return UnitMemory(duty, cell, anchor)
