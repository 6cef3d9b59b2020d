"""``activecalls-collector public``: look at the public feed, export the public site.

Only click decorators and printing live here: the snapshot is the publisher's
(:meth:`collector.public.shell.PublicPublisher.compute`), the table is
:func:`collector.public.format_table`. The collector's command group adds this
one with ``main.add_command(public)``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import aiosqlite
import click

from collector.config import DEFAULT_CONFIG_PATH, CollectorConfig, load_config
from collector.public.feed import format_table
from collector.public.policy import MAX_OBSERVATION_GAP_S
from collector.public.settings import PublicSettings
from collector.public.shell import PublicPublisher, store_source
from collector.store import SCHEMA_VERSION, Store
from collector.web.basemap import BasemapError
from collector.web.export import export_site
from common.clierrors import UsageMistake
from common.cliopts import config_option_for
from common.fix import InvalidFixError, parse_time
from common.tomlconfig import ConfigError
from common.wire import Topics

__all__ = ["public", "preview_text"]


def _load(config_path: Path) -> CollectorConfig:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise UsageMistake(str(exc)) from None
    if not config.public.enabled and config.public.secret_file is None:
        raise UsageMistake(f"{config_path}: no [public] section with a secret_file: the public feed is not configured")
    return config


async def _open_readonly(path: Path) -> Store:
    """The collector's database, opened so that nothing can be written (mode=ro)."""
    if not path.is_file():
        raise UsageMistake(f"{path}: no such database (has the collector run with this config?)")
    # A running collector keeps the -wal file (WAL mode) while its connection is
    # open: then read-only mode reads its committed state. Without one, nothing
    # has the database open, and read-only mode would leave a -wal and -shm
    # behind, owned by whoever ran the preview (root), which a collector later
    # started as its own user could not open: read it as an immutable file.
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() else "immutable=1"
    try:
        db = await aiosqlite.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, isolation_level=None)
    except aiosqlite.Error as exc:
        raise UsageMistake(f"{path}: cannot open the database read-only: {exc}") from None
    store = Store(db, path)
    try:
        version = await store.schema_version()
    except aiosqlite.Error as exc:
        await store.close()
        raise UsageMistake(f"{path}: not a collector database: {exc}") from None
    if version != SCHEMA_VERSION:
        await store.close()
        raise UsageMistake(f"{path}: schema version {version}, this collector reads version {SCHEMA_VERSION}")
    return store


async def preview_text(settings: PublicSettings, fleet: str, database: Path, now: dt.datetime) -> tuple[str, str]:
    """(the table of what would be published at ``now``, a note for stderr or "")."""
    store = await _open_readonly(database)
    try:
        try:
            publisher = PublicPublisher.start(settings, Topics(fleet), store_source(store), with_history=False)
        except ConfigError as exc:
            raise UsageMistake(str(exc)) from None
        snap, _ = await publisher.compute(now)
    finally:
        await store.close()
    note = ""
    seen = publisher.state.observed_at
    if seen is None or abs((now - seen).total_seconds()) > MAX_OBSERVATION_GAP_S:
        when = "no saved state" if seen is None else f"state saved at {seen:%Y-%m-%dT%H:%M:%SZ}"
        note = (
            f"note: {when} ({settings.state_file}): units are hidden until the feed has watched their "
            f"duty status for unit_delay_s ({settings.policy.unit_delay_s} s), as after a restart"
        )
    return format_table(snap.units, snap.calls), note


@click.group()
def public() -> None:
    """The public "active calls" feed (docs/privacy.md)."""


def _time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except InvalidFixError:
        raise click.BadParameter(f"expected a UTC time like 2026-11-28T08:30:00Z, got {value!r}") from None


@public.command()
@config_option_for(DEFAULT_CONFIG_PATH, "ACTIVECALLS_COLLECTOR_CONFIG", "collector")
@click.option("--at", "at", callback=_time, default=None, help="Preview as of this UTC time instead of now.")
def preview(config_path: Path, at: dt.datetime | None) -> None:
    """Print what the feed would publish now, as a table (reads the database only)."""
    config = _load(config_path)
    now = at or dt.datetime.now(dt.UTC)
    text, note = asyncio.run(preview_text(config.public, config.fleet, config.store.path, now))
    if note:
        click.echo(note, err=True)
    click.echo(text, nl=False)


@public.command("export-site")
@config_option_for(DEFAULT_CONFIG_PATH, "ACTIVECALLS_COLLECTOR_CONFIG", "collector")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), required=False)
def export_site_command(config_path: Path, folder: Path | None) -> None:
    """Write the public site as plain files into FOLDER (default: [public] public_dir).

    The page, its scripts, the map layer, trends.json and the open data of the
    last 365 days; the page reads the units.geojson and calls.geojson the feed
    writes beside it. Run again (daily) to refresh the trends and open data.
    """
    config = _load(config_path)
    target = folder or config.public.public_dir
    if target is None:
        raise UsageMistake("no FOLDER given and no [public] public_dir set: where should the site go?")
    try:
        report = export_site(config, target)
    except BasemapError as exc:
        raise UsageMistake(str(exc)) from None
    except OSError as exc:
        raise UsageMistake(f"{target}: cannot write the site: {exc.strerror or exc}") from None
    size = f"{report.bytes / 1024:.0f} KB"
    click.echo(f"wrote {report.files} files ({size}) into {target}: {report.calls} calls in the open data")
    if report.note:
        click.echo(f"note: {report.note}", err=True)
