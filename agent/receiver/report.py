"""The text of the receiver commands' reports. Pure: values in, lines out."""

from __future__ import annotations

from agent.receiver.messages import Step
from agent.receiver.observe import Check, Observer
from agent.receiver.profile import Profile
from agent.receiver.session import Detected, StepResult

__all__ = ["format_check", "format_detected", "format_profile", "format_step", "format_summary"]

_WHAT = 26  # column widths
_COMMAND = 46


def _row(ok: bool | None, what: str, command: str, detail: str) -> str:
    mark = {True: "✓", False: "✗", None: "-"}[ok]
    return f"{mark} {what:<{_WHAT}} {command:<{_COMMAND}} {detail}".rstrip()


def format_step(result: StepResult) -> str:
    step = result.step
    if result.skipped:
        detail = "skipped (the receiver stopped answering)"
    elif result.outcome is None:
        detail = f"no answer in {result.elapsed_ms / 1000:.1f} s ({result.attempts} tries)"
        if step.new_baud:
            detail = f"sent; no answer (usual when the speed changes), now at {step.new_baud} baud"
    else:
        tries = f", {result.attempts} tries" if result.attempts > 1 else ""
        detail = f"{result.outcome.text} in {result.elapsed_ms:.0f} ms{tries}"
        if step.new_baud and result.ok:
            detail += f", now at {step.new_baud} baud"
    return _row(result.ok, step.what, _short(step.command), detail)


def _short(text: str) -> str:
    return text if len(text) <= _COMMAND else text[: _COMMAND - 1] + "…"


def format_check(check: Check) -> str:
    return f"{'✓' if check.ok else '✗'} {'verify ' + check.what:<{_WHAT}} {check.detail}"


def output_summary(observer: Observer) -> str:
    interval = observer.interval_ms()
    kinds = ", ".join(sorted(observer.sentence_set() or observer.types)) or "no sentences"
    rate = f" at {1000 / interval:.1f} Hz" if interval else ""
    return f"outputs {kinds}{rate}"


def format_detected(url: str, detected: Detected) -> str:
    identity = detected.identity
    family = identity.family.value if identity.family else "nmea"
    return (f"{url}: {identity.label} at {detected.baud} baud\n"
            f"  family {family}; {identity.evidence}; {output_summary(detected.observer)}\n")  # fmt: skip


def format_summary(profile: Profile, results: list[StepResult], checks: list[Check]) -> str:
    failed = [r for r in results if not r.ok]
    bad_checks = [c for c in checks if not c.ok]
    if failed or bad_checks:
        parts = [f"{len(failed)} of {len(results)} steps failed"] if failed else []
        parts += [f"output does not match ({', '.join(c.what for c in bad_checks)})"] if bad_checks else []
        return f"FAILED: {'; '.join(parts)}"
    line = f"done: {len(results)} steps acknowledged, output verified"
    if profile.baud:
        line += f"; the receiver now talks at {profile.baud} baud: set [gps] baud = {profile.baud} in agent.toml"
    return line


def format_profile(profile: Profile, steps: list[Step]) -> str:
    """``receiver show``: the profile's settings and the exact bytes of each step."""
    lines = [
        f"{profile.name}: {profile.description}",
        f"  file {profile.path}",
        f"  family {profile.family}, {profile.rate_hz} Hz, sentences {', '.join(profile.sentences)}"
        + (f", off {', '.join(profile.turned_off)}" if profile.turned_off else "")
        + (f", baud {profile.baud}" if profile.baud else "")
        + (f", dynamic model {profile.dynamic_model}" if profile.dynamic_model else "")
        + ("" if profile.sbas is None else f", SBAS {'on' if profile.sbas else 'off'}")
        + (", saved to flash" if profile.save else ""),
    ]
    for number, step in enumerate(steps, 1):
        lines.append(f"  {number:2}. {step.what:<{_WHAT}} {step.command}")
        if not step.data.startswith(b"$"):  # NMEA commands are their own text
            lines.append(f"      {step.data.hex(' ')}")
    return "\n".join(lines) + "\n"
