"""The work behind ``activecalls-collector``'s commands (the click module only parses).

Commands that change something publish to the broker, as a CAD integration
would (retained incident and status topics); the running collector takes it
from there. Commands that show something read the collector's database and
compute at the present moment, so fix ages and stale flags are those of now,
never of when something was last published.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

import psycopg

from collector.arrivals import Arrival
from collector.calibrate import Calibration, DriveSamples, Track, calibrate, cut_at_arrival, drive_samples, evaluate
from collector.config import CollectorConfig
from collector.deadletters import DeadLetter
from collector.eta import EtaEngine, TravelModel
from collector.export import ExportFormat, formatter
from collector.fleet import FleetState
from collector.incidents import IncidentBook, conflicts, same_call
from collector.router import configured_router, route_all, router_candidates
from collector.store import Store, StoreError
from collector.storeapi import CollectorStore, open_store
from common.checkreport import CheckResult, broker_failure, format_report
from common.errors import ActiveCallsError
from common.mqtt import ConnectionLostError, MqttConnection, MqttError, MqttSettings, tls_context
from common.tomlconfig import ConfigError
from common.wire import (
    DutyStatus,
    EtaReport,
    Incident,
    Topics,
    WireError,
    decode_incident,
    encode_incident,
    encode_status,
)

__all__ = [
    "CommandError",
    "CheckResult",
    "State",
    "arrivals",
    "calibrate_from_store",
    "change_dead_letters",
    "dead_letter",
    "dead_letters",
    "export",
    "fetch_incident",
    "load_state",
    "open_incident",
    "publish_incident",
    "retained_incident",
    "publish_status",
    "reports",
    "run_checks",
]


T = TypeVar("T")


class CommandError(ActiveCallsError):
    """A command could not do its work (broker down, no database, nothing found); one line."""


def cli_settings(config: CollectorConfig) -> MqttSettings:
    """The command line's login: its own identity ([cli]), never the service's session.

    With the service on a client certificate, the command line must have its
    own ([cli] cert_file, key_file): a broker that makes the CN the client id
    would otherwise hand the command the running collector's session (and a
    clean start would discard the positions queued for it).
    """
    service, cli = config.mqtt, config.cli
    if service.cert_file is not None and cli.cert_file is None:
        raise CommandError(
            f"{config.path}: [cli] cert_file and key_file are not set: the command line needs its own "
            "certificate (CN collector-cli; deploy/pki/make-lab-pki makes one for a lab), because the "
            "collector's own would take over the running collector's session"
        )
    timeout = min(service.connect_timeout_s, 5.0)
    return dataclasses.replace(
        service,
        # A broker that does not take the client id from the certificate or login
        # uses this one: still never the service's.
        client_id=f"{service.client_id}-cli-{os.getpid()}",
        connect_timeout_s=timeout,
        cert_file=cli.cert_file or service.cert_file,
        key_file=cli.key_file or service.key_file,
        username=cli.username or service.username,
        password_file=cli.password_file if cli.username else service.password_file,
    )


@contextlib.asynccontextmanager
async def _session(config: CollectorConfig, **kwargs: object) -> AsyncIterator[MqttConnection]:
    connection = MqttConnection(cli_settings(config), **kwargs)  # type: ignore[arg-type]
    try:
        await connection.connect()
    except (MqttError, ConfigError) as exc:
        raise CommandError(str(exc)) from None
    try:
        yield connection
    finally:
        await connection.disconnect()


async def _taking_turns(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run ``attempt`` again when its session was lost midway. Every command logs
    in with the one command-line identity, and the broker keeps one session per
    client id: two commands at once take the session from each other ("Session
    taken over"), so each retries after a short random pause. What they do
    (publish a retained message, read one) can be done twice."""
    for pause in (0.1, 0.3, 0.6):
        try:
            return await attempt()
        except _SessionLost:
            await asyncio.sleep(pause + random.uniform(0, pause))
    return await attempt()


class _SessionLost(Exception):
    """The session ended under a command (another command took it)."""


async def _publish(config: CollectorConfig, topic: str, payload: bytes) -> None:
    async def attempt() -> None:
        async with _session(config) as connection:
            try:
                await asyncio.wait_for(connection.publish(topic, payload, qos=1, retain=True), 5.0)
            except ConnectionLostError:
                raise _SessionLost from None
            except (MqttError, TimeoutError) as exc:
                raise CommandError(f"publish to {topic} failed: {exc or 'no acknowledgement within 5 s'}") from None

    try:
        await _taking_turns(attempt)
    except _SessionLost:
        raise CommandError(f"publish to {topic} failed: the session kept being taken over") from None


