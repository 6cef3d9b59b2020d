"""``activecalls-agent``: the in-car agent's command line.

Only click decorators and printing live here; the work is done by the pure
core (``agent.decoder``) and the service shells.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import sys
from typing import BinaryIO, ClassVar

import click

from agent.decoder import NmeaDecoder
from common.clierrors import OneLineErrorGroup, UsageMistake

CHUNK_SIZE = 65536


class _AgentGroup(OneLineErrorGroup):
    """The commands other than ``parse`` are imported when named (or listed by
    --help): ``parse`` starts in a third of the time without the service's stack."""

    LAZY: ClassVar[dict[str, str]] = {
        "run": "agent.commands:run",
        "check": "agent.commands:check",
        "outbox": "agent.commands:outbox",
        "receiver": "agent.receiver.cli:receiver",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY:
            module, name = self.LAZY[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module), name)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=_AgentGroup, name="activecalls-agent", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="activecalls")
def main() -> None:
    """Active Calls in-car agent: read a GPS receiver, report fixes over MQTT."""


def _date_option(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date as YYYY-MM-DD, got {value!r}", ctx, param) from None


@main.command()
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False, path_type=str))
@click.option("--stats", is_flag=True, help="Print counters (lines, sentences, rejects, junk, fixes) to stderr.")
@click.option(
    "--week-rollover-ref",
    metavar="YYYY-MM-DD",
    envvar="ACTIVECALLS_WEEK_ROLLOVER_REF",
    show_envvar=True,
    callback=_date_option,
    help="Move dates before this day forward by 1024-week GPS eras (receivers with stale "
    "firmware). Off by default: recordings keep the dates they were made on.",
)
def parse(file: str, stats: bool, week_rollover_ref: dt.date | None) -> None:
    """Decode a recorded NMEA log (FILE, or - for stdin); print one JSON fix per line.

    Lines starting with # are comments. Exit status is 0 whatever the content
    (a note on stderr when it holds no NMEA sentence); only an unreadable file
    is an error.
    """
    decoder = NmeaDecoder(skip_comments=True, week_rollover_reference=week_rollover_ref)
    try:
        stream: BinaryIO = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    except OSError as exc:  # missing, a directory, no permission: the user's to fix
        raise UsageMistake(f"cannot read {file}: {exc.strerror or exc}") from None
    out = sys.stdout
    try:
        with stream:
            while chunk := stream.read(CHUNK_SIZE):
                if fixes := decoder.feed(chunk):
                    out.write("".join([fix.to_json() + "\n" for fix in fixes]))
            out.write("".join([fix.to_json() + "\n" for fix in decoder.finish()]))
        out.flush()
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            # The reader (e.g. `head`) has gone: not an error for us.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        raise click.ClickException(f"cannot read {file}: {exc.strerror or exc}") from None
    counts = decoder.stats
    if counts.decoded + counts.rejected_checksum + counts.malformed == 0:
        click.echo(f"activecalls-agent parse: no NMEA sentence found in {file}", err=True)
    if stats:
        counters = " ".join(f"{k}={v}" for k, v in counts.as_dict().items())
        click.echo(counters, err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
