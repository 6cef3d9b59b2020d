"""``activecalls-agent check``: what a technician runs after installing a car.

Opens the GPS source with the real settings (sentence types per second, fix,
satellites, HDOP), logs in to the broker with the real credentials and TLS,
and checks that the outbox can be written, with its backlog. Each check is a
:class:`CheckResult`; :func:`format_report` (pure) turns them into the ✓/✗
table, every ✗ with a hint saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from agent.config import AgentConfig, GpsSettings, OutboxSettings
from agent.decoder import NmeaDecoder
from agent.outbox import Outbox, OutboxError
from agent.source import OpenFailure, describe_open_error, open_port, read_available
from common import checkreport
from common.checkreport import CheckResult, broker_failure
from common.fix import Fix
from common.mqtt import MqttConnection, MqttError, MqttSettings
from common.tomlconfig import ConfigError

__all__ = ["CheckResult", "GpsSample", "format_report", "gps_results", "run_checks"]

_OPEN_HINTS: Final = {
    OpenFailure.MISSING: "device missing: is the receiver plugged in? List candidates with "
    "`ls -l /dev/serial/by-id/` and set [gps] port to one of them",
    OpenFailure.PERMISSION: "permission denied: the agent's user must be in the dialout group "
    "(`sudo usermod -aG dialout USER`, then log in again or restart the service)",
    OpenFailure.BUSY: "another program holds the device (gpsd? ModemManager?): stop it or give the agent its own port",
    OpenFailure.UNREACHABLE: "the NMEA forwarder did not answer: check the router's NMEA-over-TCP setting, "
    "its address and port",
    OpenFailure.BAD_URL: "[gps] port must be a device path or a pyserial URL (socket://host:port, rfc2217://host:port)",
    OpenFailure.OTHER: "check [gps] port and the cable",
}


@dataclass(frozen=True, slots=True)
class GpsSample:
    """What a few seconds of reading the receiver gave."""

    seconds: float
    bytes: int
    sentence_types: dict[str, int]
    fixes: int
    last_fix: Fix | None


def format_report(config: AgentConfig, results: Sequence[CheckResult]) -> str:
    """The ✓/✗ table a technician reads. Pure."""
    heading = [f"Active Calls agent check: unit {config.unit}, fleet {config.fleet}", f"config {config.path}"]
    return checkreport.format_report(heading, results)


def gps_results(gps: GpsSettings, sample: GpsSample) -> list[CheckResult]:
    """Judge a sample of the receiver's output (device already opened). Pure."""
    results = []
    if sample.bytes == 0:
        results.append(
            CheckResult(
                "gps data", False, f"no data in {sample.seconds:g} s",
                "no data: is the receiver powered and is this its data port? "
                "Some receivers (u-blox) have two ports; a socket:// router must be set to forward NMEA",
            )
        )  # fmt: skip
        return results
    if not sample.sentence_types:
        results.append(
            CheckResult(
                "gps data", False, f"{sample.bytes} bytes in {sample.seconds:g} s but no valid NMEA sentence",
                f"wrong baud rate? [gps] baud is {gps.baud}; receivers use 4800, 9600, 38400 or 115200. "
                "Or the receiver is set to a binary protocol only (UBX, SiRF binary)",
            )
        )  # fmt: skip
        return results
    rates = "  ".join(f"{name} {count / sample.seconds:.1f}/s" for name, count in sorted(sample.sentence_types.items()))
    results.append(CheckResult("gps data", True, rates))
    fix = sample.last_fix
    if fix is None:
        results.append(
            CheckResult(
                "gps fix", False, f"no fix in {sample.seconds:g} s",
                "no fix: the antenna needs a clear view of the sky (roof, not under metal); "
                "after a cold start a receiver can take several minutes",
            )
        )  # fmt: skip
    else:
        sats = "?" if fix.sats is None else str(fix.sats)
        hdop = "?" if fix.hdop is None else f"{fix.hdop:g}"
        where = f"{fix.lat:.5f} {fix.lon:.5f}"
        results.append(CheckResult("gps fix", True, f"{fix.mode}D fix, {sats} satellites, HDOP {hdop}, at {where}"))
    return results


