"""``activecalls-sim demo``: the whole system on one machine, in about two minutes.

It starts, as real processes on loopback, everything a force would run:
the broker configuration ``deploy/mosquitto/render`` installs (the private
broker for cars and services, on TLS with a client certificate each from a
lab PKI made by ``deploy/pki/make-lab-pki``, and the public broker its bridge
feeds), the collector (with the public feed), five patrol cars (each a
simulated receiver on a pseudo-terminal read by a real
``activecalls-agent``) and a load-generator fleet for the rest of the shift.
Then it plays a dispatcher's few minutes: incidents come in, the ETA table and
the recommended unit appear, the nearest car becomes unavailable and the
recommendation moves, and finally the public feed shows what residents see:
coarse, late and without the sensitive call, on the public site the collector
serves (its URL is printed; open it while the demo runs).

Every step prints the command a user would type to do it by hand, in the demo's
folder (pasteable: quoted, with every option it needs). The demo's
liberties are the public feed's delays (shortened so the demo need not run
for fifteen minutes) and a generated year of published calls in the public
history, so the site's trends have something to show; it says so for both.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from collector.public.history_store import PublicHistoryWriter
from common.errors import ActiveCallsError
from common.fix import format_time
from common.paths import DEFAULT_OSM_EXTRACT, data_file
from simulators.broker import free_port
from simulators.drive import DriveConfig, Trajectory, plan
from simulators.public_history import generate_history
from simulators.routes import load_route
from simulators.securebroker import MAKE_LAB_PKI, RENDER, SecureBrokers, make_lab_pki, start_secure_brokers

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
SIM_UNITS: Final = 20  # the load generator's units, SIM-0001 ..
LAPS: Final = 5
# A call on a patrol car's way: it is sent there and stops there, and the collector measures the arrival.
ON_THE_WAY: Final = ("INC-1004", "concern for welfare", 3)
ARRIVE_WITHIN_S: Final = (60.0, 120.0)  # how far ahead of the dispatch that call lies, in driving time
HISTORY_CALLS_PER_DAY: Final = 100


class DemoError(ActiveCallsError, RuntimeError):
    """Something the demo needs is missing or did not start."""


@dataclass
class Stack:
    """The processes the demo started, stopped by PID: the cars and the fleet, then the collector, then the broker.

    In that order so that the collector sees every agent's clean ``offline``
    before it stops itself, as it would on a real shift's end.
    """

    workdir: Path
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    brokers: SecureBrokers | None = None

    def spawn(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        process = subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir
        )
        log.close()
        self.processes.append((name, process))
        return process

    def check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-1500:]
                raise DemoError(f"{name} exited with status {process.returncode}:\n{tail}")

    def stop(self) -> None:
        clients = [p for name, p in self.processes if name != "collector"]
        _terminate(clients)
        _terminate([p for name, p in self.processes if name == "collector"])
        if self.brokers is not None:
            self.brokers.stop()


def _terminate(processes: Sequence[subprocess.Popen[bytes]], *, grace_s: float = 10.0) -> None:
    """SIGTERM all, then wait for all; SIGKILL what is still running after ``grace_s``."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tool(name: str) -> str:
    """An ``activecalls-*`` console script of this installation."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def path_hint(tool: str, path_env: str) -> str:
    """How to run the commands shown in a new shell, when ``tool`` (the full path
    of one console script) is not what ``PATH`` finds under its name."""
    bindir = Path(tool).parent
    if shutil.which(Path(tool).name, path=path_env) == tool:
        return ""
    if (bindir / "activate").exists():
        return f"In a new shell, put the tools on PATH first: . {shlex.quote(str(bindir / 'activate'))}"
    return f"In a new shell, type the tools with their folder: {shlex.quote(str(bindir))}/activecalls-collector ..."


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _typed(argv: Sequence[str]) -> str:
    """``argv`` as a user types it in the demo's folder: the tool by its name (a script of the
    checkout by its path), arguments quoted."""
    tool = argv[0] if argv[0].startswith(str(MAKE_LAB_PKI.parents[1])) else Path(argv[0]).name
    return shlex.join([tool, *argv[1:]])


def _show(argv: Sequence[str], *, workdir: Path) -> str:
    """Run a command as a user would, in the demo's folder, echoing it."""
    shown = _typed(argv)
    print(f"$ {shown}", flush=True)
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False, cwd=workdir)
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
        # The certificate's CN (the unit id) is its login on the vehicle listener.
        f'[mqtt]\nhost = "localhost"\nport = {port}\nca_file = "lab-pki/ca.crt"\n'
        f'cert_file = "lab-pki/units/{unit}.crt"\nkey_file = "lab-pki/units/{unit}.key"\n'
        f'[outbox]\npath = "{workdir / unit}.outbox.sqlite"\n'
    )
    return path


