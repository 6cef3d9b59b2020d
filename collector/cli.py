"""``activecalls-collector``: the collector's command line.

Only click decorators, argument checks and printing live here; the work is in
:mod:`collector.commands` and :mod:`collector.service`. A usage mistake (a bad
option, a bad value, a missing or wrong config) is one line on stderr,
``activecalls-collector ...: error: ...``, and exit status 2; a command that
could not do its work (broker down, nothing found) says why in one line and
exits 1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from collector.config import DEFAULT_CONFIG_PATH, CollectorConfig, ConfigError, load_config
from collector.export import ExportFormat
from collector.public.cli import public
from collector.public.settings import read_secret
from common.clierrors import OneLineErrorGroup, UsageMistake
from common.cliopts import config_option_for, log_level_option
from common.wire import DutyStatus, Incident, IncidentStatus, WireError, encode_eta, validate_id

PROG = "activecalls-collector"
T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    from collector.commands import CommandError

    try:
        return asyncio.run(coroutine)
    except CommandError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(cls=OneLineErrorGroup, name=PROG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="activecalls")
def main() -> None:
    """Active Calls collector: fleet state, history, incidents and ETAs."""


config_option = config_option_for(DEFAULT_CONFIG_PATH, "ACTIVECALLS_COLLECTOR_CONFIG", "collector")


def _load(config_path: Path) -> CollectorConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise UsageMistake(str(exc)) from None


def _id(kind: str, value: str) -> str:
    try:
        return validate_id(kind, value)
    except WireError as exc:
        raise UsageMistake(str(exc)) from None


_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _time_option(_ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """An ISO 8601 time or date (UTC unless it says otherwise), or an age: 30m, 2h, 7d."""
    if value is None:
        return None
    found = _RELATIVE.fullmatch(value.strip())
    if found:
        return time.time() - float(found.group(1)) * _UNIT_S[found.group(2)]
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        message = f"expected an ISO time (2026-05-01T08:00Z) or an age (30m, 2h, 7d), got {value!r}"
        raise click.BadParameter(message) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


# -- the service ----------------------------------------------------------------------------


@main.command()
@config_option
@log_level_option
def run(config_path: Path, log_level: str) -> None:
    """Run the collector until SIGTERM: ingest, store, compute and publish ETAs."""
    from collector.service import run as run_service
    from common.mqtt import check_secrets

    config = _load(config_path)
    if config.eta.osm is not None and not config.eta.osm.is_file():
        raise UsageMistake(f"{config.path}: [eta] osm: no such OpenStreetMap file {config.eta.osm}")
    try:  # a missing or loose secret is a mistake to report now, not in the log
        check_secrets(config.mqtt)
        if config.ingest.view_cert_file is not None:  # the fleet-view connection's identity
            check_secrets(dataclasses.replace(config.mqtt, cert_file=config.ingest.view_cert_file,
                                              key_file=config.ingest.view_key_file))  # fmt: skip
        if config.public.enabled and config.public.secret_file is not None:
            read_secret(config.public.secret_file)
    except ConfigError as exc:
        raise UsageMistake(str(exc)) from None
    sys.exit(run_service(config, log_level=log_level.upper()))


@main.command()
@config_option
def check(config_path: Path) -> None:
    """Check an installation: the config, the broker (login and subscriptions), the database.

    Prints a ✓/✗ line each; exits 1 if anything failed.
    """
    from collector.commands import format_checks, run_checks

    config = _load(config_path)
    results = _run(run_checks(config))
    click.echo(format_checks(config, results), nl=False)
    if not all(r.ok for r in results):
        sys.exit(1)


@main.command()
@config_option
@click.option("--since", callback=_time_option, help="Fixes from this time (ISO 8601, or an age: 2h, 7d).")
@click.option("--until", callback=_time_option, help="Fixes before this time (ISO 8601, or an age).")
@click.option("--unit", "units", multiple=True, help="Only this unit (repeatable).")
@click.option(
    "--format", "fmt", type=click.Choice([f.value for f in ExportFormat]), default="geojson", show_default=True
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
def export(
    config_path: Path, since: float | None, until: float | None, units: Sequence[str], fmt: str, output: Path | None
) -> None:
    """Export the position history, in fix-time order (GPX: one track per unit).

    A file written with --output is readable by its owner only (mode 0600).
    """
    from collector.commands import export as export_fixes

    config = _load(config_path)
    for unit in units:
        _id("unit", unit)
    if output is None:
        count = _run(export_fixes(config, sys.stdout, ExportFormat(fmt), since=since, until=until, units=units))
    else:
        try:
            # The whole position history: the owner's alone, whatever the umask
            # (and an existing file is made private too before it is written).
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)
            with open(fd, "w", encoding="utf-8") as out:
                count = _run(export_fixes(config, out, ExportFormat(fmt), since=since, until=until, units=units))
        except OSError as exc:
            raise UsageMistake(f"{output}: {exc.strerror or exc}") from None
        click.echo(f"{count} fixes written to {output}", err=True)


# -- incidents and duty status (published, as a CAD integration would) ----------------------


@main.group()
def incident() -> None:
    """Open, close and assign incidents (published retained on the broker)."""


@incident.command("open")
@config_option
@click.option("--type", "incident_type", required=True, help="CAD incident type, e.g. burglary.")
@click.option("--priority", type=click.IntRange(1, 4), required=True, help="1 (emergency) to 4 (routine).")
@click.option(
    "--lat", type=click.FloatRange(-90, 90), required=True,
    help="Where the incident is: latitude in decimal degrees, WGS 84, north positive (e.g. 53.2350).",
)  # fmt: skip
@click.option(
    "--lon", type=click.FloatRange(-180, 180), required=True,
    help="Longitude in decimal degrees, WGS 84, east positive (e.g. -1.4210).",
)  # fmt: skip
@click.option("--id", "incident_id",
              help="Incident id, e.g. the CAD's (default: INC-<UTC date>-<time>-<8 random hex digits>). "
                   "Refused if an incident with this id is open with different details.")  # fmt: skip
@click.option("--unit", "units", multiple=True, help="A unit assigned from the start (repeatable).")
def incident_open(
    config_path: Path,
    incident_type: str,
    priority: int,
    lat: float,
    lon: float,
    incident_id: str | None,
    units: Sequence[str],
) -> None:
    """Open an incident; prints its id."""
    from collector.commands import open_incident

    config = _load(config_path)
    now = dt.datetime.now(dt.UTC)
    # 32 random bits: two incidents opened in the same second (two operators, a
    # script) get different ids, where the time alone gave both the same one.
    incident_id = _id("incident", incident_id or f"INC-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}")
    try:
        value = Incident(incident_id, incident_type, priority, lat, lon, IncidentStatus.OPEN,
                         now.replace(microsecond=now.microsecond // 1000 * 1000), tuple(units))  # fmt: skip
    except WireError as exc:
        raise UsageMistake(str(exc)) from None
    if not _run(open_incident(config, value)):
        click.echo(f"{incident_id} is already open with these details: nothing changed", err=True)
    click.echo(incident_id)


@incident.command("close")
@config_option
@click.argument("incident_id", metavar="ID")
def incident_close(config_path: Path, incident_id: str) -> None:
    """Close incident ID."""
    from collector.commands import fetch_incident, publish_incident

    config = _load(config_path)
    incident_id = _id("incident", incident_id)

    async def go() -> None:
        current = await fetch_incident(config, incident_id)
        await publish_incident(config, dataclasses.replace(current, status=IncidentStatus.CLOSED))

    _run(go())
    click.echo(f"{incident_id} closed")


@incident.command("assign")
@config_option
@click.argument("incident_id", metavar="ID")
@click.argument("unit", metavar="UNIT")
def incident_assign(config_path: Path, incident_id: str, unit: str) -> None:
    """Assign UNIT to incident ID."""
    from collector.commands import fetch_incident, publish_incident

    config = _load(config_path)
    incident_id, unit = _id("incident", incident_id), _id("unit", unit)

    async def go() -> None:
        current = await fetch_incident(config, incident_id)
        if unit not in current.units:
            await publish_incident(config, dataclasses.replace(current, units=(*current.units, unit)))

    _run(go())
    click.echo(f"{unit} assigned to {incident_id}")


@main.command("unit-status")
@config_option
@click.argument("unit", metavar="UNIT")
@click.argument("status", metavar="STATUS", type=click.Choice([s.value for s in DutyStatus]))
def unit_status(config_path: Path, unit: str, status: str) -> None:
    """Set UNIT's duty status: available, dispatched, enroute, onscene or unavailable."""
    from collector.commands import publish_status

    config = _load(config_path)
    _run(publish_status(config, _id("unit", unit), DutyStatus(status)))
    click.echo(f"{unit}: {status}")


