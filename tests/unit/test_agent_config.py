"""The agent's config schema, the example file, and the CLI's one-line errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.config import GpsSettings, OutboxSettings, default_outbox_path, load_config
from agent.policy import ReportSettings
from common.mqtt import MqttSettings
from common.tomlconfig import ConfigError
from tests.agentkit import agent_command

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "agent.example.toml"


def test_example_config_loads_and_its_commented_defaults_are_the_real_ones(tmp_path: Path) -> None:
    config = load_config(EXAMPLE)
    assert (config.unit, config.fleet) == ("PC-101", "derbyshire")
    assert config.gps == GpsSettings()
    assert config.mqtt == MqttSettings(client_id="PC-101")
    assert config.report == ReportSettings()
    assert config.outbox == OutboxSettings()
    # Uncommenting every key (except the TLS/login ones, which need files) changes nothing.
    skip = ("username", "password_file", "ca_file", "cert_file", "key_file")
    lines = []
    for line in EXAMPLE.read_text().splitlines():
        if line.startswith("#") and "=" in line and not line.startswith("# ") and not line[1:].startswith(skip):
            line = line[1:]
        lines.append(line)
    uncommented = tmp_path / "agent.toml"
    uncommented.write_text("\n".join(lines))
    again = load_config(uncommented)
    assert uncommented.read_text().count("\n") > 40
    for section in ("gps", "mqtt", "report", "outbox"):
        assert getattr(again, section) == getattr(config, section), section
    assert again.diag_interval_s == config.diag_interval_s


def test_outbox_path_follows_systemd_state_directory() -> None:
    assert default_outbox_path({"STATE_DIRECTORY": "/var/lib/activecalls-agent"}) == Path(
        "/var/lib/activecalls-agent/outbox.sqlite"
    )
    assert default_outbox_path({"STATE_DIRECTORY": "/a:/b"}) == Path("/a/outbox.sqlite")
    assert default_outbox_path({}) == Path("/var/lib/activecalls-agent/outbox.sqlite")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('unit = "PC 1"\nfleet = "f"\n', ":1: unit: unit id must be 1-64 of"),
        ('unit = "a"\n', "fleet: is required but missing"),
        ('unit = "a"\nfleet = "f"\n[gps]\nbaud = 9600.5\n', ":4: [gps] baud: must be an integer"),
        ('unit = "a"\nfleet = "f"\n[gps]\nprot = "/dev/x"\n', "prot: unknown key in [gps] (did you mean 'port'?)"),
        ('unit = "a"\nfleet = "f"\n[mqtt]\nprotocol = "4"\n', ":4: [mqtt] protocol: must be one of '5', '3.1.1'"),
        ('unit = "a"\nfleet = "f"\n[mqtt]\ncert_file = "c.pem"\n', ":3: [mqtt] key_file: cert_file and key_file go"),
        ('unit = "a"\nfleet = "f"\n[mqtt]\npassword_file = "p"\n', ":4: [mqtt] password_file: needs a username"),
        ('unit = "a"\nfleet = "f"\n[report]\njump_action = "warn"\n', ":4: [report] jump_action: must be one of"),
        ('unit = "a"\nfleet = "f"\n[report]\nheartbeat_s = 0\n', ":4: [report] heartbeat_s: must be greater than 0"),
        ('unit = "a"\nfleet = "f"\n[outbox]\nmax_fixes = 10\n', ":4: [outbox] max_fixes: must be >= 1000, got 10"),
        ('unit = "a"\nfleet = "f"\ngps = 1\n', ":3: gps: must be a table ([gps])"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    assert str(err.value).startswith(str(path))


def test_tls_defaults_port_8883(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('unit = "a"\nfleet = "f"\n[mqtt]\nca_file = "ca.pem"\n')
    mqtt = load_config(path).mqtt
    assert (mqtt.tls, mqtt.port, mqtt.ca_file, mqtt.url) == (True, 8883, tmp_path / "ca.pem", "mqtts://localhost:8883")


@pytest.mark.parametrize("command", ["run", "check"])
def test_cli_bad_config_is_one_line_and_non_zero(tmp_path: Path, command: str) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('unit = "a"\nfleet = "f"\n[gps]\nbaud = "9600"\n')
    result = subprocess.run([*agent_command(), command, "--config", str(path)], capture_output=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == b""
    reason = "[gps] baud: must be an integer within [50, 4000000], got '9600'"
    expected = f"activecalls-agent {command}: error: {path}:4: {reason}\n"
    assert result.stderr.decode() == expected


def test_cli_config_from_environment(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "ACTIVECALLS_AGENT_CONFIG": str(tmp_path / "nope.toml")}
    result = subprocess.run([*agent_command(), "run"], capture_output=True, timeout=60, env=env)
    assert result.returncode == 2  # the user's mistake, as for the collector
    missing = tmp_path / "nope.toml"
    reason = "no such file (give another with --config)"
    assert result.stderr.decode() == f"activecalls-agent run: error: {missing}: {reason}\n"