def run_demo(*, workdir: Path | None = None, keep: bool = False) -> None:
    """Run the demo. Raises DemoError with the reason on failure; stops what it started either way."""
    owned = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="activecalls-demo-")) if workdir is None else workdir
    folder.mkdir(parents=True, exist_ok=True)
    stack = Stack(folder)
    kept = "" if workdir is not None or keep else "; deleted at the end unless you pass --keep"
    print(f"The demo's folder (configs, logs, databases, public files): {folder}{kept}")
    print(f"The commands shown are what you would type in it (cd {shlex.quote(str(folder))}).")
    if hint := path_hint(_tool("activecalls-collector"), os.environ.get("PATH", "")):
        print(hint)
    try:
        _play(stack)
    finally:
        stack.stop()
        if owned and not keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"\nlogs, configs and databases kept in {folder}")


def _car_plan(route: str, seed: int, start: dt.datetime) -> Trajectory:
    """The drive ``activecalls-sim drive --route ROUTE --seed SEED --laps LAPS`` will make (same config, same seed)."""
    loaded = load_route(route)
    config = DriveConfig(loaded, kmh=130.0 if loaded.speeds is not None else 48.0, seed=seed, laps=LAPS, start=start)
    return plan(config, random.Random(seed))


def _place_ahead(trajectory: Trajectory, elapsed_s: float) -> tuple[float, float, float] | None:
    """(seconds from now, lat, lon) of a place on the car's way, ARRIVE_WITHIN_S ahead, that it does
    not pass close by before (200 m until its last 20 s: an out-and-back road or a loop), if any."""
    low, high = ARRIVE_WITHIN_S
    for ahead in range(int(low), int(high), 5):
        reached = elapsed_s + ahead
        x, y, _ = trajectory.line.point_xy(trajectory.at(reached)[0])
        before = (trajectory.line.point_xy(trajectory.at(t)[0]) for t in range(int(elapsed_s), int(reached - 20)))
        if all(math.hypot(bx - x, by - y) > 200 for bx, by, _ in before):
            lat, lon, _ = trajectory.line.point(trajectory.at(reached)[0])
            return float(ahead), lat, lon
    return None


def _board_token(workdir: Path) -> str:
    """A login token for the dispatcher's board, in the tokens file [dispatch] reads."""
    token = os.urandom(24).hex()
    fd = os.open(workdir / "dispatch-tokens", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, f"demo-operator {token}\n".encode())
    os.close(fd)
    return token


def _collector_config(workdir: Path, port: int, web_port: int, board_port: int) -> Path:
    secret = workdir / "public-secret"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private from its first byte
    os.write(fd, (os.urandom(32).hex() + "\n").encode())
    os.close(fd)
    path = workdir / "collector.toml"
    path.write_text(
        f'fleet = "{FLEET}"\n'
        f'[mqtt]\nhost = "localhost"\nport = {port}\nca_file = "lab-pki/ca.crt"\n'
        'cert_file = "lab-pki/services/collector.crt"\nkey_file = "lab-pki/services/collector.key"\n'
        # Its commands log in as collector-cli: never as the running service.
        '[cli]\ncert_file = "lab-pki/services/collector-cli.crt"\nkey_file = "lab-pki/services/collector-cli.key"\n'
        f'[store]\npath = "{workdir / "collector.sqlite"}"\nsynchronous = "NORMAL"\n'
        f'[eta]\nosm = "{data_file(DEFAULT_OSM_EXTRACT)}"\n'
        f"[public]\n"
        f'secret_file = "{secret}"\npublic_dir = "{workdir / "public"}"\n'
        f'state_file = "{workdir / "public-state.json"}"\n'
        f"publish_every_s = 5\nunit_delay_s = {PUBLIC_UNIT_DELAY_S}\ncall_delay_s = {PUBLIC_CALL_DELAY_S}\n"
        "epsg = 27700\n"
        f'[web]\nlisten = "127.0.0.1:{web_port}"\ntimezone = "Europe/London"\n'
        'title = "Derbyshire: active calls (demo)"\n'
        f'[dispatch]\nlisten = "127.0.0.1:{board_port}"\ntokens_file = "dispatch-tokens"\n'
    )
    return path


