"""The agent's configuration: ``/etc/activecalls/agent.toml`` -> :class:`AgentConfig`.

Only the schema lives here; reading TOML with precise errors is
:mod:`common.tomlconfig`, the ``[mqtt]`` table is :func:`common.mqtt.mqtt_settings`.
``deploy/agent.example.toml`` documents every key; ``docs/agent.md`` too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from agent.outbox import DEFAULT_MAX_FIXES
from agent.policy import ReportSettings
from common.mqtt import MqttSettings, mqtt_settings
from common.paths import state_file
from common.tomlconfig import ConfigError, Table, load_toml
from common.wire import MAX_TRACK_FIXES, WireError, validate_id

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_WEEK_ROLLOVER_REFERENCE",
    "AgentConfig",
    "ConfigError",
    "GpsSettings",
    "OutboxSettings",
    "default_outbox_path",
    "load_config",
]

DEFAULT_CONFIG_PATH: Final = Path("/etc/activecalls/agent.toml")
# Receivers with stale firmware report dates 1024 weeks (19.6 years) in the
# past after a GPS week-number rollover. No genuine fix this agent sees can be
# older than its own release, so dates before this day are moved forward by
# 1024-week eras until they are not.
DEFAULT_WEEK_ROLLOVER_REFERENCE: Final = dt.date(2025, 1, 1)


def default_outbox_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$STATE_DIRECTORY/outbox.sqlite`` under systemd's ``StateDirectory=``,
    else ``/var/lib/activecalls-agent/outbox.sqlite``."""
    return state_file("outbox.sqlite", "/var/lib/activecalls-agent", environ)


@dataclass(frozen=True, slots=True)
class GpsSettings:
    port: str = "/dev/ttyACM0"  # any pyserial URL
    baud: int = 9600
    no_data_s: float = 5.0
    no_fix_s: float = 30.0
    week_rollover_reference: dt.date | None = DEFAULT_WEEK_ROLLOVER_REFERENCE


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    path: Path = field(default_factory=default_outbox_path)
    max_fixes: int = DEFAULT_MAX_FIXES
    keep_every: int = 2
    batch_size: int = MAX_TRACK_FIXES


@dataclass(frozen=True, slots=True)
class AgentConfig:
    unit: str
    fleet: str
    gps: GpsSettings = field(default_factory=GpsSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    diag_interval_s: float = 60.0
    path: Path | None = None  # the file it came from


def _id(table: Table, key: str) -> str:
    value: str = table.get_str(key)
    try:
        return validate_id(key, value)
    except WireError as exc:
        raise table.error(key, str(exc)) from None


def _gps(t: Table) -> GpsSettings:
    reference = t.get_date("week_rollover_reference", DEFAULT_WEEK_ROLLOVER_REFERENCE)
    no_data_s = t.get_float("no_data_s", 5.0, low=0.5)
    gps = GpsSettings(
        port=t.get_str("port", "/dev/ttyACM0"),
        baud=t.get_int("baud", 9600, low=50, high=4_000_000),
        no_data_s=no_data_s,
        no_fix_s=t.get_float("no_fix_s", 30.0, low=0.5),
        week_rollover_reference=reference,
    )
    t.check_unknown()
    return gps


def _report(t: Table) -> tuple[ReportSettings, float]:
    report = ReportSettings(
        interval_s=t.get_float("interval_s", 5.0, low=0.0),
        min_distance_m=t.get_float("min_distance_m", 50.0, low=0.0),
        min_heading_deg=t.get_float("min_heading_deg", 20.0, low=0.0, high=180.0),
        heartbeat_s=t.get_float("heartbeat_s", 60.0, low=0.0, low_exclusive=True),
        stationary_speed_ms=t.get_float("stationary_speed_ms", 1.0, low=0.0),
        drift_m_per_hdop=t.get_float("drift_m_per_hdop", 5.0, low=0.0),
        max_speed_ms=t.get_float("max_speed_ms", 90.0, low=0.0, low_exclusive=True),
        jump_action=t.get_choice("jump_action", ("drop", "flag"), "drop"),
        jump_confirm=t.get_int("jump_confirm", 3, low=2, high=100),
    )
    diag = t.get_float("diag_interval_s", 60.0, low=1.0)
    t.check_unknown()
    return report, diag


def _outbox(t: Table) -> OutboxSettings:
    settings = OutboxSettings(
        path=t.get_path("path", default_outbox_path()),
        max_fixes=t.get_int("max_fixes", DEFAULT_MAX_FIXES, low=1000),
        keep_every=t.get_int("keep_every", 2, low=2, high=1000),
        batch_size=t.get_int("batch_size", MAX_TRACK_FIXES, low=1, high=MAX_TRACK_FIXES),
    )
    t.check_unknown()
    return settings


def config_from_table(root: Table) -> AgentConfig:
    unit = _id(root, "unit")
    fleet = _id(root, "fleet")
    gps = _gps(root.get_table("gps"))
    mqtt = mqtt_settings(root.get_table("mqtt"), default_client_id=unit)
    report, diag_interval_s = _report(root.get_table("report"))
    outbox = _outbox(root.get_table("outbox"))
    root.check_unknown()
    return AgentConfig(unit, fleet, gps, mqtt, report, outbox, diag_interval_s, root.path)


def load_config(path: Path) -> AgentConfig:
    """Read and check the agent's config file; raise ConfigError (one line, names file, line and key)."""
    return config_from_table(load_toml(path))
