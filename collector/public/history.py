"""The public history: every call the feed published, as a row, from the snapshots alone.

Trends and open data (the public site) are computed from this history and
nothing else, so they can never say more than the live feed already did:
each row holds only what some published calls document showed (the token,
category, priority, cell centre and opening minute of a call) and three
minutes read off the sequence of documents:

- ``attending``: the ``status_as_of`` of the first document that showed the
  call ``attending``. It is recorded only when the document before it, at
  most :data:`MAX_GAP_MIN` minutes earlier, showed the call ``open``: after a
  gap in publishing (the collector was down) or for a call first seen already
  attended, the moment of arrival is not known to the minute and the response
  time is left out rather than overstated;
- ``closed``: the ``status_as_of`` of the first document that showed it closed
  (or no longer showed it, for a call the collector knows is closed:
  ``linger_s = 0`` never shows one closed);
- ``seen_open``: bookkeeping for the rule above, itself read off the documents
  (written with the row's other changes only).

Two facts come from the collector rather than the documents, and both can
only remove or close rows: which calls it knows to be closed, and which are
now of a suppressed category. A call that vanishes from the feed while open
was reclassified as sensitive or entered in error: its row is withdrawn, as
is the row of a call reclassified as suppressed after it closed. A reader of
the live feed saw it vanish too, so withdrawing tells nothing new.

:func:`record` is pure: the shell (:mod:`collector.public.history_store`)
passes the calls it still holds open and each published document, and
applies the rows it returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from collector.public.config import PublicPolicy
from collector.public.policy import parse_minute
from collector.public.pseudonym import call_token
from common.wire import Incident, IncidentStatus

__all__ = [
    "MAX_GAP_MIN",
    "CallFates",
    "CallKey",
    "HistoryUpdate",
    "PublishedCall",
    "call_fates",
    "from_minute",
    "minute",
    "record",
    "sorted_calls",
]

# Longest gap between two documents' status times over which a change of
# status is still dated to the minute. The feed publishes every 30 s by
# default (at most every 150 s), so two documents normally differ by one minute.
MAX_GAP_MIN: Final = 5

CallKey = tuple[str, dt.datetime]  # (token, opened): tokens are 40 bits and may repeat over the years


@dataclass(frozen=True, slots=True)
class PublishedCall:
    """One published call, as the public history keeps it. Times are whole UTC minutes."""

    call: str
    opened: dt.datetime
    category: str
    priority: str
    lat: float
    lon: float
    attending: dt.datetime | None = None
    closed: dt.datetime | None = None
    seen_open: dt.datetime | None = None  # the last status time it was shown open, while it may still be attended

    @property
    def key(self) -> CallKey:
        return self.call, self.opened

    @property
    def response_min(self) -> int | None:
        """Minutes from opening to the first unit attending, when known to the minute."""
        if self.attending is None:
            return None
        return max(0, int((self.attending - self.opened).total_seconds() // 60))


@dataclass(frozen=True, slots=True)
class HistoryUpdate:
    """What one document changes: rows to insert or replace, and tokens to withdraw."""

    upserts: tuple[PublishedCall, ...] = ()
    withdrawn: frozenset[str] = frozenset()  # tokens whose rows (recent ones) must go
    shown: Mapping[CallKey, PublishedCall] = field(default_factory=dict)  # the calls to pass next time

    def __bool__(self) -> bool:
        return bool(self.upserts or self.withdrawn)


@dataclass(frozen=True, slots=True)
class CallFates:
    """What the collector knows of the calls' fates, by public token (private input, used to close or remove)."""

    closed: frozenset[str] = frozenset()
    suppressed: frozenset[str] = frozenset()


def call_fates(policy: PublicPolicy, incidents: Iterable[Incident], secret: bytes) -> CallFates:
    """The tokens of the incidents known closed, and of those now of a suppressed category."""
    closed, suppressed = set(), set()
    for incident in incidents:
        token = call_token(secret, incident.id)
        if policy.category(incident.type) is None:
            suppressed.add(token)
        elif incident.status is IncidentStatus.CLOSED:
            closed.add(token)
    return CallFates(frozenset(closed), frozenset(suppressed))


def _call(feature: Mapping[str, Any]) -> PublishedCall:
    props = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"]
    return PublishedCall(
        call=props["call"],
        opened=parse_minute(props["opened"]),
        category=props["category"],
        priority=props["priority"],
        lat=float(lat),
        lon=float(lon),
    )


def _observe(row: PublishedCall, status: str, at: dt.datetime) -> PublishedCall:
    if row.closed is not None:
        return row
    if status == "open":
        return replace(row, seen_open=at)
    if status == "attending":
        seen_lately = row.seen_open is not None and (at - row.seen_open).total_seconds() <= MAX_GAP_MIN * 60
        if row.attending is None and seen_lately:
            return replace(row, attending=at, seen_open=None)
        return replace(row, seen_open=None)  # arrival not seen to the minute, or already recorded
    return replace(row, closed=at, seen_open=None)  # "closed"


def record(
    shown: Mapping[CallKey, PublishedCall], calls_doc: Mapping[str, Any], fates: CallFates = CallFates()
) -> HistoryUpdate:
    """The history's changes for one published calls document.

    ``shown`` holds the rows of the calls the previous document showed (and,
    after a restart, those not closed or closed lately), as returned last
    time (``HistoryUpdate.shown``); ``{}`` at the first document.
    """
    at = parse_minute(calls_doc["status_as_of"])
    upserts: list[PublishedCall] = []
    now_shown: dict[CallKey, PublishedCall] = {}
    for feature in calls_doc["features"]:
        seen = _call(feature)
        if seen.call in fates.suppressed:
            continue  # reclassified since the document was made: never recorded
        previous = shown.get(seen.key)
        base = (
            seen
            if previous is None
            else replace(previous, category=seen.category, priority=seen.priority, lat=seen.lat, lon=seen.lon)
        )
        row = _observe(base, feature["properties"]["status"], at)
        # seen_open alone moving on is kept in memory, not written: one write a minute per
        # open call otherwise. After a restart the stored one is older, so an arrival
        # right then goes undated rather than misdated.
        if previous is None or replace(row, seen_open=None) != replace(previous, seen_open=None):
            upserts.append(row)
        now_shown[row.key] = row
    withdrawn = set(fates.suppressed)
    for key, row in shown.items():
        if key in now_shown or row.closed is not None:
            continue
        if row.call in fates.closed and row.call not in fates.suppressed:
            upserts.append(replace(row, closed=at, seen_open=None))  # closed and gone without being shown closed
        else:
            withdrawn.add(row.call)  # vanished while open: reclassified or entered in error
    return HistoryUpdate(tuple(upserts), frozenset(withdrawn), now_shown)


def sorted_calls(calls: Iterable[PublishedCall]) -> list[PublishedCall]:
    """In the order the open data lists them: by opening minute, then token."""
    return sorted(calls, key=lambda c: (c.opened, c.call))


def minute(t: dt.datetime) -> int:
    """Whole minutes since the Unix epoch (how the history store keeps times)."""
    return int(t.timestamp()) // 60


def from_minute(m: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(m * 60, dt.UTC)
