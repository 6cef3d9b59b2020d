"""``activecalls-agent`` commands that read the configuration: run, check, outbox.

Apart from :mod:`agent.cli` so that ``parse``, which needs none of this,
starts without importing the service's stack (asyncio, paho, aiosqlite):
:class:`agent.cli.main` loads this module when one of these commands is named.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import click

from agent.config import DEFAULT_CONFIG_PATH, AgentConfig, ConfigError, load_config
from common.clierrors import UsageMistake
from common.cliopts import config_option_for, log_level_option

__all__ = ["check", "outbox", "run"]

config_option = config_option_for(DEFAULT_CONFIG_PATH, "ACTIVECALLS_AGENT_CONFIG", "agent")


def _load(config_path: Path) -> AgentConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise UsageMistake(str(exc)) from None


@click.command()
@config_option
@log_level_option
def run(config_path: Path, log_level: str) -> None:
    """Run the agent: read the GPS, report fixes to the broker, until SIGTERM."""
    from agent.service import run as run_service
    from common.mqtt import check_secrets

    config = _load(config_path)
    try:
        check_secrets(config.mqtt)  # a loose or missing key is a mistake to report now, not to retry
    except ConfigError as exc:
        raise UsageMistake(str(exc)) from None
    sys.exit(run_service(config, log_level=log_level.upper()))


@click.command()
@config_option
@click.option(
    "--gps-seconds", type=click.FloatRange(0.5, 600), default=5.0, show_default=True,
    help="How long to listen to the receiver.",
)  # fmt: skip
def check(config_path: Path, gps_seconds: float) -> None:
    """Check an installation: GPS device, data and fix; broker login; outbox.

    Prints a ✓/✗ table; exits 1 if anything failed, each failure with a hint.
    """
    from agent.check import format_report, run_checks

    config = _load(config_path)
    results = asyncio.run(run_checks(config, gps_seconds))
    click.echo(format_report(config, results), nl=False)
    if not all(r.ok for r in results):
        sys.exit(1)


@click.group()
def outbox() -> None:
    """Inspect the outbox (the fixes not yet acknowledged by the broker)."""


def _outbox_path(config_path: Path, path: Path | None) -> tuple[Path, str]:
    if path is not None:
        return path, ""
    config = _load(config_path)
    return config.outbox.path, config.unit


async def _open_readonly(path: Path):  # type: ignore[no-untyped-def]
    from agent.outbox import Outbox, OutboxError

    try:
        return await Outbox.open(path, readonly=True)
    except OutboxError as exc:
        raise click.ClickException(str(exc)) from None


path_option = click.option(
    "--path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="The outbox file (default: [outbox] path of the config).",
)  # fmt: skip


@outbox.command()
@config_option
@path_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
def stats(config_path: Path, path: Path | None, as_json: bool) -> None:
    """Backlog size, oldest and newest fix, last seq, fixes thinned when full."""
    outbox_path, _unit = _outbox_path(config_path, path)

    async def go() -> dict[str, object]:
        box = await _open_readonly(outbox_path)
        try:
            return (await box.stats()).as_dict()  # type: ignore[no-any-return]
        finally:
            await box.close()

    data = asyncio.run(go())
    if as_json:
        click.echo(json.dumps(data))
        return
    for key, value in data.items():
        click.echo(f"{key:15} {'-' if value is None else value}")


@outbox.command()
@config_option
@path_option
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many fixes (oldest first).")
def export(config_path: Path, path: Path | None, limit: int | None) -> None:
    """Print the backlog as JSON lines, oldest first, as the wire's fix objects."""
    from common.wire import WireFix

    outbox_path, unit = _outbox_path(config_path, path)

    async def go() -> None:
        box = await _open_readonly(outbox_path)
        try:
            cursor, left = 0, limit
            while left is None or left > 0:
                rows = await box.after(cursor, 1000 if left is None else min(left, 1000))
                if not rows:
                    break
                for seq, fix in rows:
                    obj = WireFix(unit, seq, fix).to_dict() if unit else {"seq": seq, **fix.to_dict()}
                    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
                cursor = rows[-1][0]
                if left is not None:
                    left -= len(rows)
        finally:
            await box.close()

    try:
        asyncio.run(go())
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