async def publish_incident(config: CollectorConfig, incident: Incident) -> None:
    await _publish(config, Topics(config.fleet).incident(incident.id), encode_incident(incident))


async def open_incident(config: CollectorConfig, incident: Incident) -> bool:
    """Publish a new incident unless its id is already open on the broker.

    The same call again (a resend: everything but ``opened`` equal) is left as
    it is (False); another call under an open incident's id is refused with a
    CommandError, as the collector would refuse it: ids are not reused while open.
    """
    current = await retained_incident(config, incident.id)
    if current is not None and conflicts(current, incident):
        if same_call(current, incident):
            return False
        raise CommandError(
            f"incident {incident.id} is already open ({current.type}, priority {current.priority}, opened "
            f"{current.opened:%Y-%m-%d %H:%M:%SZ}): close it first, or open this one under another id "
            "(without --id one is made that cannot collide)"
        )
    await publish_incident(config, incident)
    return True


async def publish_status(config: CollectorConfig, unit: str, status: DutyStatus) -> None:
    await _publish(config, Topics(config.fleet).status(unit), encode_status(status))


async def retained_incident(config: CollectorConfig, incident_id: str) -> Incident | None:
    """The incident as its retained topic on the broker says (None: no such topic).

    No guessing how long to wait for a retained message that may not exist:
    the broker answers subscriptions in order and sends a topic's retained
    message right after its SUBACK, so once a second SUBACK for the same topic
    is in, the first one's retained message, if there was one, is too.
    """
    topic = Topics(config.fleet).incident(incident_id)
    found: list[bytes] = []

    def on_message(received_topic: str, payload: bytes) -> None:
        if received_topic == topic:
            found.append(payload)

    async def attempt() -> None:
        found.clear()
        async with _session(config, on_message=on_message) as connection:
            try:
                await connection.subscribe(topic, 1)
                await connection.subscribe(topic, 1)
            except ConnectionLostError:
                raise _SessionLost from None
            except MqttError as exc:
                raise CommandError(f"cannot read {topic} on the broker: {exc}") from None

    try:
        await _taking_turns(attempt)
    except _SessionLost:
        raise CommandError(f"cannot read {topic} on the broker: the session kept being taken over") from None
    if not found or not found[0]:
        return None
    try:
        return decode_incident(found[0], incident_id=incident_id)
    except WireError as exc:
        raise CommandError(f"incident {incident_id} on the broker is not valid: {exc}") from None


async def fetch_incident(config: CollectorConfig, incident_id: str) -> Incident:
    """The incident as its retained topic on the broker says; CommandError if there is none."""
    incident = await retained_incident(config, incident_id)
    if incident is None:
        topic = Topics(config.fleet).incident(incident_id)
        raise CommandError(f"incident {incident_id} is not on the broker ({topic} has no retained message)")
    return incident


# -- reading the database -----------------------------------------------------------


async def _open_store(config: CollectorConfig) -> CollectorStore:
    if config.store.url is not None:  # PostgreSQL (docs/scale.md)
        try:
            return await open_store(config.store)
        except (StoreError, psycopg.Error, OSError) as exc:
            raise CommandError(f"store: {exc}") from None
    path = config.store.path
    if not path.exists():
        raise CommandError(f"{path}: no database (has the collector run with this configuration?)")
    try:
        return await Store.open(path, synchronous=config.store.synchronous)
    except (StoreError, OSError, ValueError) as exc:
        raise CommandError(f"{path}: {exc}") from None
    except sqlite3.Error as exc:  # sqlite3.DatabaseError: not a database
        raise CommandError(f"{path}: cannot open: {exc}") from None


@dataclass
class State:
    fleet: FleetState
    incidents: IncidentBook
    now: float


async def load_state(config: CollectorConfig) -> State:
    store = await _open_store(config)
    try:
        now = time.time()
        fleet, book = FleetState(config.staleness), IncidentBook()
        (await store.snapshot(now=now)).restore(fleet, book)
    finally:
        await store.close()
    return State(fleet, book, now)


def reports(config: CollectorConfig, state: State, incident_ids: Sequence[str] = ()) -> list[EtaReport]:
    """ETA reports of the open incidents (or of the ones named), computed now."""
    open_incidents = state.incidents.open()
    if incident_ids:
        known = {i.id: i for i in open_incidents}
        missing = [i for i in incident_ids if i not in known]
        if missing:
            raise CommandError(f"no open incident {', '.join(missing)}")
        open_incidents = [known[i] for i in incident_ids]
    engine = EtaEngine(config.eta.model, config.eta.policy)
    table = state.fleet.table(state.now)
    routes = None
    router = configured_router(config.router, config.eta.osm) if open_incidents else None
    if router is not None:
        routes = route_all(router, engine.route_requests(table, open_incidents, nearest=router_candidates(router)))
    return engine.reports(table, open_incidents, routes)


