"""What the collector counts while it runs (logged every minute, read by tests)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServiceCounters"]


@dataclass
class ServiceCounters:
    batches: int = 0
    fixes_stored: int = 0
    duplicates: int = 0
    acked: int = 0
    store_errors: int = 0
    eta_rounds: int = 0
    eta_seconds: float = 0.0  # time the rounds took, routes included (wall time)
    eta_published: int = 0
    publish_errors: int = 0
    sessions: int = 0
    dead_letters: int = 0  # messages parked because applying them failed (collector.deadletters)
    replayed: int = 0  # dead letters applied again
    seq_jumps: int = 0  # fixes whose seq jumped more than MAX_SEQ_JUMP
    duplicate_incidents: int = 0  # an open incident's id given to another incident: refused
    public_snapshots: int = 0  # public feed snapshots published
