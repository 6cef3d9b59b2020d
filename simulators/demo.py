"""``activecalls-sim demo``: the whole system on one machine, in about two minutes.

It starts, as real processes on loopback, everything a force would run:
a Mosquitto broker, the collector (with the public feed), five patrol cars
(each a simulated receiver on a pseudo-terminal read by a real
``activecalls-agent``) and a load-generator fleet for the rest of the shift.
Then it plays a dispatcher's few minutes: incidents come in, the ETA table and
the recommended unit appear, the nearest car becomes unavailable and the
recommendation moves, and finally the public feed shows what residents see:
coarse, late and without the sensitive call.

Every step prints the command a user would type to do it by hand. The demo's
only liberty is the public feed's delays (shortened so the demo need not run
for fifteen minutes); it says so when it prints them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from simulators.broker import Broker, start_broker

__all__ = ["DemoError", "run_demo"]

FLEET: Final = "derbyshire"
# (unit, built-in route, seed): one car per patrol route around Chesterfield.
CARS: Final = (
    ("PC-01", "a619-chatsworth-road", 1),
    ("PC-02", "a617-hasland", 2),
    ("PC-03", "a61-sheffield-road", 3),
    ("PC-04", "newbold", 4),
    ("PC-05", "town-centre-ring", 5),
)
# (id, type, priority, lat, lon): what a CAD system would send.
INCIDENTS: Final = (
    ("INC-1001", "burglary", 1, 53.2337, -1.4560),  # Brampton, off Chatsworth Road
    ("INC-1002", "road traffic collision", 2, 53.2240, -1.4030),  # Hasland
    ("INC-1003", "domestic abuse", 1, 53.2480, -1.4300),  # Newbold: never public
)
PUBLIC_UNIT_DELAY_S: Final = 20
PUBLIC_CALL_DELAY_S: Final = 10
PUBLIC_WAIT_S: Final = 150  # the delays, the minute the times are floored to, and the publishing cadence


class DemoError(RuntimeError):
    """Something the demo needs is missing or did not start."""


@dataclass
class Stack:
    """The processes the demo started; stopped by PID, newest first."""

    workdir: Path
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    broker: Broker | None = None

    def spawn(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        process = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.processes.append((name, process))
        return process

    def check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-1500:]
                raise DemoError(f"{name} exited with status {process.returncode}:\n{tail}")

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _name, process in reversed(self.processes):
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.broker is not None:
            self.broker.stop()


def _tool(name: str) -> str:
    """An ``activecalls-*`` console script of this installation."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _show(argv: Sequence[str], *, workdir: Path) -> str:
    """Run a command as a user would, echoing it (paths relative to the demo folder)."""
    shown = " ".join(Path(a).name if a.startswith(str(workdir)) or a.startswith(sys.prefix) else a for a in argv)
    print(f"$ {shown}", flush=True)
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)
    output = result.stdout + result.stderr
    print(output.rstrip(), flush=True)
    if result.returncode != 0:
        raise DemoError(f"{shown} failed with status {result.returncode}")
    return output


def _agent_config(workdir: Path, unit: str, port: int) -> Path:
    path = workdir / f"{unit}.toml"
    path.write_text(
        f'unit = "{unit}"\nfleet = "{FLEET}"\n'
        f'[gps]\nport = "{workdir / unit}.gps"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
        f'[outbox]\npath = "{workdir / unit}.outbox.sqlite"\n'
    )
    return path


def run_demo(*, workdir: Path | None = None, keep: bool = False) -> None:
    """Run the demo. Raises DemoError with the reason on failure; stops what it started either way."""
    owned = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="activecalls-demo-")) if workdir is None else workdir
    folder.mkdir(parents=True, exist_ok=True)
    stack = Stack(folder)
    try:
        _play(stack)
    finally:
        stack.stop()
        if owned and not keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"\nlogs, configs and databases kept in {folder}")


def _collector_config(workdir: Path, port: int) -> Path:
    secret = workdir / "public-secret"
    secret.write_text(os.urandom(32).hex() + "\n")
    secret.chmod(0o600)
    path = workdir / "collector.toml"
    path.write_text(
        f'fleet = "{FLEET}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nclient_id = "collector-demo"\n'
        f'[store]\npath = "{workdir / "collector.sqlite"}"\nsynchronous = "NORMAL"\n'
        f"[public]\n"
        f'secret_file = "{secret}"\npublic_dir = "{workdir / "public"}"\n'
        f'state_file = "{workdir / "public-state.json"}"\n'
        f"publish_every_s = 5\nunit_delay_s = {PUBLIC_UNIT_DELAY_S}\ncall_delay_s = {PUBLIC_CALL_DELAY_S}\n"
        "epsg = 27700\n"
    )
    return path


