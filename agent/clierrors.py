"""One-line errors for every ``activecalls-*`` command.

Click's default answer to a usage mistake is a usage block plus the reason on
its last line. A technician reading a terminal in a patrol car, or a test
engineer's script logging stderr, needs the reason as *the* line: so every
command group uses :class:`OneLineErrorGroup`, and a mistake prints
``Error: <reason> (see --help)`` and exits 2, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

__all__ = ["OneLineErrorGroup"]


class OneLineErrorGroup(click.Group):
    """A click group whose errors are one line on stderr (exit 2 for usage, 1 otherwise)."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, standalone_mode: bool = True,
        **kwargs: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name, standalone_mode=False, **kwargs)
        except click.ClickException as exc:
            hint = " (see --help)" if isinstance(exc, click.UsageError) else ""
            click.echo(f"Error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        if standalone_mode:
            sys.exit(result if isinstance(result, int) else 0)
        return result
