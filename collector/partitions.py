"""The PostgreSQL history's partitions by fix time: names, ranges, which to drop.

Plain arithmetic on epoch milliseconds (no server): the store
(:mod:`collector.pgstore`) asks which partitions a batch needs and which are
wholly older than the retention cutoff, and issues the DDL.

One partition per UTC day: 90 days of history are 90 tables, each small
enough to drop in an instant and to keep its indexes in memory while it is
being written; a query bounded in time (the public feed's ``latest_at``, a
week of trends) touches only the days it names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["DAY_MS", "Partition", "expired", "partition_for", "partitions_for", "partition_of_name"]

DAY_MS: Final = 86_400_000
_PREFIX: Final = "fixes_d"


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """Fix times in [low_ms, high_ms): one UTC day."""

    low_ms: int
    high_ms: int

    @property
    def name(self) -> str:
        day = dt.datetime.fromtimestamp(self.low_ms / 1000, dt.UTC)
        return f"{_PREFIX}{day:%Y%m%d}"


def partition_for(time_ms: int) -> Partition:
    low = time_ms // DAY_MS * DAY_MS  # floor: times before 1970 land in their own day too
    return Partition(low, low + DAY_MS)


def partitions_for(times_ms: Iterable[int]) -> set[Partition]:
    """The partitions rows with these fix times go into."""
    return {partition_for(t) for t in times_ms}


def partition_of_name(name: str) -> Partition | None:
    """The partition a table name stands for (None: not one of ours)."""
    if not name.startswith(_PREFIX) or len(name) != len(_PREFIX) + 8:
        return None
    try:
        day = dt.datetime.strptime(name[len(_PREFIX) :], "%Y%m%d").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return partition_for(int(day.timestamp()) * 1000)


def expired(names: Iterable[str], cutoff_ms: int) -> tuple[list[str], Partition | None]:
    """Of these partition names, those wholly before ``cutoff_ms`` (to drop), and
    the one the cutoff falls inside (its older rows are deleted row by row)."""
    drop: list[str] = []
    straddling: Partition | None = None
    for name in sorted(names):
        p = partition_of_name(name)
        if p is None:
            continue
        if p.high_ms <= cutoff_ms:
            drop.append(name)
        elif p.low_ms < cutoff_ms:
            straddling = p
    return drop, straddling