async def export(
    config: CollectorConfig,
    out: TextIO,
    fmt: ExportFormat,
    *,
    since: float | None,
    until: float | None,
    units: Sequence[str],
) -> int:
    store = await _open_store(config)
    count = 0
    try:
        writer = formatter(fmt)
        out.write(writer.header())
        order = "unit" if fmt is ExportFormat.GPX else "time"
        async for stored in store.iter_fixes(since=since, until=until, units=units, order=order):
            out.write(writer.row(stored))
            count += 1
        out.write(writer.footer())
    finally:
        await store.close()
    return count


# -- dead letters -------------------------------------------------------------------------


async def dead_letters(config: CollectorConfig, *, limit: int) -> tuple[list[DeadLetter], int]:
    store = await _open_store(config)
    try:
        return await store.dead_letters(limit=limit), await store.count_dead_letters()
    finally:
        await store.close()


async def dead_letter(config: CollectorConfig, letter_id: int) -> DeadLetter:
    store = await _open_store(config)
    try:
        found = await store.dead_letters(letter_id=letter_id)
    finally:
        await store.close()
    if not found:
        raise CommandError(f"no dead letter {letter_id} (activecalls-collector dead-letters lists them)")
    return found[0]


async def change_dead_letters(config: CollectorConfig, ids: Sequence[int] | None, *, drop: bool) -> int:
    """Ask for replay (or drop) of these dead letters (None: all); how many there were."""
    store = await _open_store(config)
    try:
        if drop:
            changed = await store.drop_dead_letters(ids)
        else:
            changed = await store.mark_dead_letters(ids, replay=True)
    finally:
        await store.close()
    if ids is not None and changed < len(set(ids)):
        raise CommandError(f"only {changed} of the {len(set(ids))} dead letters named exist")
    return changed


async def arrivals(config: CollectorConfig, *, since: float | None = None) -> list[Arrival]:
    """The arrivals the collector measured (``eta report``)."""
    store = await _open_store(config)
    try:
        return await store.arrivals(since=since)
    finally:
        await store.close()


# -- calibration from the history -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalibrationReport:
    drives: int
    calibration: Calibration
    default_error: str

    def lines(self, priority: int) -> list[str]:
        c = self.calibration
        p = c.profile
        return [
            f"drives to incidents found: {self.drives}",
            f"fitted: {c}",
            f"default model on the same points: {self.default_error}",
            f"to use it, in [eta]: circuity = {c.circuity:.3f}; priority {priority} of "
            f"cruise_mps = {p.cruise_mps:g}, accel_mps2 = {p.accel_mps2:g}",
        ]


async def calibrate_from_store(
    config: CollectorConfig, *, priority: int, since: float | None, max_drive_s: float = 3600.0
) -> CalibrationReport:
    """Drives that ended at an incident: from a unit's first assignment to its
    first fix within 100 m of the incident; fit the model to them."""
    store = await _open_store(config)
    try:
        assigned: dict[tuple[str, str], float] = {}
        where: dict[str, Incident] = {}
        for incident_id, received, incident in await store.incident_log(since=since):
            if incident is None:
                continue
            where[incident_id] = incident
            for unit in incident.units:
                assigned.setdefault((incident_id, unit), received)
        parts: list[DriveSamples] = []
        for (incident_id, unit), start in sorted(assigned.items(), key=lambda kv: kv[1]):
            incident = where[incident_id]
            points = [
                (s.fix.fix.time.timestamp(), s.fix.fix.lat, s.fix.fix.lon)
                async for s in store.iter_fixes(since=start, until=start + max_drive_s, units=[unit])
            ]
            if len(points) < 2:
                continue
            drive = cut_at_arrival(Track.from_points(points), incident.lat, incident.lon, start=start)
            if drive is not None:
                samples = drive_samples(drive.without_jumps())
                if len(samples):
                    parts.append(samples)
    finally:
        await store.close()
    if not parts:
        raise CommandError("no recorded drive ended at an incident it was assigned to: nothing to calibrate from")
    samples = DriveSamples.concat(parts)
    try:
        fitted = calibrate(samples)
    except ValueError as exc:
        raise CommandError(f"{len(parts)} drives found, but {exc}") from None
    usable = samples.geodesic_m >= 200.0
    default = TravelModel().travel_time(samples.geodesic_m[usable], priority)
    return CalibrationReport(len(parts), fitted, str(evaluate(default, samples.remaining_s[usable])))


