"""Classify and validate what arrives from the broker: (topic, payload) in, events out.

Pure, in the manner of h11: no MQTT client, no clock. The service shell hands
every received message to :meth:`Ingest.receive` with the time it arrived and
acts on the event it gets back. Payloads come from other machines, so nothing
here raises on bad bytes: a message that breaks the wire contract becomes a
:class:`Rejected` event and a count under its reason, never an exception.

Fix times are judged against the receipt time (:class:`common.wire.FixTimeBounds`):
a fix dated too far ahead or too far back is refused, under its own reason,
and never reaches the fleet state. A ``track`` keeps its fixes in bounds.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from common import wire
from common.wire import DutyStatus, FixTimeBounds, Incident, TopicKind, TopicMatch, Topics, UnitState, WireFix

__all__ = [
    "Event",
    "FixesReceived",
    "IncidentCleared",
    "IncidentReceived",
    "Ingest",
    "IngestStats",
    "RateLimitedLog",
    "RejectReason",
    "Rejected",
    "StateReceived",
    "StatusReceived",
    "Ignored",
]


class RejectReason(enum.StrEnum):
    """Why a message was refused, one counter each (``units`` shows them)."""

    MALFORMED = "malformed"  # not JSON, wrong shape or types, wrong unit for the topic
    OVERSIZED = "oversized"  # larger than wire.MAX_PAYLOAD_BYTES
    VERSION = "version"  # a contract version we do not speak
    OUT_OF_RANGE = "out_of_range"  # well-formed, but a value outside its range
    UNKNOWN_TOPIC = "unknown_topic"  # not a topic of this fleet's contract
    FUTURE = "future"  # a fix dated further ahead of its receipt than FixTimeBounds allows
    TOO_OLD = "too_old"  # a fix dated further back than any backlog can be


@dataclass(frozen=True, slots=True)
class FixesReceived:
    """Fixes of one unit from ``pos`` (one) or ``track`` (a backlog, oldest first)."""

    unit: str
    fixes: tuple[WireFix, ...]  # those within the time bounds
    kind: TopicKind  # POS or TRACK
    received: float
    refused: tuple[tuple[RejectReason, str], ...] = ()  # fixes of the message out of bounds: why, in a line


@dataclass(frozen=True, slots=True)
class StateReceived:
    unit: str
    state: UnitState
    received: float


@dataclass(frozen=True, slots=True)
class StatusReceived:
    """Duty status; None when its retained message was cleared (empty payload)."""

    unit: str
    status: DutyStatus | None
    received: float


@dataclass(frozen=True, slots=True)
class IncidentReceived:
    incident: Incident
    received: float


@dataclass(frozen=True, slots=True)
class IncidentCleared:
    """The incident's retained message was deleted (an empty payload)."""

    incident_id: str
    received: float


@dataclass(frozen=True, slots=True)
class Ignored:
    """A valid topic the collector does not act on (diagnostics, its own ETAs)."""

    topic: str
    kind: TopicKind


@dataclass(frozen=True, slots=True)
class Rejected:
    topic: str
    reason: RejectReason
    detail: str  # one line, for the log; bounded in length
    received: float


Event = FixesReceived | StateReceived | StatusReceived | IncidentReceived | IncidentCleared | Ignored | Rejected

# Order matters: the most specific wire error first.
_REASONS: Final = (
    (wire.FutureFixError, RejectReason.FUTURE),
    (wire.StaleFixError, RejectReason.TOO_OLD),
    (wire.OversizedPayloadError, RejectReason.OVERSIZED),
    (wire.VersionError, RejectReason.VERSION),
    (wire.OutOfRangeError, RejectReason.OUT_OF_RANGE),
    (wire.InvalidTopicError, RejectReason.UNKNOWN_TOPIC),
    (wire.WireError, RejectReason.MALFORMED),
)
_MAX_DETAIL: Final = 200
_MAX_MATCHES: Final = 100_000


def _reason(error: wire.WireError) -> RejectReason:
    for error_type, reason in _REASONS:
        if isinstance(error, error_type):
            return reason
    return RejectReason.MALFORMED  # pragma: no cover - WireError is the last entry


@dataclass(slots=True)
class IngestStats:
    """Counters since start: messages and fixes accepted, rejections by reason.

    ``rejected`` counts messages; ``refused_fixes`` counts fixes refused for
    their time (FUTURE, TOO_OLD), whether their message was rejected (a
    ``pos``, a ``track`` with no fix left) or kept the others.
    """

    messages: int = 0
    accepted: Counter[TopicKind] = field(default_factory=Counter)
    fixes: int = 0  # fixes in accepted pos and track messages (before de-duplication)
    rejected: Counter[RejectReason] = field(default_factory=Counter)
    refused_fixes: Counter[RejectReason] = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "messages": self.messages,
            "fixes": self.fixes,
            "accepted": {kind.value: n for kind, n in sorted(self.accepted.items())},
            "rejected": {reason.value: self.rejected[reason] for reason in RejectReason},
            "refused_fixes": {reason.value: n for reason, n in sorted(self.refused_fixes.items())},
        }


