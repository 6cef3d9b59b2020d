"""``activecalls-agent``: the in-car agent's command line.

Only click decorators and printing live here; the work is done by the pure
core (``agent.decoder``) and the service shells.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import BinaryIO

import click

from agent.decoder import NmeaDecoder

CHUNK_SIZE = 65536


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="activecalls")
def main() -> None:
    """Active Calls in-car agent: read a GPS receiver, report fixes over MQTT."""


def _date_option(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date as YYYY-MM-DD, got {value!r}") from None


@main.command()
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False, path_type=str))
@click.option("--stats", is_flag=True, help="Print counters (lines, sentences, rejects, junk, fixes) to stderr.")
@click.option(
    "--week-rollover-ref",
    metavar="YYYY-MM-DD",
    envvar="ACTIVECALLS_WEEK_ROLLOVER_REF",
    help="Move dates before this day forward by 1024-week GPS eras (receivers with stale "
    "firmware). Off by default: recordings keep the dates they were made on.",
)
def parse(file: str, stats: bool, week_rollover_ref: str | None) -> None:
    """Decode a recorded NMEA log (FILE, or - for stdin); print one JSON fix per line.

    Lines starting with # are comments. Exit status is 0 whatever the content;
    only an unreadable file is an error.
    """
    reference = _date_option(week_rollover_ref)
    decoder = NmeaDecoder(skip_comments=True, week_rollover_reference=reference)
    try:
        stream: BinaryIO = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror or exc}") from None
    out = sys.stdout
    try:
        with stream:
            while chunk := stream.read(CHUNK_SIZE):
                for fix in decoder.feed(chunk):
                    out.write(fix.to_json() + "\n")
            for fix in decoder.finish():
                out.write(fix.to_json() + "\n")
        out.flush()
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            # The reader (e.g. `head`) has gone: not an error for us.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        raise click.ClickException(f"cannot read {file}: {exc.strerror or exc}") from None
    if stats:
        counters = " ".join(f"{k}={v}" for k, v in decoder.stats.as_dict().items())
        click.echo(counters, err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