def _wait(stack: Stack, seconds: float) -> None:
    """Sleep, but notice at once if a process of the demo died."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        stack.check_alive()
        time.sleep(min(1.0, left))


def _play(stack: Stack) -> None:
    folder = stack.workdir
    collector, agent, sim = _tool("activecalls-collector"), _tool("activecalls-agent"), _tool("activecalls-sim")
    _say("a Mosquitto broker on a free loopback port")
    stack.broker = start_broker(folder / "broker")
    port = stack.broker.port
    print(f"listening on 127.0.0.1:{port}")

    config = _collector_config(folder, port)
    os.environ["ACTIVECALLS_COLLECTOR_CONFIG"] = str(config)  # so the commands below need no --config
    _say("the collector: ingest, history, ETAs, public feed")
    print(f"$ activecalls-collector run --config collector.toml   (logs: {folder / 'collector.log'})")
    stack.spawn("collector", [collector, "run", "--config", str(config)])

    _say(f"{len(CARS)} patrol cars: a simulated receiver on a pty, read by a real activecalls-agent")
    for unit, route, seed in CARS:
        device = folder / f"{unit}.gps"
        stack.spawn(f"{unit}-receiver", [sim, "drive", "--route", route, "--seed", str(seed), "--start", "now",
                                         "--laps", "5", "--pty", str(device)])  # fmt: skip
        stack.spawn(unit, [agent, "run", "--config", str(_agent_config(folder, unit, port))])
        print(f"{unit}: activecalls-sim drive --route {route} --pty {device.name}  ->  activecalls-agent run")
    print("and 20 more units from the load generator: activecalls-sim fleet --units 20 --prefix SIM")
    stack.spawn("fleet", [sim, "fleet", "--port", str(port), "--fleet", FLEET, "--units", "20", "--prefix", "SIM",
                          "--hz", "0.2", "--duration", "3600"])  # fmt: skip
    _wait(stack, 4)
    _say("the control room marks the shift on duty")
    for unit, _route, _seed in CARS:
        _show([collector, "unit-status", unit, "available"], workdir=folder)
    for n in range(1, 21):
        subprocess.run([collector, "unit-status", f"SIM-{n:04d}", "available"], capture_output=True, check=False)
    print("(and SIM-0001 .. SIM-0020)")
    _wait(stack, 8)
    _say("the fleet as the collector sees it")
    _show([collector, "units"], workdir=folder)

    _say("calls come in from CAD")
    for incident_id, kind, priority, lat, lon in INCIDENTS:
        _show([collector, "incident", "open", "--id", incident_id, "--type", kind, "--priority", str(priority),
               "--lat", str(lat), "--lon", str(lon)], workdir=folder)  # fmt: skip
    _wait(stack, 2)
    _say("ETAs and the recommended unit for each open call")
    table = _show([collector, "etas", INCIDENTS[0][0]], workdir=folder)
    nearest = _recommended(table)
    if nearest:
        _say(f"{nearest} is sent elsewhere: the recommendation for {INCIDENTS[0][0]} moves")
        _show([collector, "unit-status", nearest, "unavailable"], workdir=folder)
        _wait(stack, 2)
        _show([collector, "etas", INCIDENTS[0][0]], workdir=folder)

    _say(f"the public feed (delays shortened for the demo: units {PUBLIC_UNIT_DELAY_S} s, calls "
         f"{PUBLIC_CALL_DELAY_S} s; the defaults are 900 s and 600 s; times are whole minutes)")  # fmt: skip
    print("waiting for the first snapshot that shows them ...", flush=True)
    started = time.monotonic()
    while not _public_shows(folder / "public", calls=len(INCIDENTS) - 1):
        if time.monotonic() - started > PUBLIC_WAIT_S:
            raise DemoError(f"the public feed showed nothing within {PUBLIC_WAIT_S} s: see {folder / 'collector.log'}")
        _wait(stack, 2)
    _show([collector, "public", "preview"], workdir=folder)
    calls = folder / "public" / "calls.geojson"
    print(f"\n{calls.name} (served as a file and retained on public/v1/{FLEET}/calls):")
    print(calls.read_text() if calls.exists() else "(not written yet)")
    print(f"the domestic abuse call {INCIDENTS[2][0]} is not in the public feed, nor is any unit id or exact time.")


def _public_shows(public_dir: Path, *, calls: int) -> bool:
    """Whether the published files show some units and ``calls`` calls."""
    try:
        units_doc = json.loads((public_dir / "units.geojson").read_bytes())
        calls_doc = json.loads((public_dir / "calls.geojson").read_bytes())
    except (OSError, ValueError):
        return False
    return bool(units_doc.get("features")) and len(calls_doc.get("features", ())) >= calls


def _recommended(etas_table: str) -> str | None:
    """The unit the ``etas`` table recommends (the line marked with its recommendation)."""
    for line in etas_table.splitlines():
        if "recommend" in line.lower():
            for word in line.replace(":", " ").split():
                if word.startswith(("PC-", "SIM-")):
                    return word
    return None