def _seed_history(workdir: Path) -> int:
    """A generated year of published calls, before the collector starts (it adds the demo's own)."""
    history = PublicHistoryWriter.open(workdir / "public-history.sqlite")
    try:
        today = dt.datetime.now(dt.UTC).date()
        rows = list(generate_history(today - dt.timedelta(days=365), 365, HISTORY_CALLS_PER_DAY))
        history.add(rows)
    finally:
        history.close()
    return len(rows)


def _site_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _wait(stack: Stack, seconds: float) -> None:
    """Sleep, but notice at once if a process of the demo died."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        stack.check_alive()
        time.sleep(min(1.0, left))


def _play(stack: Stack) -> None:
    folder = stack.workdir
    collector, agent, sim = _tool("activecalls-collector"), _tool("activecalls-agent"), _tool("activecalls-sim")
    _say("the brokers, as deploy/mosquitto/render installs them, with a lab PKI (free loopback ports)")
    units = [unit for unit, _route, _seed in CARS] + [f"SIM-{n:04d}" for n in range(1, SIM_UNITS + 1)]
    (folder / "units.txt").write_text("\n".join(units) + "\n")
    print(f"$ {_typed([str(MAKE_LAB_PKI), '--dir', 'lab-pki', '--units-file', 'units.txt'])}")
    make_lab_pki(folder / "lab-pki", (), "--units-file", str(folder / "units.txt"))
    stack.brokers = brokers = start_secure_brokers(folder / "broker", FLEET, pki=folder / "lab-pki")
    ports = brokers.ports
    print(f"({RENDER.name} --fleet {FLEET} --lab-pki lab-pki wrote both brokers' configuration into "
          "broker/etc-mosquitto, on free loopback ports)")  # fmt: skip
    print(f"private broker: cars on 127.0.0.1:{ports.vehicle}, services on 127.0.0.1:{ports.service} "
          "(TLS, a client certificate each)")  # fmt: skip
    print(f"public broker:  ws://127.0.0.1:{ports.public} (anonymous, read-only public/v1/{FLEET}/#, "
          "fed by its bridge)")  # fmt: skip
    port = ports.vehicle

    web_port, board_port = free_port(), free_port()
    board_token = _board_token(folder)
    config = _collector_config(folder, ports.service, web_port, board_port).name  # every command runs in the folder
    seeded = _seed_history(folder)
    _say("the collector: ingest, history, ETAs, public feed, public site")
    print(f"(its public history starts with {seeded:,} generated calls of the past year, so the site's trends "
          "have something to show)")  # fmt: skip
    run_collector = [collector, "run", "--config", config]
    print(f"$ {_typed(run_collector)}   (in the background; its log: collector.log)")
    stack.spawn("collector", run_collector)
    site_url = f"http://127.0.0.1:{web_port}/"
    started = time.monotonic()
    while not _site_answers(site_url):
        if time.monotonic() - started > 30:
            raise DemoError(f"the public site did not answer on {site_url} within 30 s: see collector.log")
        _wait(stack, 0.5)
    print(f"the public site: {site_url}  (open it in a browser while the demo runs)")
    print(f"the dispatcher's board: http://127.0.0.1:{board_port}/  (private: log in with the token {board_token})")

    def collector_command(*args: str) -> list[str]:
        return [collector, *args, "--config", config]

    _say(f"{len(CARS)} patrol cars: a simulated receiver on a pty, read by a real activecalls-agent")
    print("(in the background; each process's log is <name>.log, e.g. PC-01.log and PC-01-receiver.log)")
    print("(the patrol routes follow the real streets of the OpenStreetMap extract; © OpenStreetMap contributors)")
    now = dt.datetime.now(dt.UTC)
    start = now.replace(microsecond=now.microsecond // 1000 * 1000)
    plans = {}
    for unit, route, seed in CARS:
        plans[unit] = _car_plan(route, seed, start)
        receiver = [sim, "drive", "--route", route, "--seed", str(seed), "--start", format_time(start),
                    "--laps", str(LAPS), "--pty", f"{unit}.gps"]  # fmt: skip
        car = [agent, "run", "--config", _agent_config(folder, unit, port).name]
        stack.spawn(f"{unit}-receiver", receiver)
        stack.spawn(unit, car)
        print(f"$ {_typed(receiver)} &\n$ {_typed(car)} &")
    _say(f"{SIM_UNITS} more units from the load generator (MQTT only, no agent)")
    fleet = [sim, "fleet", "--host", "localhost", "--port", str(port), "--ca-file", "lab-pki/ca.crt",
             "--cert-dir", "lab-pki/units", "--fleet", FLEET, "--units", str(SIM_UNITS), "--prefix", "SIM",
             "--hz", "0.2", "--duration", "3600",
             "--osm", str(data_file(DEFAULT_OSM_EXTRACT))]  # fmt: skip
    print(f"$ {_typed(fleet)} &")
    stack.spawn("fleet", fleet)
    _wait(stack, 4)
    _say("the control room marks the shift on duty")
    for unit, _route, _seed in CARS:
        _show(collector_command("unit-status", unit, "available"), workdir=folder)
    for n in range(1, SIM_UNITS + 1):
        subprocess.run(collector_command("unit-status", f"SIM-{n:04d}", "available"),
                       capture_output=True, check=False, cwd=folder)  # fmt: skip
    print(f"(and the same for SIM-0001 .. SIM-{SIM_UNITS:04d})")
    _wait(stack, 8)
    _say("the fleet as the collector sees it")
    _show(collector_command("units"), workdir=folder)

    _say("calls come in from CAD")
    for incident_id, kind, priority, lat, lon in INCIDENTS:
        _show(collector_command("incident", "open", "--id", incident_id, "--type", kind, "--priority",
                                str(priority), "--lat", str(lat), "--lon", str(lon)), workdir=folder)  # fmt: skip
    _wait(stack, 2)
    _say("ETAs and the recommended unit for each open call")
    table = _show(collector_command("etas", INCIDENTS[0][0]), workdir=folder)
    nearest = _recommended(table)
    if nearest:
        _say(f"{nearest} is sent elsewhere: the recommendation for {INCIDENTS[0][0]} moves")
        _show(collector_command("unit-status", nearest, "unavailable"), workdir=folder)
        _wait(stack, 2)
        _show(collector_command("etas", INCIDENTS[0][0]), workdir=folder)
    arrival = _dispatch_on_the_way(stack, plans, start, nearest, collector_command)

    _say(f"the public feed (delays shortened for the demo: units {PUBLIC_UNIT_DELAY_S} s, calls "
         f"{PUBLIC_CALL_DELAY_S} s; the defaults are 900 s and 600 s; times are whole minutes)")  # fmt: skip
    # The unavailable unit is never shown, nor the car sent to the concern-for-welfare call (a suppressed kind).
    on_duty = len(CARS) + SIM_UNITS - (1 if nearest else 0) - (1 if arrival else 0)
    public_calls = len(INCIDENTS) - 1  # the domestic abuse call is never shown
    print(f"waiting for a snapshot that shows the {on_duty} units on duty and the {public_calls} public calls "
          f"(a unit appears once its position and duty status are {PUBLIC_UNIT_DELAY_S} s old) ...")  # fmt: skip
    started = time.monotonic()
    while (shown := _public_counts(folder / "public"))[0] < on_duty or shown[1] < public_calls:
        if time.monotonic() - started > PUBLIC_WAIT_S:
            if shown[0] and shown[1] >= public_calls:
                print(f"(after {PUBLIC_WAIT_S} s it shows {shown[0]} of the {on_duty}; see collector.log)")
                break
            raise DemoError(f"the public feed did not show the units and calls within {PUBLIC_WAIT_S} s: "
                            f"see {folder / 'collector.log'}")  # fmt: skip
        _wait(stack, 2)
    _show(collector_command("public", "preview"), workdir=folder)
    calls = folder / "public" / "calls.geojson"
    print(f"\n{calls.name} (served as a file and retained on public/v1/{FLEET}/calls):")
    print(calls.read_text() if calls.exists() else "(not written yet)")
    print(f"the domestic abuse call {INCIDENTS[2][0]} is not in the public feed, nor is any unit id or exact time.")
    _say(f"what an anonymous reader of the public broker gets (ws://127.0.0.1:{ports.public})")
    for topic, size in _public_broker_snapshots(ports.public):
        print(f"{topic}: {size} bytes, retained (the same snapshot, over the bridge)")
    if arrival is not None:
        unit, there = arrival
        _say(f"{unit} gets to {ON_THE_WAY[0]}; its officer reports on scene (a unit stopped within 100 m of the "
             "call counts as arrived too): the ETA predicted at dispatch against the arrival measured")  # fmt: skip
        _wait(stack, max(0.0, there - time.monotonic()))
        _show(collector_command("unit-status", unit, "onscene"), workdir=folder)
        for _ in range(30):
            report = subprocess.run(collector_command("eta", "report"), capture_output=True, text=True, check=False,
                                    cwd=folder)  # fmt: skip
            if "arrivals measured" in report.stdout:
                break
            _wait(stack, 1)
        _show(collector_command("eta", "report"), workdir=folder)
    _say("the public site, as residents see it")
    print(f"{site_url}  map and list of these calls, trends, open data ({site_url}open-data/calls.csv)")
    _show(collector_command("public", "export-site"), workdir=folder)
    print("(the same site as plain files beside the feed's GeoJSON in public/, for any web server or CDN)")
    if sys.stdin.isatty():  # a person at a terminal: leave them time to look at the site
        input(f"\nThe demo keeps running for {site_url} until you press Enter. ")


def _public_broker_snapshots(port: int, timeout_s: float = 10.0) -> list[tuple[str, int]]:
    """The retained public snapshots as an anonymous WebSockets reader receives them."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    got: dict[str, int] = {}
    reader = paho.Client(CallbackAPIVersion.VERSION2, transport="websockets")
    reader.on_connect = lambda c, *_a: c.subscribe(f"public/v1/{FLEET}/#", qos=0)
    reader.on_message = lambda _c, _u, m: got.__setitem__(m.topic, len(m.payload))
    reader.connect("127.0.0.1", port)
    deadline = time.monotonic() + timeout_s
    while len(got) < 2 and time.monotonic() < deadline:
        reader.loop(timeout=0.1)
    reader.disconnect()
    if len(got) < 2:
        raise DemoError("the public broker did not deliver the retained snapshots: see broker/public-broker.log")
    return sorted(got.items())


