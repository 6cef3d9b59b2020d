"""``activecalls-agent receiver``: list, show, detect and apply receiver profiles (click only)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from agent.receiver.observe import DETECT_BAUDS
from agent.receiver.profile import BAUDS, Profile, ProfileError, ReceiverError, list_profiles, load_profile
from common.clierrors import UsageMistake

__all__ = ["receiver"]


@contextmanager
def _errors() -> Iterator[None]:
    from agent.receiver.session import PortError

    try:
        yield
    except (ProfileError, PortError) as exc:
        raise UsageMistake(str(exc)) from None
    except ReceiverError as exc:
        raise click.ClickException(str(exc)) from None


def _profile(name: str) -> Profile:
    with _errors():
        return load_profile(name)


port_option = click.option(
    "--port", "url", required=True, envvar="ACTIVECALLS_RECEIVER_PORT",
    help="The receiver: a device (/dev/gps0, /dev/ttyUSB0) or a pyserial URL (socket://host:port).",
)  # fmt: skip
baud_option = click.option(
    "--baud", type=click.Choice([str(b) for b in BAUDS]), default=None,
    help=f"The receiver's current speed (default: try {', '.join(map(str, DETECT_BAUDS))}).",
)  # fmt: skip


@click.group()
def receiver() -> None:
    """Configure the GPS receiver: rate, sentences, baud (profiles in firmware-config/)."""


@receiver.command("list")
def list_() -> None:
    """The profiles found, with their descriptions."""
    for name, path in list_profiles().items():
        try:
            description = load_profile(str(path)).description
        except ProfileError as exc:
            description = f"(invalid: {exc})"
        click.echo(f"{name:<12} {description}")


@receiver.command()
@click.argument("profile")
def show(profile: str) -> None:
    """What PROFILE (a name or a .toml file) sets and the bytes it sends, without sending anything."""
    from agent.receiver.messages import build_steps
    from agent.receiver.report import format_profile

    loaded = _profile(profile)
    click.echo(format_profile(loaded, build_steps(loaded)), nl=False)


@receiver.command()
@port_option
@baud_option
@click.option("--seconds", type=click.FloatRange(1, 60), default=3.0, show_default=True,
              help="How long to listen once the receiver is found (for its rate and sentences).")  # fmt: skip
def detect(url: str, baud: str | None, seconds: float) -> None:
    """Identify the receiver (u-blox, MediaTek or plain NMEA) and its speed."""
    from agent.receiver.report import format_detected
    from agent.receiver.session import detect as run_detect
    from agent.receiver.session import open_link

    bauds = [int(baud)] if baud else list(DETECT_BAUDS)
    with _errors(), open_link(url, bauds[0]) as link:
        detected = run_detect(link, bauds, listen_s=seconds)
    click.echo(format_detected(url, detected), nl=False)


@receiver.command()
@click.argument("profile")
@port_option
@baud_option
@click.option("--timeout", type=click.FloatRange(0.05, 10), default=1.0, show_default=True,
              help="Seconds to wait for each answer.")  # fmt: skip
@click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Sends again after a timeout.")  # fmt: skip
def apply(profile: str, url: str, baud: str | None, timeout: float, retries: int) -> None:
    """Send PROFILE to the receiver, step by step, and check its output afterwards.

    One line per step (✓ answered ACK, ✗ NAK or no answer), then the measured
    rate and sentences. Exit status 0 if every step was acknowledged and the
    output matches, 1 if not, 2 for a bad profile or port.
    """
    from agent.receiver.report import format_check, format_detected, format_step, format_summary
    from agent.receiver.session import Detected, StepResult, apply_profile, open_link

    loaded = _profile(profile)
    bauds = [int(baud)] if baud else list(DETECT_BAUDS)

    def detected(found: Detected) -> None:
        click.echo(format_detected(url, found).splitlines()[0])

    def step(result: StepResult) -> None:
        click.echo(format_step(result))

    with _errors(), open_link(url, bauds[0]) as link:
        results, checks = apply_profile(link, loaded, bauds=bauds, timeout=timeout, retries=retries,
                                        on_detected=detected, on_step=step)  # fmt: skip
    for check in checks:
        click.echo(format_check(check))
    summary = format_summary(loaded, results, checks)
    click.echo(summary)
    if summary.startswith("FAILED"):
        sys.exit(1)
