"""The technician's ✓/✗ table, built from results by pure functions."""

from __future__ import annotations

import errno
from pathlib import Path

import serial

from agent.check import CheckResult, GpsSample, format_report, gps_results
from agent.config import AgentConfig, GpsSettings
from agent.source import OpenFailure, describe_open_error
from common.checkreport import broker_failure
from common.mqtt import AuthError, BrokerUnreachableError, ConnectionLostError, TlsError
from common.tomlconfig import ConfigError
from tests.agentkit import drive

CONFIG = AgentConfig("PC-101", "derbyshire", path=Path("/etc/activecalls/agent.toml"))


def test_table_with_hints_only_under_failures() -> None:
    text = format_report(
        CONFIG,
        [
            CheckResult("config", True, "/etc/activecalls/agent.toml read"),
            CheckResult("gps device", False, "/dev/ttyACM0: no such device", "device missing: plug it in"),
            CheckResult("broker", True, "mqtt://hq:1883 accepted PC-101-check", "never shown"),
        ],
    )
    assert text == (
        "Active Calls agent check: unit PC-101, fleet derbyshire\n"
        "config /etc/activecalls/agent.toml\n"
        "\n"
        "  ✓  config      /etc/activecalls/agent.toml read\n"
        "  ✗  gps device  /dev/ttyACM0: no such device\n"
        "                 hint: device missing: plug it in\n"
        "  ✓  broker      mqtt://hq:1883 accepted PC-101-check\n"
        "\n"
        "1 problem found\n"
    )
    assert format_report(CONFIG, [CheckResult("x", True, "y")]).endswith("\nall checks passed\n")


def test_gps_judgement() -> None:
    gps = GpsSettings()
    silent = gps_results(gps, GpsSample(5.0, 0, {}, 0, None))
    assert [(r.name, r.ok) for r in silent] == [("gps data", False)] and "no data" in silent[0].hint
    noise = gps_results(gps, GpsSample(5.0, 4800, {}, 0, None))
    assert not noise[0].ok and "baud" in noise[0].hint and "9600" in noise[0].hint
    no_fix = gps_results(gps, GpsSample(5.0, 2000, {"GPGGA": 5, "GPRMC": 5, "GPGSV": 15}, 0, None))
    assert no_fix[0].ok and no_fix[0].detail == "GPGGA 1.0/s  GPGSV 3.0/s  GPRMC 1.0/s"
    assert not no_fix[1].ok and "sky" in no_fix[1].hint
    fix = drive(1)[0]
    good = gps_results(gps, GpsSample(5.0, 2000, {"GPGGA": 5}, 5, fix))
    assert good[1].ok and good[1].detail.startswith("3D fix, 9 satellites, HDOP 0.9")


def test_open_errors_are_classified_as_a_technician_fixes_them() -> None:
    missing = serial.SerialException(errno.ENOENT, "could not open port /dev/ttyUSB9: [Errno 2] No such file")
    assert describe_open_error(missing)[0] is OpenFailure.MISSING
    denied = serial.SerialException(errno.EACCES, "could not open port /dev/ttyS0: [Errno 13] Permission denied")
    assert describe_open_error(denied) == (OpenFailure.PERMISSION, "permission denied")
    busy = serial.SerialException(errno.EBUSY, "could not open port: [Errno 16] Device or resource busy")
    assert describe_open_error(busy)[0] is OpenFailure.BUSY
    refused = serial.SerialException("Could not open port socket://10.0.0.1:4001: [Errno 111] Connection refused")
    assert describe_open_error(refused)[0] is OpenFailure.UNREACHABLE
    assert describe_open_error(ValueError("invalid URL, protocol 'foo' not known"))[0] is OpenFailure.BAD_URL


def test_every_broker_failure_has_its_own_hint() -> None:
    roles = {"network": "the NETWORK", "identity": "WHO", "account": "ACCOUNT"}
    hints = {
        kind: broker_failure(exc, **roles).hint
        for kind, exc in {
            "unreachable": BrokerUnreachableError("mqtts://hq:8883: connection refused"),
            "tls": TlsError("mqtts://hq:8883: server certificate not trusted"),
            "auth": AuthError("mqtts://hq:8883: not authorized"),
            "file": ConfigError("/etc/activecalls/pw: permission denied"),
            "other": ConnectionLostError("closed"),
        }.items()
    }
    assert "the NETWORK" in hints["unreachable"] and "[mqtt] host and port" in hints["unreachable"]
    assert "WHO's certificate" in hints["tls"] and "clock" in hints["tls"]
    assert "ACL for ACCOUNT" in hints["auth"]
    assert "read that file" in hints["file"] and "its log" in hints["other"]
    assert len(set(hints.values())) == len(hints)
    failed = broker_failure(AuthError("mqtts://hq:8883: not authorized"), **roles)
    assert failed.name == "broker" and not failed.ok and failed.detail == "mqtts://hq:8883: not authorized"
