"""One-line errors for every ``activecalls-*`` command.

Click's default answer to a usage mistake is a usage block plus the reason on
its last line. A technician reading a terminal in a patrol car, or a test
engineer's script logging stderr, needs the reason as *the* line: so every
command group uses :class:`OneLineErrorGroup`, and a mistake prints
``<command> <subcommand...>: error: <reason>`` (the whole command as typed,
whatever went wrong) and exits 2 (1 for a failure that is not a usage
mistake), never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from common.errors import ActiveCallsError

__all__ = ["OneLineErrorGroup", "UsageMistake", "fail"]


class UsageMistake(click.ClickException):
    """The user's mistake (a bad value, a missing file): exit status 2, like click's own usage errors."""

    exit_code = 2


def fail(prefix: str, message: str, code: int) -> NoReturn:
    click.echo(f"{prefix}: error: {message}", err=True)
    sys.exit(code)


class OneLineErrorGroup(click.Group):
    """A click group whose errors are one line on stderr.

    The program name is the group's ``name`` (give it as ``@click.group(name=...)``),
    so messages read the same under ``python -m`` as from the console script.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        prog = self.name or "activecalls"
        argv = list(args[0] if args and args[0] is not None else kwargs.get("args") or sys.argv[1:])
        prefix = self.command_path_of(prog, argv)
        kwargs["standalone_mode"] = False
        kwargs["prog_name"] = prog
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            fail(exc.ctx.command_path if exc.ctx is not None else prefix, exc.format_message().replace("\n", " "), 2)
        except click.ClickException as exc:
            fail(prefix, exc.format_message().replace("\n", " "), exc.exit_code)
        except ActiveCallsError as exc:  # the project's own failures: a reason, not a traceback
            fail(prefix, str(exc).replace("\n", " "), 1)
        except click.exceptions.Abort:
            fail(prefix, "interrupted", 130)
        except BrokenPipeError:
            sys.exit(0)  # the reader (e.g. `head`) has gone
        sys.exit(result if isinstance(result, int) else 0)

    def command_path_of(self, prog: str, argv: list[str]) -> str:
        """``prog`` and the subcommands named in ``argv`` (``activecalls-agent outbox stats``):
        the prefix of every error, as click gives it to usage errors."""
        path: list[str] = [prog]
        command: click.Command = self
        for arg in argv:
            if arg.startswith("-"):
                continue  # the groups' own options (--help, --version) take no value
            sub = command.get_command(click.Context(command), arg) if isinstance(command, click.Group) else None
            if sub is None:
                break
            path.append(arg)
            command = sub
        return " ".join(path)