def _read_sample(gps: GpsSettings, seconds: float) -> tuple[CheckResult, GpsSample | None]:
    """Open the port and read for ``seconds`` (blocking: run in a thread)."""
    try:
        port = open_port(gps.port, gps.baud)
    except Exception as exc:  # pyserial raises SerialException, OSError or ValueError
        kind, reason = describe_open_error(exc)
        return CheckResult("gps device", False, f"{gps.port}: {reason}", _OPEN_HINTS[kind]), None
    decoder = NmeaDecoder(week_rollover_reference=gps.week_rollover_reference, count_types=True)
    total = fixes = 0
    last_fix = None
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            data = read_available(port)
            total += len(data)
            for fix in decoder.feed(data):
                fixes += 1
                last_fix = fix
    except Exception as exc:  # unplugged during the check
        return CheckResult("gps device", False, f"{gps.port}: read failed: {exc}", _OPEN_HINTS[OpenFailure.OTHER]), None
    finally:
        with contextlib.suppress(Exception):
            port.close()
    for fix in decoder.finish():
        fixes += 1
        last_fix = fix
    device = CheckResult("gps device", True, f"{gps.port} opened at {gps.baud} baud")
    types = dict(decoder.sentence_types or {})
    return device, GpsSample(seconds, total, types, fixes, last_fix)


async def check_gps(gps: GpsSettings, seconds: float) -> list[CheckResult]:
    device, sample = await asyncio.to_thread(_read_sample, gps, seconds)
    return [device] if sample is None else [device, *gps_results(gps, sample)]


async def check_broker(settings: MqttSettings, unit: str) -> CheckResult:
    # Another client id than the running agent's, or the broker would drop the agent's session.
    client_id = f"{settings.client_id or unit}-check"
    what = (
        f"MQTT {settings.protocol}"
        + (", TLS" if settings.tls else "")
        + (f", user {settings.username}" if settings.username else "")
    )
    try:
        connection = MqttConnection(settings, client_id=client_id)
        await connection.connect()
    except (MqttError, ConfigError) as exc:
        return broker_failure(exc, network="the mobile data link (APN, SIM)", identity="this unit", account="this unit")
    await connection.disconnect(timeout=1.0)
    return CheckResult("broker", True, f"{settings.url} accepted {client_id} ({what})")


def _writable(path: Path) -> str | None:
    """Why the outbox file could not be written, or None if it can."""
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            return f"{path} is not writable by this user"
        folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable by this user"
    return None


async def check_outbox(settings: OutboxSettings) -> CheckResult:
    path = settings.path
    problem = _writable(path)
    hint = (
        "the folder must be writable by the agent's user (systemd's StateDirectory= does it); "
        "run check as that user: sudo -u USER activecalls-agent check"
    )
    if problem:
        return CheckResult("outbox", False, problem, hint)
    if not path.exists():
        return CheckResult("outbox", True, f"{path} will be created; backlog 0 fixes")
    try:
        outbox = await Outbox.open(path, readonly=True)
    except OutboxError as exc:
        return CheckResult("outbox", False, str(exc), "keep the file (it holds unsent fixes) and report it")
    try:
        stats = await outbox.stats()
    finally:
        await outbox.close()
    detail = f"{path} writable; backlog {stats.backlog} fixes"
    if stats.dropped:
        detail += f", {stats.dropped} thinned when full"
    return CheckResult("outbox", True, detail)


async def run_checks(config: AgentConfig, gps_seconds: float) -> list[CheckResult]:
    """Every check, GPS and broker at once (the GPS one takes ``gps_seconds``)."""
    gps, broker, outbox = await asyncio.gather(
        check_gps(config.gps, gps_seconds), check_broker(config.mqtt, config.unit), check_outbox(config.outbox)
    )
    return [CheckResult("config", True, f"{config.path} read, every key valid"), *gps, broker, outbox]
