"""The public feed's I/O shell: gather what the collector knows, apply the
policy, save its state, write the files, hand back the retained messages.

The policy (:func:`collector.public.snapshot`) is pure; this module is the
thin part around it:

- a :data:`Source` says what the collector knows at a time: each unit's last
  fix at or before the units' ``as_of`` (from the store's history), duty
  statuses and incidents now (closed ones included, with when they closed).
  :func:`live_source` reads the running service's FleetState and IncidentBook;
  :func:`store_source` reads only the database (``public preview``);
- :meth:`PublicPublisher.tick` makes one snapshot, saves the policy's state
  (privately, mode 0600: it holds real ids), writes ``units.geojson`` and
  ``calls.geojson`` into ``public_dir`` (mode 0644), each atomically, records
  the published calls in the public history (``history_file``:
  :mod:`collector.public.history`), and returns the two retained messages.

The collector service (:mod:`collector.service`) makes one publisher when it
starts and calls ``tick`` every ``publish_every_s`` as one of its periodic
tasks, publishing what it returns, retained, at QoS 1. It keeps closed
incidents in its IncidentBook for ``[eta] keep_closed_s``, which should be at
least ``unit_delay_s + linger_s`` for closed calls to be shown closed for
``linger_s``; pruned earlier, they just disappear sooner.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from collector.fleet import FleetState
from collector.incidents import IncidentBook
from collector.public.feed import serialize
from collector.public.history import CallKey, PublishedCall, call_fates, record
from collector.public.history_store import PublicHistoryError, PublicHistoryWriter
from collector.public.policy import Snapshot, UnitInput, snapshot, units_as_of
from collector.public.settings import PublicSettings, read_secret
from collector.public.state import PublicState, PublicStateError
from collector.storeapi import CollectorStore
from common.fix import Fix
from common.tomlconfig import ConfigError
from common.wire import DutyStatus, Incident, IncidentStatus, Topics

__all__ = [
    "CALLS_FILE",
    "UNITS_FILE",
    "FeedInputs",
    "PublicPublisher",
    "Source",
    "feed_incidents",
    "live_source",
    "load_state",
    "store_source",
    "unit_inputs",
    "write_atomic",
]

log = logging.getLogger(__name__)

UNITS_FILE: Final = "units.geojson"
CALLS_FILE: Final = "calls.geojson"
_PUBLIC_MODE: Final = 0o644
_PRIVATE_MODE: Final = 0o600
# Slack past the moment the policy drops a closed call, before the shell stops
# passing it (minute flooring, a slow tick).
_CLOSED_SLACK_S: Final = 120


@dataclass(frozen=True, slots=True)
class FeedInputs:
    """What the collector knows, for one snapshot."""

    positions: Mapping[str, Fix]  # each unit's last fix at or before the units' as_of
    statuses: Mapping[str, DutyStatus | None]  # duty status now (None: unknown)
    incidents: Sequence[Incident]  # as known now, closed ones included
    closed_at: Mapping[str, dt.datetime] = field(default_factory=dict)  # when each closed one was seen closed


# Given ``now`` and the units' as_of, what the collector knows.
Source = Callable[[dt.datetime, dt.datetime], Awaitable[FeedInputs]]


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


async def _positions(store: CollectorStore, as_of: dt.datetime) -> dict[str, Fix]:
    return {stored.fix.unit: stored.fix.fix for stored in await store.latest_at(as_of.timestamp())}


def live_source(store: CollectorStore, fleet: FleetState, book: IncidentBook) -> Source:
    """Positions from the store's history; statuses and incidents as the running service knows them."""

    async def gather(now: dt.datetime, as_of: dt.datetime) -> FeedInputs:
        positions = await _positions(store, as_of)
        statuses = {view.unit: view.duty for view in fleet.views(now.timestamp())}
        entries = list(book)
        closed = {e.incident.id: _utc(e.closed_at) for e in entries if e.closed_at is not None}
        return FeedInputs(positions, statuses, [e.incident for e in entries], closed)

    return gather


def store_source(store: CollectorStore) -> Source:
    """Everything from the database alone: statuses and incidents as last saved."""

    async def gather(now: dt.datetime, as_of: dt.datetime) -> FeedInputs:
        positions = await _positions(store, as_of)
        saved = await store.snapshot(now=now.timestamp(), window_s=0.0)
        statuses = {unit: status for unit, status, _ in saved.statuses}
        incidents = [incident for incident, _ in saved.incidents]
        # The store keeps an incident's last update time; for a closed one, when it closed.
        closed = {i.id: _utc(t) for i, t in saved.incidents if i.status is IncidentStatus.CLOSED}
        return FeedInputs(positions, statuses, incidents, closed)

    return gather


def unit_inputs(inputs: FeedInputs) -> list[UnitInput]:
    """Every unit known by position or status. A unit without a known duty
    status is treated as unavailable (never shown): the feed fails closed."""
    units = sorted(set(inputs.positions) | set(inputs.statuses))
    return [
        UnitInput(
            unit,
            inputs.statuses.get(unit) or DutyStatus.UNAVAILABLE,
            (fix,) if (fix := inputs.positions.get(unit)) is not None else (),
        )
        for unit in units
    ]