def _dispatch_on_the_way(
    stack: Stack,
    plans: dict[str, Trajectory],
    start: dt.datetime,
    unavailable: str | None,
    command: Callable[..., list[str]],
) -> tuple[str, float] | None:
    """Open a call on a patrol car's way, show the ETAs by road, assign the car.
    Returns (car, monotonic time when it gets there), or None if no car has such a place."""
    elapsed = (dt.datetime.now(dt.UTC) - start).total_seconds() + 4.0  # the commands below take a few seconds
    ahead = [(found, unit) for unit, trajectory in plans.items()
             if unit != unavailable and (found := _place_ahead(trajectory, elapsed)) is not None]  # fmt: skip
    if not ahead:
        print("(no patrol car has a place on its way in the next two minutes: the arrival step is skipped)")
        return None
    (seconds, lat, lon), unit = min(ahead)
    incident_id, kind, priority = ON_THE_WAY
    _say(f"a call on {unit}'s way: the dispatcher sees the ETAs by road, sends {unit}, and the collector "
         "measures when it gets there")  # fmt: skip
    _show(command("incident", "open", "--id", incident_id, "--type", kind, "--priority", str(priority),
                  "--lat", f"{lat:.6f}", "--lon", f"{lon:.6f}"), workdir=stack.workdir)  # fmt: skip
    _wait(stack, 2)
    _show(command("etas", incident_id), workdir=stack.workdir)
    _show(command("incident", "assign", incident_id, unit), workdir=stack.workdir)
    return unit, time.monotonic() + seconds


def _public_counts(public_dir: Path) -> tuple[int, int]:
    """How many units and calls the published files show (0, 0 before the first)."""
    try:
        units_doc = json.loads((public_dir / "units.geojson").read_bytes())
        calls_doc = json.loads((public_dir / "calls.geojson").read_bytes())
    except (OSError, ValueError):
        return 0, 0
    # A feature is one pseudonymous unit, or a count per cell when [public] units = "counts".
    units = sum(int(f.get("properties", {}).get("count", 1)) for f in units_doc.get("features", ()))
    return units, len(calls_doc.get("features", ()))


def _recommended(etas_table: str) -> str | None:
    """The unit the ``etas`` table recommends (the line marked with its recommendation)."""
    for line in etas_table.splitlines():
        if "recommend" in line.lower():
            for word in line.replace(":", " ").split():
                if word.startswith(("PC-", "SIM-")):
                    return word
    return None
