"""Command-line options every service shares: ``--config FILE`` and ``--log-level``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["config_option_for", "log_level_option"]

F = TypeVar("F", bound=Callable[..., Any])

log_level_option = click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    envvar="ACTIVECALLS_LOG_LEVEL",
)


def config_option_for(default: Path, envvar: str, service: str) -> Callable[[F], F]:
    """``--config FILE`` of one service (also read from ``envvar``)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=default,
        show_default=True,
        envvar=envvar,
        show_envvar=True,
        help=f"The {service}'s TOML configuration (deploy/{service}.example.toml documents every key).",
    )