# -- what the collector knows, computed now from its database ---------------------------------


@main.command()
@config_option
@click.argument("incident_ids", metavar="[ID]...", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One ETA report (the wire's JSON) per line.")
def etas(config_path: Path, incident_ids: Sequence[str], as_json: bool) -> None:
    """ETAs of every unit to each open incident (or to ID), with the recommendation."""
    from collector.commands import load_state, reports
    from collector.text import format_etas

    config = _load(config_path)
    for incident_id in incident_ids:
        _id("incident", incident_id)
    state = _run(load_state(config))
    found = reports(config, state, incident_ids)  # a RouterError is one line (OneLineErrorGroup)
    if as_json:
        for report in found:
            click.echo(encode_eta(report).decode())
        return
    if not found:
        click.echo("No open incidents.")
    click.echo("\n".join(format_etas(report, state.now) for report in found), nl=False)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per unit.")
def units(config_path: Path, as_json: bool) -> None:
    """Every unit: duty, connectivity, position and its age, seq gaps."""
    from collector.commands import load_state
    from collector.text import format_units

    state = _run(load_state(_load(config_path)))
    views = state.fleet.views(state.now)
    if not as_json:
        click.echo(format_units(views, state.now), nl=False)
        return
    for v in views:
        obj = {
            "unit": v.unit,
            "duty": v.duty,
            "connectivity": v.connectivity,
            "lat": None if v.fix is None else v.fix.lat,
            "lon": None if v.fix is None else v.fix.lon,
            "fix_age_s": None if v.fix_age_s is None else round(v.fix_age_s, 1),
            "stale": v.stale,
            "excluded": v.excluded,
            "seq": v.seq,
            "missing": v.missing,
            "gaps": v.gap_ranges,
            "seq_jumps": v.seq_jumps,
        }
        click.echo(json.dumps(obj))


@main.command()
@config_option
@click.option("--all", "include_closed", is_flag=True, help="Closed incidents too.")
def incidents(config_path: Path, include_closed: bool) -> None:
    """Open incidents, most urgent first."""
    from collector.commands import load_state
    from collector.text import format_incidents

    state = _run(load_state(_load(config_path)))
    click.echo(format_incidents(state.incidents, state.now, include_closed=include_closed), nl=False)


@main.command("calibrate")
@config_option
@click.option("--since", callback=_time_option, help="Only incidents from this time (ISO 8601, or an age: 30d).")
@click.option("--priority", type=click.IntRange(1, 4), default=4, show_default=True,
              help="Priority whose default profile the fit is compared with.")  # fmt: skip
def calibrate_command(config_path: Path, since: float | None, priority: int) -> None:
    """Fit circuity and speed profile to recorded drives that ended at their incident."""
    from collector.commands import calibrate_from_store

    config = _load(config_path)
    found = _run(calibrate_from_store(config, priority=priority, since=since))
    for line in found.lines(priority):
        click.echo(line)


@main.group("dead-letters", invoke_without_command=True)
@config_option
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Show at most this many.")
@click.pass_context
def dead_letters(ctx: click.Context, config_path: Path, limit: int) -> None:
    """Messages the collector could not apply (an internal error), kept instead of lost.

    \b
    dead-letters              list them, oldest first
    dead-letters show ID      one in full, payload included
    dead-letters replay ID... the running collector applies them again (--all: every one)
    dead-letters drop ID...   delete them for good (--all: every one)
    """
    if ctx.invoked_subcommand is not None:
        return
    from collector.commands import dead_letters as list_letters
    from collector.deadletters import format_dead_letters

    letters, total = _run(list_letters(_load(config_path), limit=limit))
    click.echo(format_dead_letters(letters, total), nl=False)


@dead_letters.command("show")
@config_option
@click.argument("letter_id", metavar="ID", type=int)
def dead_letters_show(config_path: Path, letter_id: int) -> None:
    """Show dead letter ID: topic, when, error, payload."""
    from collector.commands import dead_letter
    from collector.deadletters import format_dead_letter

    click.echo(format_dead_letter(_run(dead_letter(_load(config_path), letter_id))), nl=False)


def _letter_ids(ids: Sequence[int], every: bool) -> list[int] | None:
    if every == bool(ids):
        raise UsageMistake("name the dead letters (their IDs) or pass --all")
    return None if every else list(ids)


@dead_letters.command("replay")
@config_option
@click.argument("ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every dead letter.")
def dead_letters_replay(config_path: Path, ids: Sequence[int], every: bool) -> None:
    """Have the running collector apply dead letters again (within 10 s).

    One that fails again stays, with the new error and one more attempt.
    """
    from collector.commands import change_dead_letters

    count = _run(change_dead_letters(_load(config_path), _letter_ids(ids, every), drop=False))
    click.echo(f"{count} dead letter(s) to be applied again by the running collector")


@dead_letters.command("drop")
@config_option
@click.argument("ids", metavar="[ID]...", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every dead letter.")
def dead_letters_drop(config_path: Path, ids: Sequence[int], every: bool) -> None:
    """Delete dead letters for good."""
    from collector.commands import change_dead_letters

    count = _run(change_dead_letters(_load(config_path), _letter_ids(ids, every), drop=True))
    click.echo(f"{count} dead letter(s) deleted")


@main.group()
def eta() -> None:
    """ETAs measured: score the method on recorded drives, report predicted vs actual arrivals."""


@eta.command("report")
@config_option
@click.option("--since", callback=_time_option, help="Arrivals from this time (ISO 8601, or an age: 7d).")
def eta_report(config_path: Path, since: float | None) -> None:
    """Predicted vs actual: the ETA at dispatch against the measured arrival, by priority and method.

    An arrival is a dispatched unit slow or stopped within 100 m of its
    incident, or reporting duty status onscene.
    """
    from collector.commands import arrivals
    from collector.text import format_arrivals

    click.echo(format_arrivals(_run(arrivals(_load(config_path), since=since))), nl=False)


@eta.command("score")
@click.argument("drives", metavar="DRIVE...", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))  # fmt: skip
@click.option("--osm", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="Route on this OpenStreetMap extract's roads (default: the model on straight-line distance).")
@click.option("--no-learning", "plain", is_flag=True,
              help="The method as configured, learning nothing from the drive's past (the baseline).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (docs/eta.md gives its fields).")  # fmt: skip
def eta_score(drives: Sequence[Path], osm: Path | None, plain: bool, as_json: bool) -> None:
    """Score ETAs on recorded drives (JSON lines of time, lat, lon, or NMEA).

    Trips of 1-15 minutes where the car drove fairly directly; each drive is
    replayed in time order so only its past informs a prediction. Prints, per
    drive, the trips and the median and p90 of |predicted - actual| / actual.
    """
    from collector.etatools import score_files

    found = score_files(drives, osm=osm, learn=not plain)  # a ScoreError is one line (OneLineErrorGroup)
    if as_json:
        click.echo(found.to_json())
    else:
        for line in found.lines():
            click.echo(line)


main.add_command(public)

if __name__ == "__main__":  # pragma: no cover
    main()