# -- check ---------------------------------------------------------------------------------


async def _probe_store(opening: Awaitable[CollectorStore]) -> tuple[str, int, int]:
    """(what it is named by, schema version, fixes stored) of a store that must take a write."""
    store = await opening
    try:
        version = await store.schema_version()
        fixes = await store.count_fixes()
        await store.check_writable()
    finally:
        await store.close()
    return str(store.path), version, fixes


async def _check_postgres(config: CollectorConfig) -> CheckResult:
    try:
        name, version, fixes = await _probe_store(open_store(config.store))
    except Exception as exc:  # any failure is the answer to the question
        return CheckResult("database", False, f"{exc}", "check [store] url, the server, and the user's rights")
    return CheckResult("database", True, f"{name}: writable, schema {version}, {fixes} fixes")


async def _check_database(path: Path) -> CheckResult:
    as_user = (
        "the service's user must own it (systemd's StateDirectory= does it); run check as that user: "
        "sudo -u activecalls activecalls-collector check"
    )
    if path.exists():
        try:
            _name, version, fixes = await _probe_store(Store.open(path))
        except Exception as exc:  # any failure is the answer to the question
            return CheckResult(
                "database", False, f"{path}: {exc}",
                f"keep the file (it holds the fleet's history) and check its owner and free space; {as_user}",
            )  # fmt: skip
        return CheckResult("database", True, f"{path}: writable, schema {version}, {fixes} fixes")
    parent = path.parent
    if not parent.is_dir():
        hint = f"create it, or set [store] path; {as_user}"
        return CheckResult("database", False, f"{parent}: no such directory", hint)
    if not os.access(parent, os.W_OK | os.X_OK):
        return CheckResult("database", False, f"{parent}: not writable by this user (uid {os.getuid()})", as_user)
    return CheckResult("database", True, f"{path}: will be created (directory writable)")


async def _check_broker(config: CollectorConfig) -> CheckResult:
    """Log in as the command line (never as the service: on the rendered broker
    that would take over the running collector's session) and read incidents."""
    topic_filter = Topics(config.fleet).incidents_filter
    try:
        settings = cli_settings(config)
        connection = MqttConnection(settings)
        await connection.connect()
    except CommandError as exc:
        hint = "add a [cli] section to the config (deploy/collector.example.toml)"
        return CheckResult("broker", False, str(exc), hint)
    except (MqttError, ConfigError) as exc:
        return broker_failure(
            exc, network="the network to the broker", identity="the command line's ([cli])",
            account="the command line's account (collector-cli)",
        )  # fmt: skip
    try:
        await connection.subscribe(topic_filter, 1)
    except MqttError as exc:
        return CheckResult(
            "broker", False, f"{config.mqtt.url}: {exc}",
            f"the broker's ACL must let the command line read and write ac/v1/{config.fleet}/incidents/+ "
            "(deploy/mosquitto/services.acl.in: user collector-cli)",
        )  # fmt: skip
    finally:
        await connection.disconnect()
    who = "its own certificate" if config.cli.cert_file else f"client id {settings.client_id}"
    return CheckResult("broker", True, f"{config.mqtt.url}: the command line logged in ({who}), incidents readable")


def _check_service_identity(config: CollectorConfig) -> CheckResult | None:
    """The service's own certificate and key, loaded but not used to log in."""
    if config.mqtt.cert_file is None:
        return None
    try:
        tls_context(config.mqtt)
    except ConfigError as exc:
        return CheckResult(
            "identity", False, str(exc),
            "[mqtt] cert_file and key_file: the collector's certificate (CN collector) and its key, "
            "readable by the service's user only (install -m 0640 -g activecalls)",
        )  # fmt: skip
    return CheckResult(
        "identity", True,
        f"{config.mqtt.cert_file}: certificate and key load and match (not logged in with: that would "
        "take over the running collector's session)",
    )  # fmt: skip


async def run_checks(config: CollectorConfig) -> list[CheckResult]:
    identity = _check_service_identity(config)
    return [
        CheckResult("config", True, f"{config.path} read, every key valid"),
        *([identity] if identity is not None else []),
        await _check_broker(config),
        await (_check_database(config.store.path) if config.store.url is None else _check_postgres(config)),
    ]


def format_checks(config: CollectorConfig, results: Sequence[CheckResult]) -> str:
    """The ✓/✗ table, as ``activecalls-agent check`` prints its own. Pure."""
    heading = [f"Active Calls collector check: fleet {config.fleet}", f"config {config.path}"]
    return format_report(heading, results)
