"""The topic tree: names for one fleet, and what a received topic refers to."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from common.wire._codec import VERSION, InvalidTopicError, validate_id

__all__ = [
    "TopicKind",
    "TopicMatch",
    "Topics",
]


class TopicKind(enum.StrEnum):
    POS = "pos"
    TRACK = "track"
    STATE = "state"
    DIAG = "diag"
    STATUS = "status"
    INCIDENT = "incident"
    ETA = "eta"


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """What a received topic refers to."""

    kind: TopicKind
    fleet: str
    id: str  # unit id, or incident id for INCIDENT and ETA


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one fleet; ``Topics("derbyshire").pos("PC-101")``."""

    fleet: str

    def __post_init__(self) -> None:
        validate_id("fleet", self.fleet)

    @property
    def root(self) -> str:
        return f"ac/v{VERSION}/{self.fleet}"

    def unit(self, unit: str, kind: TopicKind) -> str:
        return f"{self.root}/units/{validate_id('unit', unit)}/{kind.value}"

    def pos(self, unit: str) -> str:
        return self.unit(unit, TopicKind.POS)

    def track(self, unit: str) -> str:
        return self.unit(unit, TopicKind.TRACK)

    def state(self, unit: str) -> str:
        return self.unit(unit, TopicKind.STATE)

    def diag(self, unit: str) -> str:
        return self.unit(unit, TopicKind.DIAG)

    def status(self, unit: str) -> str:
        return self.unit(unit, TopicKind.STATUS)

    def incident(self, incident_id: str) -> str:
        return f"{self.root}/incidents/{validate_id('incident', incident_id)}"

    def eta(self, incident_id: str) -> str:
        return f"{self.incident(incident_id)}/eta"

    @property
    def public_units(self) -> str:
        return f"public/v{VERSION}/{self.fleet}/units"

    @property
    def public_calls(self) -> str:
        return f"public/v{VERSION}/{self.fleet}/calls"

    def unit_filter(self, kind: TopicKind) -> str:
        """Subscription filter for one kind of unit topic across the fleet."""
        return f"{self.root}/units/+/{kind.value}"

    @property
    def incidents_filter(self) -> str:
        return f"{self.root}/incidents/+"

    def match(self, topic: str) -> TopicMatch:
        """Classify a received topic of this fleet; raise InvalidTopicError."""
        parts = topic.split("/")
        if len(parts) < 5 or parts[0] != "ac" or parts[1] != f"v{VERSION}" or parts[2] != self.fleet:
            raise InvalidTopicError(f"not a topic of fleet {self.fleet!r}: {topic[:200]!r}")
        try:
            if parts[3] == "units" and len(parts) == 6:
                kind = TopicKind(parts[5])
                if kind in (TopicKind.INCIDENT, TopicKind.ETA):
                    raise ValueError(kind)
                return TopicMatch(kind, self.fleet, validate_id("unit", parts[4]))
            if parts[3] == "incidents" and len(parts) == 5:
                return TopicMatch(TopicKind.INCIDENT, self.fleet, validate_id("incident", parts[4]))
            if parts[3] == "incidents" and len(parts) == 6 and parts[5] == "eta":
                return TopicMatch(TopicKind.ETA, self.fleet, validate_id("incident", parts[4]))
        except ValueError:
            pass
        raise InvalidTopicError(f"unknown topic: {topic[:200]!r}")
