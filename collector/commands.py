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
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from collector.arrivals import Arrival
from collector.calibrate import Calibration, DriveSamples, Track, calibrate, cut_at_arrival, drive_samples, evaluate
from collector.config import CollectorConfig
from collector.eta import EtaEngine, TravelModel
from collector.export import ExportFormat, formatter
from collector.fleet import FleetState
from collector.incidents import IncidentBook
from collector.router import configured_router, route_all, router_candidates
from collector.service import subscriptions
from collector.store import Store, StoreError
from common.checkreport import CheckResult, broker_failure, format_report
from common.errors import ActiveCallsError
from common.mqtt import MqttConnection, MqttError, MqttSettings
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
    "export",
    "fetch_incident",
    "load_state",
    "publish_incident",
    "publish_status",
    "reports",
    "run_checks",
]


class CommandError(ActiveCallsError):
    """A command could not do its work (broker down, no database, nothing found); one line."""


def _cli_settings(config: CollectorConfig) -> MqttSettings:
    # Never the collector's own client id: that would take over its persistent session.
    client_id = f"{config.mqtt.client_id}-cli-{os.getpid()}"
    timeout = min(config.mqtt.connect_timeout_s, 5.0)
    return dataclasses.replace(config.mqtt, client_id=client_id, connect_timeout_s=timeout)


@contextlib.asynccontextmanager
async def _session(config: CollectorConfig, **kwargs: object) -> AsyncIterator[MqttConnection]:
    connection = MqttConnection(_cli_settings(config), **kwargs)  # type: ignore[arg-type]
    try:
        await connection.connect()
    except (MqttError, ConfigError) as exc:
        raise CommandError(str(exc)) from None
    try:
        yield connection
    finally:
        await connection.disconnect()


async def _publish(config: CollectorConfig, topic: str, payload: bytes) -> None:
    async with _session(config) as connection:
        try:
            await asyncio.wait_for(connection.publish(topic, payload, qos=1, retain=True), 5.0)
        except (MqttError, TimeoutError) as exc:
            raise CommandError(f"publish to {topic} failed: {exc or 'no acknowledgement within 5 s'}") from None


async def publish_incident(config: CollectorConfig, incident: Incident) -> None:
    await _publish(config, Topics(config.fleet).incident(incident.id), encode_incident(incident))


async def publish_status(config: CollectorConfig, unit: str, status: DutyStatus) -> None:
    await _publish(config, Topics(config.fleet).status(unit), encode_status(status))


async def fetch_incident(config: CollectorConfig, incident_id: str, *, wait_s: float = 1.5) -> Incident:
    """The incident as its retained topic on the broker says (the current version)."""
    topic = Topics(config.fleet).incident(incident_id)
    found: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def on_message(received_topic: str, payload: bytes) -> None:
        if received_topic == topic and not found.done():
            found.set_result(payload)

    async with _session(config, on_message=on_message) as connection:
        try:
            await connection.subscribe(topic, 1)
            payload = await asyncio.wait_for(found, wait_s)
        except (MqttError, TimeoutError):
            payload = b""
    if not payload:
        raise CommandError(f"incident {incident_id} is not on the broker ({topic} has no retained message)")
    try:
        return decode_incident(payload, incident_id=incident_id)
    except WireError as exc:
        raise CommandError(f"incident {incident_id} on the broker is not valid: {exc}") from None


# -- reading the database -----------------------------------------------------------


async def _open_store(config: CollectorConfig) -> Store:
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


async def _check_database(path: Path) -> CheckResult:
    as_user = (
        "the service's user must own it (systemd's StateDirectory= does it); run check as that user: "
        "sudo -u activecalls activecalls-collector check"
    )
    if path.exists():
        try:
            store = await Store.open(path)
            try:
                version = await store.schema_version()
                fixes = await store.count_fixes()
                await store.check_writable()
            finally:
                await store.close()
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
    filters = subscriptions(Topics(config.fleet), config.ingest.shared_group)
    try:
        connection = MqttConnection(_cli_settings(config))
        await connection.connect()
    except (MqttError, ConfigError) as exc:
        return broker_failure(
            exc, network="the network to the broker", identity="the collector", account="the collector's account"
        )  # fmt: skip
    try:
        for topic_filter in filters:
            await connection.subscribe(topic_filter, 1)
    except MqttError as exc:
        return CheckResult(
            "broker", False, f"{config.mqtt.url}: {exc}",
            f"the broker's ACL must let the collector's account read ac/v1/{config.fleet}/# "
            "(deploy/mosquitto/services.acl.in: user collector)",
        )  # fmt: skip
    finally:
        await connection.disconnect()
    return CheckResult("broker", True, f"{config.mqtt.url}: logged in, {len(filters)} subscriptions accepted")


async def run_checks(config: CollectorConfig) -> list[CheckResult]:
    return [
        CheckResult("config", True, f"{config.path} read, every key valid"),
        await _check_broker(config),
        await _check_database(config.store.path),
    ]


def format_checks(config: CollectorConfig, results: Sequence[CheckResult]) -> str:
    """The ✓/✗ table, as ``activecalls-agent check`` prints its own. Pure."""
    heading = [f"Active Calls collector check: fleet {config.fleet}", f"config {config.path}"]
    return format_report(heading, results)
