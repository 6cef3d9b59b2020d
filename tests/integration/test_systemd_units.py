"""systemd/: the units pass `systemd-analyze verify` and the agent's exposure
score stays at or below 2.5.

`systemd-analyze verify` checks that each ExecStart= program exists and is
executable. The programs live where the install guide puts them
(/opt/activecalls/venv/bin/...), which this machine does not have, so the
units are verified inside a temporary root (--root): a copy of this host's
system units (for the targets they name), our units in its /etc/systemd/system,
and an executable stub at each Exec*= path the units name. What is checked is
the unit files; that the programs behave is for the agent's and collector's
own tests. A control test removes a stub and shows verify then fails, and
another shows a broken line fails the check (verify only warns about those,
so any output at all counts as a failure here).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
OUR_UNITS = ("activecalls-agent.service", "activecalls-collector.service", "activecalls-public-broker.service")
MOSQUITTO_DROP_IN = Path("mosquitto.service.d") / "activecalls.conf"
HOST_UNITS = Path("/usr/lib/systemd/system")
MAX_AGENT_EXPOSURE = 2.5


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (Debian package: systemd); scripts/setup installs it")
    return found


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file; a key may repeat (SystemCallFilter=, DeviceAllow=)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def exec_paths(unit_text: str) -> set[str]:
    """Absolute programs named by Exec*= lines (prefixes like '-' or '+' removed)."""
    paths = set()
    for key_values in parse_unit(unit_text).get("Service", {}).items():
        key, values = key_values
        if key.startswith("Exec"):
            for value in values:
                program = value.lstrip("-@:+!").split()[0]
                if program.startswith("/"):
                    paths.add(program)
    return paths


def make_root(root: Path, *, stubs: bool = True) -> Path:
    """A root with this host's units, ours installed, and stubs for programs."""
    if not (HOST_UNITS / "multi-user.target").exists():
        pytest.skip(f"no systemd units under {HOST_UNITS} to verify against (Debian package: systemd)")
    shutil.copytree(HOST_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True)
    texts = []
    for unit in OUR_UNITS:
        shutil.copy(SYSTEMD_DIR / unit, etc / unit)
        texts.append((SYSTEMD_DIR / unit).read_text())
    (etc / MOSQUITTO_DROP_IN).parent.mkdir()
    shutil.copy(SYSTEMD_DIR / MOSQUITTO_DROP_IN, etc / MOSQUITTO_DROP_IN)
    mosquitto_unit = HOST_UNITS / "mosquitto.service"
    if mosquitto_unit.exists():
        texts.append(mosquitto_unit.read_text())
    if stubs:
        for program in set().union(*(exec_paths(t) for t in texts)):
            stub = root / program.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
    return root


