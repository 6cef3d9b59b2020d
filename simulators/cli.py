"""``activecalls-sim``: replay, drive, routes, fleet.

Only click decorators and printing live here; each command builds a frozen
config and hands it to ``simulators.run`` or ``simulators.fleet``. Every
option can also be set from the environment as ACTIVECALLS_SIM_<COMMAND>_<OPTION>,
e.g. ACTIVECALLS_SIM_REPLAY_SPEED=10.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from agent.formatter import SENTENCE_TYPES
from common.clierrors import OneLineErrorGroup
from common.fix import InvalidFixError, parse_time
from common.tomlconfig import ConfigError
from simulators.drive import DEFAULT_START, DriveConfig, parse_tunnels
from simulators.faults import FaultError, FaultSpec, parse_faults
from simulators.fleet import FleetConfig, FleetError, run_fleet
from simulators.geo import Polyline
from simulators.pty import PtyError
from simulators.receiver import Family
from simulators.routes import Route, RouteError, builtin_names, load_route
from simulators.run import DriveRun, OutputConfig, ReplayRun, RunResult, run_drive, run_replay
from simulators.serve import Output, PtyOutput, TcpOutput

F = TypeVar("F", bound=Callable[..., Any])


@click.group(cls=OneLineErrorGroup, name="activecalls-sim", context_settings={"help_option_names": ["-h", "--help"],
                                           "auto_envvar_prefix": "ACTIVECALLS_SIM"})  # fmt: skip
@click.version_option(package_name="activecalls")
def main() -> None:
    """Active Calls simulators: replay recorded NMEA, synthesize drives, emulate
    receivers, inject faults, load-test the collector."""


def _host_port(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"expected HOST:PORT, e.g. 127.0.0.1:10110, got {value!r}")
    return host, int(port)


def _faults(value: str | None) -> FaultSpec:
    try:
        return parse_faults(value or "")
    except FaultError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None


def stream_options(func: F) -> F:
    """Options shared by replay and drive: where to send, how fast, faults, receiver."""
    for decorator in reversed([
        click.option("--pty", "pty_path", metavar="PATH", help="Create a pseudo-terminal and a symlink PATH to it."),
        click.option("--tcp", metavar="HOST:PORT", help="Serve the stream to TCP clients (port 0: any free port)."),
        click.option("--speed", type=click.FloatRange(min=0), default=1.0, show_default=True,
                     help="Time factor: 1 real time, 10 ten times faster, 0 as fast as the reader takes it."),
        click.option("--faults", metavar="SPEC", help="Faults to inject, e.g. checksum=0.01,drop=0.02,unplug=10@300 "
                     "(see docs/simulators.md)."),
        click.option("--exit-on-hangup", is_flag=True, help="Exit when the reader closes the device "
                     "(default: keep serving; a new reader may open it again)."),
        click.option("-v", "--verbose", is_flag=True, help="Print readers, faults and receiver commands to stderr."),
    ]):  # fmt: skip
        func = decorator(func)
    return func


def _ready(output: Output) -> None:
    # One line on stdout that a script can wait for: the device exists now.
    if isinstance(output, PtyOutput):
        click.echo(f"pty {output.port.path} -> {output.port.device}")
    elif isinstance(output, TcpOutput):
        click.echo(f"tcp {output.address[0]}:{output.port}")
    sys.stdout.flush()


def _log(verbose: bool) -> Callable[[str], None] | None:
    if not verbose:
        return None
    return lambda line: click.echo(f"[{dt.datetime.now():%H:%M:%S.%f}"[:-3] + f"] {line}", err=True)


def _summary(result: RunResult) -> None:
    parts = []
    if result.serve is not None:
        parts.append(" ".join(f"{k}={v}" for k, v in result.serve.as_dict().items()))
    else:
        parts.append(f"epochs={result.epochs_written}")
    faults = {k: v for k, v in result.faults.as_dict().items() if v}
    if faults:
        parts.append("faults: " + " ".join(f"{k}={v}" for k, v in faults.items()))
    click.echo("; ".join(parts), err=True)


def _run(action: Callable[[], RunResult]) -> None:
    try:
        result = action()
    except PtyError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{exc.filename or 'output'}: {exc.strerror or exc}") from None
    _summary(result)


@main.command()
@click.argument("trace", type=click.Path(exists=True, dir_okay=False))
@stream_options
@click.option("--stdout", "to_stdout", is_flag=True, help="Write the stream to standard output (the default).")
@click.option("--loop", is_flag=True, help="Repeat forever, moving times and dates forward each pass.")
@click.option(
    "--start-epoch",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Start at this epoch (0 = the first).",
)
@click.option("--count", type=click.IntRange(min=1), help="Play this many epochs (per pass).")
@click.option("--clean", is_flag=True, help="Send only valid sentences (drop junk, bad checksums, comments).")
@click.option(
    "--now",
    "to_now",
    is_flag=True,
    help="Move times and dates so the first epoch is now: an old recording then looks live to an agent or collector.",
)
@click.option(
    "--max-gap",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="Longer gaps between epoch times are discontinuities, played as one interval.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1, max=50),
    default=1.0,
    show_default=True,
    metavar="HZ",
    help="Epoch rate where the log has no times.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --faults.")
@click.option(
    "--receiver",
    type=click.Choice([f.value for f in Family]),
    default="none",
    show_default=True,
    help="Answer receiver commands as this family (mtk: $PMTK; ublox8/ublox9: UBX).",
)
def replay(trace: str, pty_path: str | None, tcp: str | None, speed: float, faults: str | None,
           exit_on_hangup: bool, verbose: bool, to_stdout: bool, loop: bool, start_epoch: int, count: int | None,
           clean: bool, to_now: bool, max_gap: float, rate: float, seed: int, receiver: str) -> None:  # fmt: skip
    """Play a recorded NMEA log (TRACE) with its own timing to a pty, TCP clients or stdout.

    \b
    activecalls-sim replay tests/data/gpsd/ublox-8.log --pty /tmp/gps0
    activecalls-sim replay drive.nmea --tcp 127.0.0.1:10110 --loop --now
    activecalls-sim replay tests/data/gpsd/ublox-8.log --stdout --speed 0 --faults checksum=0.05 --seed 7
    """
    output = _output(pty_path, tcp, to_stdout)
    config = ReplayRun(trace, output, speed=speed, loop=loop, start_epoch=start_epoch, count=count, clean=clean,
                       now=to_now, max_gap_ms=round(max_gap * 1000), fallback_interval_ms=round(1000 / rate),
                       faults=_faults(faults), seed=seed, receiver=Family(receiver),
                       exit_on_hangup=exit_on_hangup)  # fmt: skip
    _run(functools.partial(run_replay, config, on_ready=_ready, log=_log(verbose)))


def _output(pty_path: str | None, tcp: str | None, to_stdout: bool, file: str | None = None) -> OutputConfig:
    chosen = [name for name, value in (("--pty", pty_path), ("--tcp", tcp), ("--stdout", to_stdout),
                                       ("--out", file)) if value]  # fmt: skip
    if len(chosen) > 1:
        raise click.UsageError(f"choose one output, not {' and '.join(chosen)}")
    return OutputConfig(pty=pty_path, tcp=_host_port(tcp), stdout=to_stdout or not chosen, file=file)


def _start(value: str) -> dt.datetime:
    if value == "now":
        now = dt.datetime.now(dt.UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)
    try:
        return parse_time(value if value.endswith("Z") else value + "Z")
    except InvalidFixError:
        raise click.BadParameter(f"expected an ISO 8601 UTC time like 2026-01-05T08:00:00Z, or now; got {value!r}",
                                 param_hint="--start") from None  # fmt: skip


@main.command()
@click.option(
    "--route",
    metavar="NAME|FILE",
    help="A built-in route (see `activecalls-sim routes`) or a GeoJSON LineString / GPX track file "
    "[default: a61-sheffield-road].",
)
@click.option(
    "--osm",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Drive a random tour (by --seed) on the roads of this OpenStreetMap extract instead of a route.",
)
@click.option(
    "--tour-km", type=click.FloatRange(min=0.5), default=12.0, show_default=True, help="Length of an --osm tour."
)
@click.option("-o", "--out", metavar="FILE", help="Write the whole trace to FILE at once ('-' = stdout).")
@stream_options
@click.option(
    "--truth", metavar="FILE", help="Ground truth JSON lines (default: beside the trace or pty, NAME.truth.jsonl)."
)
@click.option("--kmh", type=float, help="Cruising speed [default: 48; on roads with speeds (--osm, the built-in "
              "routes) each road's speed, capped at 130].")
@click.option("--accel", type=float, default=1.5, show_default=True, help="Acceleration, m/s2.")
@click.option("--decel", type=float, default=2.5, show_default=True, help="Braking, m/s2.")
@click.option("--stop-prob", type=float, default=0.5, show_default=True, help="Chance of stopping at each junction.")
@click.option("--stop-s", type=float, default=20.0, show_default=True, help="Mean stop, seconds (+-50%).")
@click.option("--hz", type=float, default=1.0, show_default=True, help="Fix rate, 1 to 10.")
@click.option(
    "--start",
    "start_text",
    default=DEFAULT_START.strftime("%Y-%m-%dT%H:%M:%SZ"),
    show_default=True,
    help="UTC time of the first fix, or 'now'.",
)
@click.option("--noise-m", type=float, default=2.5, show_default=True, help="GNSS error, RMS metres (capped at 3x).")
@click.option(
    "--tunnel", multiple=True, metavar="START:DURATION", help="No fix from START s for DURATION s; repeatable."
)
@click.option("--talker", type=click.Choice(["GP", "GN"]), default="GP", show_default=True)
@click.option(
    "--sentences",
    default="GGA,GSA,RMC,VTG",
    show_default=True,
    help=f"Sentence types per epoch, from {','.join(SENTENCE_TYPES)}.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--laps", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Stop after this long."
)
@click.option(
    "--receiver",
    type=click.Choice([f.value for f in Family]),
    default="mtk",
    show_default=True,
    help="Receiver family to emulate on --pty/--tcp.",
)
def drive(route: str | None, osm: Path | None, tour_km: float, out: str | None, pty_path: str | None, tcp: str | None,
          speed: float, faults: str | None, exit_on_hangup: bool, verbose: bool, truth: str | None, kmh: float | None,
          accel: float, decel: float,
          stop_prob: float, stop_s: float, hz: float, start_text: str, noise_m: float, tunnel: tuple[str, ...],
          talker: str, sentences: str, seed: int, laps: int, duration: float | None,
          receiver: str) -> None:  # fmt: skip
    """Synthesize NMEA for a vehicle following a route, with its ground truth.

    \b
    activecalls-sim drive --route a619-chatsworth-road --seed 1 -o chatsworth.nmea
    activecalls-sim drive --osm data/osm/chesterfield-s40.osm.pbf --seed 3 -o tour.nmea
    activecalls-sim drive --pty /tmp/gps0 --hz 5 --start now --noise-m 3 --tunnel 120:30
    """
    kinds = tuple(s.strip().upper() for s in sentences.split(",") if s.strip())
    unknown = [k for k in kinds if k not in SENTENCE_TYPES]
    if unknown or not kinds:
        raise click.BadParameter(f"unknown sentence type(s) {unknown}; choose from {','.join(SENTENCE_TYPES)}",
                                 param_hint="--sentences")  # fmt: skip
    if route is not None and osm is not None:
        raise click.UsageError("choose --route or --osm, not both")
    try:
        loaded = _osm_tour(osm, seed, tour_km) if osm is not None else load_route(route or "a61-sheffield-road")
        if kmh is None:
            kmh = 130.0 if loaded.speeds is not None else 48.0
        config = DriveConfig(loaded, kmh=kmh, accel=accel, decel=decel, stop_prob=stop_prob, stop_s=stop_s, hz=hz,
                             start=_start(start_text), noise_m=noise_m, tunnels=parse_tunnels(tunnel), talker=talker,
                             sentences=kinds, seed=seed, laps=laps, duration_s=duration)  # fmt: skip
    except (RouteError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    output = _output(pty_path, tcp, False, out)
    if output.stdout:
        raise click.UsageError("choose an output: -o FILE (or -o - for stdout), --pty PATH or --tcp HOST:PORT")
    run = DriveRun(config, output, truth=truth, speed=speed, faults=_faults(faults), receiver=Family(receiver),
                   exit_on_hangup=exit_on_hangup)  # fmt: skip
    _run(functools.partial(run_drive, run, on_ready=_ready, log=_log(verbose), stdout=sys.stdout.buffer))


def _osm_tour(osm: Path, seed: int, tour_km: float) -> Route:
    import random

    from collector.roads.graph import RoadGraphError
    from simulators.roads import load_paths, random_tour

    try:
        paths = load_paths(osm)
    except RoadGraphError as exc:
        raise click.BadParameter(str(exc), param_hint="--osm") from None
    return random_tour(paths, random.Random(seed), length_m=tour_km * 1000, name=f"{osm.name.split('.')[0]}-{seed}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per route.")
def routes(as_json: bool) -> None:
    """List the built-in routes around Chesterfield, Derbyshire."""
    for name in builtin_names():
        route = load_route(name)
        length = Polyline(route.points).length
        if as_json:
            click.echo(json.dumps({"name": name, "length_m": round(length), "vertices": len(route.points),
                                   "stops": len(route.stops), "description": route.description}))  # fmt: skip
        else:
            click.echo(f"{name:22} {length / 1000:5.1f} km  {route.description}")


def _centre(value: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in value.split(","))
    except ValueError:
        raise click.BadParameter(
            f"expected LAT,LON, e.g. 53.235,-1.421, got {value!r}", param_hint="--centre"
        ) from None
    if not (abs(lat) <= 90 and abs(lon) <= 180):
        raise click.BadParameter(f"LAT,LON out of range: {value!r}", param_hint="--centre")
    return lat, lon


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="MQTT broker host.")
@click.option("--port", type=click.IntRange(1, 65535), help="MQTT port (default: 1883, or 8883 with TLS).")
@click.option("--fleet", "fleet_id", default="derbyshire", show_default=True, help="Fleet id in the topics.")
@click.option("--units", type=click.IntRange(min=1), default=500, show_default=True)
@click.option(
    "--hz",
    type=click.FloatRange(min=0, max=10, min_open=True),
    default=1.0,
    show_default=True,
    help="Fixes per second per unit.",
)
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True, metavar="SECONDS"
)
@click.option(
    "--outage",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    metavar="P",
    help="Fraction of units that lose their connection, keep fixes, and send them on track afterwards.",
)
@click.option("--outage-at", type=click.FloatRange(min=0), metavar="SECONDS", help="Default: a quarter into the run.")
@click.option("--outage-for", type=click.FloatRange(min=0), metavar="SECONDS", help="Default: a quarter of the run.")
@click.option(
    "--centre",
    default="53.2350,-1.4210",
    show_default=True,
    metavar="LAT,LON",
    help="Centre of the patrol area (default: Chesterfield).",
)
@click.option("--radius-km", type=float, default=5.0, show_default=True)
@click.option("--osm", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="Units patrol the roads of this OpenStreetMap extract (default: polygons off the roads).")
@click.option("--prefix", default="SIM", show_default=True, help="Unit ids are PREFIX-0001, PREFIX-0002, ...")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--tls", is_flag=True, help="MQTT over TLS (on with --ca-file or --cert-dir).")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CA certificate that signed the broker's (default with TLS: the system's CAs).")  # fmt: skip
@click.option("--cert-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with each unit's client certificate and key, <UNIT>.crt and <UNIT>.key "
                   "(deploy/pki/make-lab-pki writes them under units/).")  # fmt: skip
@click.option("--username", help="MQTT user name.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the MQTT password (first line; private, as the agent's).")  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, help="Print progress to stderr.")
def fleet(host: str, port: int | None, fleet_id: str, units: int, hz: float, duration: float, outage: float,
          outage_at: float | None, outage_for: float | None, centre: str, radius_km: float, osm: Path | None,
          prefix: str, seed: int,
          tls: bool, ca_file: Path | None, cert_dir: Path | None, username: str | None,
          password_file: Path | None, verbose: bool) -> None:  # fmt: skip
    """Load generator: N units publishing fixes to the broker with the wire contract.

    Each unit logs in as an agent does (the agents' own MQTT connection): with
    --cert-dir, over TLS with its own client certificate, so the production
    broker configuration can be loaded as it is.

    \b
    activecalls-sim fleet --units 500 --hz 1 --duration 60
    activecalls-sim fleet --units 50 --duration 120 --outage 0.2 --outage-at 30 --outage-for 40
    activecalls-sim fleet --port 8883 --ca-file lab-pki/ca.crt --cert-dir lab-pki/units --prefix PC
    """
    from common.mqtt import MqttSettings, check_secrets, is_loopback

    tls = tls or ca_file is not None or cert_dir is not None
    if password_file is not None and username is None:
        raise click.UsageError("--password-file needs --username")
    if password_file is not None and not tls and not is_loopback(host):
        raise click.UsageError(f"the password would cross the network to {host} in clear: add --tls (and --ca-file)")
    settings = MqttSettings(host=host, port=port or (8883 if tls else 1883), username=username,
                            password_file=password_file, tls=tls, ca_file=ca_file, keepalive_s=60)  # fmt: skip
    try:
        config = FleetConfig(mqtt=settings, cert_dir=cert_dir, fleet=fleet_id, units=units, hz=hz,
                             duration_s=duration, outage=outage, outage_at_s=outage_at, outage_for_s=outage_for,
                             centre=_centre(centre), radius_km=radius_km, seed=seed, prefix=prefix,
                             osm=osm)  # fmt: skip
        check_secrets(settings)
        if cert_dir is not None:  # every unit's certificate, before the first connection
            for index in (0, config.units - 1):
                check_secrets(config.settings_for(config.unit_id(index)))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    from collector.roads.graph import RoadGraphError

    try:
        report = run_fleet(config, say=_log(verbose) or (lambda line: None))
    except FleetError as exc:
        raise click.ClickException(str(exc)) from None
    except RoadGraphError as exc:
        raise click.BadParameter(str(exc), param_hint="--osm") from None
    for line in report.lines():
        click.echo(line)


@main.command()
@click.option("--keep", is_flag=True, help="Keep the demo's folder (configs, logs, databases, public files).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), help="Use this folder (kept).")
def demo(keep: bool, workdir: Path | None) -> None:
    """The whole system on this machine for about two minutes: brokers, collector,
    five cars (simulated receiver -> real agent), incidents, road ETAs, an arrival
    measured, public feed and public site."""
    from simulators.demo import DemoError, run_demo

    try:
        run_demo(workdir=workdir, keep=keep)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    main()
