"""The production broker configuration, run for real on loopback: lab PKI, render, two Mosquittos.

:func:`start_secure_brokers` makes (or completes) a lab PKI with
``deploy/pki/make-lab-pki``, renders ``deploy/mosquitto/`` with
``deploy/mosquitto/render`` into a copy of Debian's /etc/mosquitto in a
folder (free loopback ports, nothing else changed) and starts both brokers
on it: the private one (vehicles, services) and the public one (the public
feed over WebSockets, fed by its bridge). What the tests, the benchmarks and
the demo run is therefore what an administrator installs (docs/broker.md).

Needs a checkout of the repository (``deploy/``), Mosquitto and openssl.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from simulators.broker import LOOPBACK, Broker, BrokerError, free_port, spawn_mosquitto, wait_for_port

__all__ = ["MAKE_LAB_PKI", "RENDER", "Ports", "SecureBrokers", "make_lab_pki", "render_config", "start_secure_brokers"]

REPO = Path(__file__).resolve().parents[1]
MAKE_LAB_PKI = REPO / "deploy" / "pki" / "make-lab-pki"
RENDER = REPO / "deploy" / "mosquitto" / "render"


@dataclass(frozen=True)
class Ports:
    vehicle: int
    service: int
    public: int


def run_script(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a deployment script; BrokerError with its output if it fails."""
    if not Path(argv[0]).exists():
        raise BrokerError(f"{argv[0]} is missing: this needs a checkout of the Active Calls repository")
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise BrokerError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


def make_lab_pki(directory: Path, units: Iterable[str], *extra: str) -> Path:
    """Run deploy/pki/make-lab-pki for a broker on this machine; return the PKI directory."""
    run_script([str(MAKE_LAB_PKI), "--dir", str(directory), "--server-name", "localhost", "--server-ip", LOOPBACK,
                *extra, *units])  # fmt: skip
    return directory


def render_config(etc: Path, fleet: str, ports: Ports, pki: Path, socket: Path, *options: str) -> None:
    run_script(
        [str(RENDER), "--fleet", fleet, "--etc", str(etc), "--bind", LOOPBACK, "--public-bind", LOOPBACK,
         "--vehicle-port", str(ports.vehicle), "--service-port", str(ports.service),
         "--public-port", str(ports.public), "--public-socket", str(socket), "--lab-pki", str(pki), *options]
    )  # fmt: skip


def _as_root() -> str:
    # Debian starts mosquitto as root and it switches to the mosquitto user; run
    # as root, it stays root so that it can use this folder.
    return "user root\n" if os.geteuid() == 0 else ""


def debian_main_config(workdir: Path, etc: Path) -> Path:
    """Debian's /etc/mosquitto/mosquitto.conf with this folder's paths."""
    data = workdir / "var-lib-mosquitto"
    data.mkdir(parents=True, exist_ok=True)
    config = etc / "mosquitto.conf"
    config.write_text(
        _as_root() + f"pid_file {workdir}/mosquitto.pid\n"
        "persistence true\n"
        f"persistence_location {data}/\n"
        f"log_dest file {workdir}/mosquitto.log\n"
        f"include_dir {etc}/conf.d\n"
    )
    return config


@dataclass
class SecureBrokers:
    """The private and the public broker of one rendered configuration."""

    private: Broker
    public: Broker
    fleet: str
    ports: Ports
    etc: Path
    pki: Path
    workdir: Path
    socket_dir: Path | None = None  # a temporary folder for the public broker's local socket

    def stop(self) -> None:
        self.public.stop()
        self.private.stop()
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def wait_bridged(self, timeout: float = 15.0) -> None:
        """Until the public broker's bridge is logged in to the private one."""
        deadline = time.monotonic() + timeout
        while "as public-bridge" not in (self.private.log.read_text() if self.private.log.exists() else ""):
            if time.monotonic() > deadline:
                raise BrokerError(f"the public broker's bridge did not connect within {timeout} s: "
                                  f"see {self.public.log} and {self.private.log}")  # fmt: skip
            time.sleep(0.05)


def _started(broker: Broker, ports: Sequence[int]) -> None:
    try:
        for port in ports:
            wait_for_port(LOOPBACK, port)
    except TimeoutError:
        broker.kill()
        log = broker.log.read_text() if broker.log.exists() else ""
        raise BrokerError(f"mosquitto did not start ({broker.config}):\n{log[-3000:]}") from None


def start_secure_brokers(
    workdir: Path, fleet: str, *, pki: Path, render_options: Sequence[str] = (), bridged: bool = True
) -> SecureBrokers:
    """Render the configuration for ``fleet`` with ``pki`` and start both brokers
    (``bridged``: return once the public broker's bridge is in)."""
    workdir.mkdir(parents=True, exist_ok=True)
    etc = workdir / "etc-mosquitto"
    etc.mkdir(parents=True, exist_ok=True)
    ports = Ports(free_port(), free_port(), free_port())
    # A unix socket path must be short (108 bytes): not under a deep test folder.
    socket_dir = Path(tempfile.mkdtemp(prefix="ac-pub-"))
    socket = socket_dir / "mosquitto.sock"
    render_config(etc, fleet, ports, pki, socket, *render_options)

    private_config = debian_main_config(workdir, etc)
    private_log = workdir / "mosquitto.log"
    private = Broker(LOOPBACK, ports.vehicle, spawn_mosquitto(private_config), private_config, private_log)
    _started(private, (ports.vehicle, ports.service))

    rendered = etc / "activecalls-public" / "mosquitto.conf"
    public_config = workdir / "public-broker.conf"
    public_config.write_text(_as_root() + rendered.read_text())
    public_log = workdir / "public-broker.log"
    public = Broker(LOOPBACK, ports.public, spawn_mosquitto(public_config, public_log), public_config, public_log,
                    stderr_log=True)  # fmt: skip
    brokers = SecureBrokers(private, public, fleet, ports, etc, pki, workdir, socket_dir)
    try:
        _started(public, (ports.public,))
        if bridged:
            brokers.wait_bridged()
    except BaseException:
        brokers.stop()
        raise
    return brokers