def verify(root: Path, unit: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # --man=no: whether man pages named by Documentation= are installed
        # here says nothing about the unit.
        [systemd_analyze(), "verify", "--man=no", f"--root={root}", unit],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield make_root(tmp_path_factory.mktemp("root"))


@pytest.mark.parametrize("unit", OUR_UNITS)
def test_units_pass_systemd_analyze_verify(root: Path, unit: str) -> None:
    done = verify(root, unit)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_the_mosquitto_drop_in_passes_verify_with_debians_unit(root: Path) -> None:
    if not (HOST_UNITS / "mosquitto.service").exists():
        pytest.skip("Debian's mosquitto.service is not installed (package mosquitto)")
    done = verify(root, "mosquitto.service")
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_control_verify_fails_without_the_program(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root", stubs=False)
    done = verify(root, "activecalls-agent.service")
    assert done.returncode != 0
    assert "/opt/activecalls/venv/bin/activecalls-agent" in done.stderr


def test_control_a_broken_line_is_caught(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root")
    unit = root / "etc/systemd/system/activecalls-agent.service"
    unit.write_text(unit.read_text().replace("Restart=always", "Restart=sometimes"))
    done = verify(root, "activecalls-agent.service")
    assert done.returncode == 0  # verify only warns...
    assert "sometimes" in done.stderr  # ...which the tests above count as a failure


def exposure(root: Path, unit: str) -> float:
    analyze = systemd_analyze()
    done = subprocess.run(
        [analyze, "security", "--offline=true", f"--root={root}", "--no-pager", unit],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in done.stderr and done.returncode != 0:
        pytest.skip(f"this systemd-analyze cannot analyse offline (systemd >= 250 needed): {done.stderr.strip()}")
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found, done.stdout + done.stderr
    return float(found.group(1))


def test_agent_exposure_is_at_most_2_5(root: Path) -> None:
    score = exposure(root, "activecalls-agent.service")
    print(f"\nsystemd-analyze security exposure: activecalls-agent.service {score}")
    assert score <= MAX_AGENT_EXPOSURE


def test_collector_and_broker_exposure_is_printed(root: Path) -> None:
    collector = exposure(root, "activecalls-collector.service")
    print(f"\nsystemd-analyze security exposure: activecalls-collector.service {collector}")
    assert collector <= MAX_AGENT_EXPOSURE
    public = exposure(root, "activecalls-public-broker.service")
    print(f"systemd-analyze security exposure: activecalls-public-broker.service {public}")
    assert public <= MAX_AGENT_EXPOSURE
    if (HOST_UNITS / "mosquitto.service").exists():
        broker = exposure(root, "mosquitto.service")
        print(f"systemd-analyze security exposure: mosquitto.service with the drop-in {broker}")


# --- the decided facts, read from the files -----------------------------------------------


def service(unit: str) -> dict[str, list[str]]:
    return parse_unit((SYSTEMD_DIR / unit).read_text())["Service"]


def test_agent_unit_runs_the_agent_as_decided() -> None:
    s = service("activecalls-agent.service")
    assert s["ExecStart"] == ["/opt/activecalls/venv/bin/activecalls-agent run --config /etc/activecalls/agent.toml"]
    assert s["Type"] == ["notify"] and s["Restart"] == ["always"] and "WatchdogSec" in s
    assert (s["User"], s["SupplementaryGroups"]) == (["activecalls"], ["dialout"])
    assert (s["StateDirectory"], s["ConfigurationDirectory"]) == (["activecalls-agent"], ["activecalls"])
    assert s["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert "PrivateDevices" not in s  # it must open serial devices that come and go


def test_collector_unit_runs_the_collector_as_decided() -> None:
    s = service("activecalls-collector.service")
    assert s["ExecStart"] == [
        "/opt/activecalls/venv/bin/activecalls-collector run --config /etc/activecalls/collector.toml"
    ]
    assert s["Type"] == ["notify"] and s["Restart"] == ["always"] and "WatchdogSec" in s
    assert s["User"] == ["activecalls"] and "SupplementaryGroups" not in s
    assert (s["StateDirectory"], s["ConfigurationDirectory"]) == (["activecalls-collector"], ["activecalls"])


def test_public_broker_unit_runs_the_rendered_public_configuration_unprivileged() -> None:
    s = service("activecalls-public-broker.service")
    assert s["ExecStart"] == ["/usr/sbin/mosquitto -c /etc/mosquitto/activecalls-public/mosquitto.conf"]
    assert s["User"] == ["mosquitto"] and s["CapabilityBoundingSet"] == [""]
    # The rendered local socket lives in its runtime directory (render's default).
    assert s["RuntimeDirectory"] == ["activecalls-public-broker"] and "StateDirectory" not in s
    render = (SYSTEMD_DIR.parent / "deploy/mosquitto/render").read_text()
    assert "public_socket=/run/activecalls-public-broker/mosquitto.sock" in render


def test_units_start_after_the_network_without_requiring_it() -> None:
    for unit in OUR_UNITS:
        u = parse_unit((SYSTEMD_DIR / unit).read_text())["Unit"]
        assert "network-online.target" in " ".join(u["After"]) and u["Wants"] == ["network-online.target"]
        assert "Requires" not in u and "BindsTo" not in u


def test_each_relaxation_of_the_agent_says_what_it_allows() -> None:
    lines = (SYSTEMD_DIR / "activecalls-agent.service").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith(("SupplementaryGroups=", "DeviceAllow=", "RestrictAddressFamilies=", "DevicePolicy=")):
            assert lines[index - 1].startswith("#"), f"no comment above {line!r}"