class Ingest:
    """Turn received messages of one fleet into events, counting rejections."""

    def __init__(self, topics: Topics, bounds: FixTimeBounds | None = None) -> None:
        self.topics = topics
        self.bounds = bounds or FixTimeBounds()
        self.stats = IngestStats()
        # A fleet's topics repeat (a few per unit): each is parsed and checked once.
        self._matches: dict[str, TopicMatch] = {}

    def receive(self, topic: str, payload: bytes, received: float) -> Event:
        """Classify ``topic``, decode ``payload``; never raises on bad input."""
        self.stats.messages += 1
        try:
            event = self._decode(topic, payload, received)
        except wire.WireError as exc:
            reason = _reason(exc)
            self.stats.rejected[reason] += 1
            return Rejected(topic[:_MAX_DETAIL], reason, str(exc)[:_MAX_DETAIL], received)
        if isinstance(event, FixesReceived):
            self.stats.fixes += len(event.fixes)
        if not isinstance(event, Ignored):
            self.stats.accepted[_kind_of(event)] += 1
        return event

    def _decode(self, topic: str, payload: bytes, received: float) -> Event:
        match = self._matches.get(topic)
        if match is None:
            match = self.topics.match(topic)  # raises for a topic of no fleet's contract
            if len(self._matches) >= _MAX_MATCHES:  # topics come from the broker: bound the memory
                self._matches.clear()
            self._matches[topic] = match
        kind, ident = match.kind, match.id
        if kind is TopicKind.POS:
            return self._in_bounds(ident, [wire.decode_fix(payload, unit=ident)], kind, received)
        if kind is TopicKind.TRACK:
            return self._in_bounds(ident, wire.decode_track(payload, unit=ident), kind, received)
        if kind is TopicKind.STATE:
            return StateReceived(ident, wire.decode_state(payload), received)
        if kind is TopicKind.STATUS:
            # An empty retained message is how MQTT deletes one: status unknown again.
            status = None if not payload else wire.decode_status(payload)
            return StatusReceived(ident, status, received)
        if kind is TopicKind.INCIDENT:
            if not payload:
                return IncidentCleared(ident, received)
            return IncidentReceived(wire.decode_incident(payload, incident_id=ident), received)
        return Ignored(topic, kind)  # DIAG, and ETA (our own output)

    def _in_bounds(self, unit: str, fixes: list[WireFix], kind: TopicKind, received: float) -> FixesReceived:
        """The fixes within the time bounds; raise the first refusal if none is."""
        kept, refused = self.bounds.partition(fixes, received)
        why: tuple[tuple[RejectReason, str], ...] = ()
        if refused:  # rare: the common case skips building the reasons
            for _fix, error in refused:
                self.stats.refused_fixes[_reason(error)] += 1
            if not kept:
                raise refused[0][1]
            why = tuple((_reason(error), str(error)[:_MAX_DETAIL]) for _fix, error in refused)
        return FixesReceived(unit, tuple(kept), kind, received, why)


def _kind_of(event: Event) -> TopicKind:
    if isinstance(event, FixesReceived):
        return event.kind
    if isinstance(event, StateReceived):
        return TopicKind.STATE
    if isinstance(event, StatusReceived):
        return TopicKind.STATUS
    return TopicKind.INCIDENT


class RateLimitedLog:
    """Decide which of many similar log lines to write: at most one per key per
    ``interval_s``, and say how many were held back in between.

    Pure: the caller passes the time. A flood of bad payloads from one
    misbehaving sender then costs one log line a minute, not one per message.
    """

    def __init__(self, interval_s: float = 60.0, max_keys: int = 1024) -> None:
        self.interval_s = interval_s
        self.max_keys = max_keys  # keys come from remote input: bound the memory
        self._last: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def admit(self, key: str, now: float) -> int | None:
        """None: do not log now. Otherwise log, mentioning the returned number
        of messages suppressed under this key since the last line."""
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._suppressed[key] += 1
            return None
        if last is None and len(self._last) >= self.max_keys:
            self._evict(now)
        self._last[key] = now
        return self._suppressed.pop(key, 0)

    def _evict(self, now: float) -> None:
        expired = [key for key, last in self._last.items() if now - last >= self.interval_s]
        for key in expired or list(self._last)[: max(1, len(self._last) // 2)]:
            del self._last[key]
            self._suppressed.pop(key, None)
