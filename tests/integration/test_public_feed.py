"""The public feed end to end: a real SQLite store filled over half an hour of
simulated time, the publisher ticking every 30 s (time passed in, no
sleeping), its retained snapshots published as the collector on the broker
configuration of deploy/mosquitto/, and an anonymous WebSockets reader
collecting ``public/#``. What the reader received is checked with the same
checker as the policy's properties, and against the units' true positions.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.fleet import FleetState
from collector.incidents import IncidentBook
from collector.public import PublicPolicy, grid_for, parse_minute, unit_pseudonym, utm_epsg
from collector.public.grid import inset
from collector.public.settings import PublicSettings
from collector.public.shell import CALLS_FILE, UNITS_FILE, PublicPublisher, live_source
from collector.store import Store, WriteBatch
from common.fix import Fix
from common.wire import DutyStatus, Incident, IncidentStatus, Topics, WireFix
from tests.integration.secure_broker import Message, SecureBroker, make_lab_pki, start_secure_broker
from tests.public_checks import check_absent, check_calls, check_units

pytestmark = pytest.mark.integration

FLEET = "pubfleet"
TOPICS = Topics(FLEET)
SECRET = b"5f4dcc3b5aa765d61d8327deb882cf99"
T0 = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
MINUTES = 30
TICK_S = 30
FIX_S = 10
ORIGIN = (53.235, -1.421)
POLICY = PublicPolicy()  # the defaults: 900 s for units, 600 s for calls, 500 m cells


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@dataclass(frozen=True)
class Car:
    unit: str
    heading_deg: float
    speed_mps: float
    statuses: tuple[tuple[float, DutyStatus | None], ...]  # (from minute, status)

    def position(self, t: dt.datetime) -> tuple[float, float]:
        s = (t - T0).total_seconds() * self.speed_mps
        north = s * math.cos(math.radians(self.heading_deg))
        east = s * math.sin(math.radians(self.heading_deg))
        lat = ORIGIN[0] + north / 111_320
        return lat, ORIGIN[1] + east / (111_320 * math.cos(math.radians(ORIGIN[0])))

    def status(self, t: dt.datetime) -> DutyStatus | None:
        current = None
        for start, status in self.statuses:
            if at(start) <= t:
                current = status
        return current


CARS = (
    Car("PC-101", 80, 11.0, ((0, DutyStatus.AVAILABLE),)),
    Car("PC-102", 200, 9.0, ((0, DutyStatus.AVAILABLE), (2, DutyStatus.ENROUTE), (5, DutyStatus.ONSCENE))),
    Car("PC-103", 30, 8.0, ((0, DutyStatus.UNAVAILABLE),)),  # on a break: never shown
    Car("PC-104", 320, 10.0, ((0, DutyStatus.AVAILABLE), (3, DutyStatus.ONSCENE))),  # at the domestic from 3 min
    Car("PC-105", 0, 0.0, ()),  # parked, no duty status known: never shown
)
# (minute received, incident)
INCIDENTS = (
    (2.0, Incident("INC-1", "Burglary Dwelling", 2, 53.232, -1.425, IncidentStatus.OPEN, at(2), ("PC-102",))),
    (3.0, Incident("INC-2", "Domestic Abuse", 1, 53.24, -1.43, IncidentStatus.OPEN, at(3), ("PC-104",))),
    (5.0, Incident("INC-3", "RTC", 2, 53.23, -1.40, IncidentStatus.OPEN, at(5))),
    (8.0, Incident("INC-1", "Burglary Dwelling", 2, 53.232, -1.425, IncidentStatus.CLOSED, at(2), ("PC-102",))),
)
SUPPRESSED_UNITS = {"PC-104": (3.0, None)}  # assigned to the domestic from minute 3, never released
SECRET_STRINGS = ["PC-1", "INC-", "Burglary", "Domestic", "RTC"]


@dataclass(frozen=True)
class Published:
    now: dt.datetime
    topic: str
    payload: bytes


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    pki = make_lab_pki(tmp_path_factory.mktemp("pki"), ())
    broker = start_secure_broker(tmp_path_factory.mktemp("broker"), FLEET, pki=pki)
    try:
        yield broker
    finally:
        broker.stop()


async def _feed(store: Store, fleet: FleetState, book: IncidentBook, start: dt.datetime, end: dt.datetime) -> None:
    """What the fleet and dispatch sent in (start, end], into the store and the live state, as the service does."""
    batch = WriteBatch()
    for index, car in enumerate(CARS):
        t = start + dt.timedelta(seconds=FIX_S)
        while t <= end:
            seq = int((t - T0).total_seconds()) // FIX_S + 10  # the first window starts before T0
            wire = WireFix(car.unit, seq, Fix(t, *car.position(t), speed=car.speed_mps, track=car.heading_deg, mode=3))
            fleet.apply_fixes(car.unit, [wire], t.timestamp())
            batch.add_fixes([wire], t.timestamp())
            t += dt.timedelta(seconds=FIX_S)
        before, now = car.status(start), car.status(end)
        if (start == T0 - dt.timedelta(seconds=TICK_S) or before != now) and now is not None:
            fleet.apply_status(car.unit, now, end.timestamp() - index)
            batch.statuses.append((car.unit, now, end.timestamp() - index))
    for minute, incident in INCIDENTS:
        if start < at(minute) <= end:
            book.apply(incident, at(minute).timestamp())
            batch.incidents.append((incident, at(minute).timestamp()))
    await store.write(batch)


def _run(tmp_path: Path, secure: SecureBroker) -> tuple[list[Published], list[Message], PublicSettings]:
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET)
    secret_file.chmod(0o600)
    settings = PublicSettings(True, POLICY, TICK_S, tmp_path / "www", secret_file, tmp_path / "state.json")
    collector = secure.probe("service", "services/collector")
    reader = secure.probe("public", None)  # anonymous, WebSockets, on the public broker
    reader.subscribe(f"public/v1/{FLEET}/#", qos=0)
    published: list[Published] = []

    async def drive() -> None:
        async with await Store.open(tmp_path / "collector.sqlite", synchronous="NORMAL") as store:
            fleet, book = FleetState(), IncidentBook()
            publisher = PublicPublisher.start(settings, TOPICS, live_source(store, fleet, book))
            previous = T0 - dt.timedelta(seconds=TICK_S)
            for k in range(MINUTES * 60 // TICK_S + 1):
                now = T0 + dt.timedelta(seconds=TICK_S * k)
                await _feed(store, fleet, book, previous, now)
                previous = now
                messages = await publisher.tick(now)
                collector.wait_acked([collector.publish(t, p, qos=1, retain=True) for t, p in messages])
                published.extend(Published(now, t, p) for t, p in messages)

    asyncio.run(drive())
    reader.pump_until(lambda: len(reader.messages) >= len(published), 10, "every snapshot")
    received = list(reader.messages)
    return published, received, settings


def _true_cell_ok(car: Car, as_of: dt.datetime, lat: float, lon: float) -> bool:
    """The shown cell is the car's cell at as_of, or a neighbour it has not
    gone hysteresis_m into yet (next_cell's rule)."""
    grid = grid_for(utm_epsg(*ORIGIN), POLICY.cell_m)
    shown = grid.cell_of(lat, lon)
    x, y = grid.project(*car.position(as_of))  # type: ignore[misc]
    here = grid.cell_at(x, y)
    assert shown is not None
    neighbour = max(abs(here[0] - shown[0]), abs(here[1] - shown[1])) == 1
    return here == shown or (neighbour and inset(grid, x, y) < POLICY.hysteresis)


def test_an_anonymous_reader_receives_only_what_the_policy_allows(tmp_path: Path, secure: SecureBroker) -> None:
    published, received, settings = _run(tmp_path, secure)
    grid = grid_for(utm_epsg(*ORIGIN), POLICY.cell_m)
    first_sent = {}
    for p in published:
        first_sent.setdefault((p.topic, p.payload), p.now)

    # Everything received was published by the collector, in order, and arrived.
    assert {m.topic for m in received} == {TOPICS.public_units, TOPICS.public_calls}
    assert [(m.topic, m.payload) for m in received if not m.retain] == [(p.topic, p.payload) for p in published]
    by_pseudonym = {unit_pseudonym(SECRET, car.unit, T0.date()): car for car in CARS}
    shown_units: dict[str, set[str]] = {}
    call_states: set[tuple[str, str]] = set()
    for m in received:
        now = first_sent[(m.topic, m.payload)]
        check_absent(m.payload, SECRET_STRINGS)
        doc = json.loads(m.payload)
        if m.topic == TOPICS.public_units:
            as_of = check_units(doc, policy=POLICY, grid=grid, now=now)
            for feature in doc["features"]:
                car = by_pseudonym[feature["properties"]["unit"]]
                lon, lat = feature["geometry"]["coordinates"]
                assert feature["properties"]["status"] == car.status(as_of), (car.unit, as_of)
                assert car.unit not in SUPPRESSED_UNITS or as_of < at(SUPPRESSED_UNITS[car.unit][0])
                assert _true_cell_ok(car, as_of, lat, lon), (car.unit, as_of)
                shown_units.setdefault(car.unit, set()).add(feature["properties"]["status"])
        else:
            as_of = check_calls(doc, policy=POLICY, grid=grid, now=now)
            for feature in doc["features"]:
                props = feature["properties"]
                assert parse_minute(props["opened"]) <= as_of
                call_states.add((props["category"], props["status"]))

    # Not vacuous: cars were shown, with their statuses changing; calls went through their states.
    assert shown_units == {
        "PC-101": {"available"},
        "PC-102": {"available", "enroute", "onscene"},
        "PC-104": {"available"},
    }
    # The burglary is open until its car is on scene as of the units' delay, then closed.
    assert call_states == {("burglary", s) for s in ("open", "attending", "closed")} | {("traffic", "open")}

    # The files hold exactly the last snapshot, as a reader connecting now gets it retained.
    last = {p.topic: p.payload for p in published}
    www = settings.public_dir
    assert www is not None
    assert (www / UNITS_FILE).read_bytes() == last[TOPICS.public_units]
    assert (www / CALLS_FILE).read_bytes() == last[TOPICS.public_calls]
    late = secure.probe("public", None)
    late.subscribe(f"public/v1/{FLEET}/#", qos=0)
    late.pump_until(lambda: len(late.messages) >= 2, 10, "retained snapshots")
    assert {(m.topic, m.payload) for m in late.messages} == set(last.items())
    assert all(m.retain for m in late.messages)
