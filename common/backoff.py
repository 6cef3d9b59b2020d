"""Jittered exponential backoff: the retry schedule of every reconnect loop.

Pure: the caller passes the random number, so the schedule is testable and
reproducible. The serial source and the MQTT connection both use it.

The delay before retry ``attempt`` (0 = first retry) is drawn uniformly from
``[cap / 2, cap]`` with ``cap = min(maximum, initial * 2 ** attempt)``: never
zero (a dead device or broker is not hammered), and a fleet that lost its
broker at the same moment spreads its reconnects over half the cap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff", "backoff_delay"]


def backoff_delay(attempt: int, *, initial_s: float, max_s: float, rand: float) -> float:
    """Seconds to wait before retry ``attempt``; ``rand`` is uniform in [0, 1)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # min() on the exponent first: 2 ** 10_000 would overflow a float.
    cap = min(max_s, initial_s * 2.0 ** min(attempt, 64))
    return cap * (0.5 + 0.5 * rand)


@dataclass
class Backoff:
    """The retry state of one reconnect loop: ``next_delay()`` after a failure,
    ``reset()`` after a success."""

    initial_s: float = 1.0
    max_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(f"backoff needs 0 < initial ({self.initial_s}) <= max ({self.max_s})")

    def next_delay(self) -> float:
        delay = backoff_delay(self.attempt, initial_s=self.initial_s, max_s=self.max_s, rand=self.rng.random())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