def feed_incidents(
    settings: PublicSettings, now: dt.datetime, inputs: FeedInputs, state: PublicState
) -> tuple[list[Incident], PublicState]:
    """The incidents to give the policy, and its state told when calls it has
    not seen yet closed (after a restart, the database knows; the policy would
    otherwise take "now" and show a long-closed call as open for a delay).
    Calls closed too long ago for the policy to show are left out, so neither
    the inputs nor the state grow with the database's history."""
    policy = settings.policy
    horizon = now - dt.timedelta(
        seconds=max(policy.unit_delay_s, policy.call_delay_s) + policy.linger_s + _CLOSED_SLACK_S
    )
    closed_seen = dict(state.closed_seen)
    incidents = []
    for incident in inputs.incidents:
        if incident.status is IncidentStatus.CLOSED:
            closed = closed_seen.get(incident.id) or inputs.closed_at.get(incident.id)
            if closed is not None and closed < horizon:
                continue
            if closed is not None:
                closed_seen[incident.id] = closed
        incidents.append(incident)
    return incidents, replace(state, closed_seen=closed_seen)


def write_atomic(path: Path, data: bytes, *, mode: int = _PUBLIC_MODE) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old file or the new
    one, never a part: a temporary file in the same directory, fsync, rename,
    fsync of the directory (so the rename survives a power cut)."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)  # mkstemp makes 0600; fchmod is not subject to the umask
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load_state(path: Path) -> PublicState:
    """The saved policy state, or a fresh one (no file yet, or unreadable: the
    policy then hides units until it has watched them for a delay)."""
    try:
        return PublicState.from_json(path.read_bytes())
    except FileNotFoundError:
        return PublicState()
    except (OSError, PublicStateError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        log.warning("public feed: cannot use the saved state %s (%s); starting afresh", path, reason)
        return PublicState()


class PublicPublisher:
    """One feed: the policy's state, and the files and topics it writes."""

    def __init__(
        self,
        settings: PublicSettings,
        topics: Topics,
        source: Source,
        secret: bytes,
        state: PublicState | None = None,
        history: PublicHistoryWriter | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.source = source
        self._secret = secret
        self.state = state or PublicState()
        self.last: Snapshot | None = None
        self._written: dict[Path, bytes] = {}
        self.history = history
        self._withdrawn: frozenset[str] = frozenset()  # suppressed tokens already withdrawn from the history
        # Told the bytes of each snapshot once published (the public site serves them).
        self.listeners: list[Callable[[bytes, bytes], None]] = []
        self._shown_calls: dict[CallKey, PublishedCall] = (
            history.shown_calls(dt.datetime.now(dt.UTC)) if history is not None else {}
        )

    @classmethod
    def start(
        cls, settings: PublicSettings, topics: Topics, source: Source, *, with_history: bool = True
    ) -> PublicPublisher:
        """Read the secret and the saved state, open the public history; ConfigError
        when the secret is unusable. ``with_history=False``: a preview, which writes nothing."""
        if settings.secret_file is None:
            raise ConfigError("[public] secret_file is required to publish the public feed")
        secret, state = read_secret(settings.secret_file), load_state(settings.state_file)
        history = None
        if with_history:
            try:
                history = PublicHistoryWriter.open(settings.history_path)
            except (PublicHistoryError, OSError, sqlite3.Error) as exc:
                raise ConfigError(f"cannot open the public history: {exc}", path=settings.history_path) from None
        return cls(settings, topics, source, secret, state, history)

    def close(self) -> None:
        if self.history is not None:
            self.history.close()

    async def compute(self, now: dt.datetime) -> tuple[Snapshot, PublicState]:
        """The snapshot at ``now`` and the state after it; changes nothing (preview)."""
        snap, state, _ = await self._compute(now)
        return snap, state

    async def _compute(self, now: dt.datetime) -> tuple[Snapshot, PublicState, list[Incident]]:
        inputs = await self.source(now, units_as_of(self.settings.policy, now))
        incidents, state = feed_incidents(self.settings, now, inputs, self.state)
        snap, state = snapshot(self.settings.policy, state, now, unit_inputs(inputs), incidents, self._secret)
        return snap, state, list(inputs.incidents)

    async def tick(self, now: dt.datetime) -> list[tuple[str, bytes]]:
        """One snapshot: save the state, write the files, return the retained messages.

        The state is saved before anything is published, so a crash in
        between never makes a restarted feed forget a cell it already showed
        (hysteresis would otherwise restart from a stale cell).
        """
        snap, state, incidents = await self._compute(now)
        self.state, self.last = state, snap
        units, calls = serialize(snap.units), serialize(snap.calls)
        await asyncio.to_thread(self._save, state.to_json(), units, calls)
        if self.history is not None:
            fates = call_fates(self.settings.policy, incidents, self._secret)
            update = record(self._shown_calls, snap.calls, fates)
            # A suppressed call the collector still knows is withdrawn once, not at every tick
            # (each commit would also invalidate the site's cached trends).
            update = replace(update, withdrawn=update.withdrawn - self._withdrawn)
            await asyncio.to_thread(self.history.apply, update, now)
            self._shown_calls = dict(update.shown)  # only once stored: a failed write is redone next tick
            self._withdrawn = (self._withdrawn | update.withdrawn) & fates.suppressed
        for listener in self.listeners:
            listener(units, calls)
        return [(self.topics.public_units, units), (self.topics.public_calls, calls)]

    def _save(self, state: bytes, units: bytes, calls: bytes) -> None:
        files = [(self.settings.state_file, state, _PRIVATE_MODE)]
        if self.settings.public_dir is not None:
            files += [
                (self.settings.public_dir / UNITS_FILE, units, _PUBLIC_MODE),
                (self.settings.public_dir / CALLS_FILE, calls, _PUBLIC_MODE),
            ]
        for path, data, mode in files:
            if self._written.get(path) == data:
                continue  # unchanged (calls often are): no fsync
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, mode=mode)
            self._written[path] = data
