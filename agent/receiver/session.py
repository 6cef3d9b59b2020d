"""The serial shell: talk to a receiver behind a pyserial URL to detect it or apply a profile.

Everything that decides is pure (:mod:`.messages`, :mod:`.observe`); this
module only writes, reads with a deadline and hands the bytes over.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import serial

from agent.receiver.messages import Answer, Outcome, Step, answer_to, build_steps, probe_commands
from agent.receiver.observe import DETECT_BAUDS, Check, Identity, Observer, identify, verify
from agent.receiver.profile import Family, Profile, ReceiverError, list_profiles, load_profile
from agent.source import describe_open_error, open_port, read_available

__all__ = ["Detected", "PortError", "ReceiverLink", "StepResult", "apply_profile", "detect", "open_link"]

READ_TIMEOUT_S: Final = 0.02
PROBE_S: Final = 1.5  # per speed: a 1 Hz receiver has sent a whole epoch by then
SETTLE_S: Final = 0.3  # after a speed change, before listening at the new one


class PortError(ReceiverError):
    """The port cannot be opened or went away (the user's to fix: path, permissions, cable)."""


class ReceiverLink:
    """An open port and the observer of everything read from it."""

    def __init__(self, url: str, port: Any) -> None:
        self.url = url
        self._port = port
        self.observer = Observer()

    @property
    def baud(self) -> int:
        return int(self._port.baudrate)

    def set_baud(self, baud: int) -> None:
        self._port.baudrate = baud
        with contextlib.suppress(Exception):  # not every URL type has an input buffer to drop
            self._port.reset_input_buffer()
        self.observer = Observer()

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise PortError(f"{self.url}: write failed: {exc}") from None

    def pump(self) -> list[Any]:
        """One read (up to READ_TIMEOUT_S); what the observer made of it."""
        try:
            data = read_available(self._port)
        except (serial.SerialException, OSError) as exc:
            raise PortError(f"{self.url}: read failed (receiver unplugged?): {exc}") from None
        return self.observer.feed(data, time.monotonic()) if data else []

    def listen(self, seconds: float, until: Callable[[Observer], bool] = lambda o: False) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until(self.observer):
            self.pump()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._port.close()


@contextlib.contextmanager
def open_link(url: str, baud: int) -> Iterator[ReceiverLink]:
    try:
        port = open_port(url, baud, timeout=READ_TIMEOUT_S)
    except (serial.SerialException, OSError, ValueError) as exc:
        _kind, reason = describe_open_error(exc)
        raise PortError(f"cannot open {url}: {reason}") from None
    link = ReceiverLink(url, port)
    try:
        yield link
    finally:
        link.close()


@dataclass(frozen=True, slots=True)
class Detected:
    identity: Identity
    baud: int
    observer: Observer


def detect(link: ReceiverLink, bauds: Sequence[int] = DETECT_BAUDS, *, listen_s: float = 0.0) -> Detected:
    """Try each speed: probe both families, stop at the first that answers or sends valid NMEA.
    Then listen up to ``listen_s`` in all, to see the output's rate and sentences."""
    started = time.monotonic()
    for baud in bauds:
        if baud != link.baud or link.observer.received:
            link.set_baud(baud)
        link.write(probe_commands())
        # A probe answer settles it at once; plain NMEA needs the whole window (the answer may be late).
        link.listen(PROBE_S, lambda o: o.answered_probe() or o.garbage())
        identity = identify(link.observer)
        if identity is None:
            continue
        link.listen(listen_s - (time.monotonic() - started))
        return Detected(identity, baud, link.observer)
    tried = ", ".join(map(str, bauds))
    raise ReceiverError(f"{link.url}: no valid NMEA or receiver answer at {tried} baud (receiver off, wrong port, "
                        "or TX/RX swapped?)")  # fmt: skip


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    outcome: Outcome | None  # None: no answer within the timeout
    attempts: int
    elapsed_ms: float
    skipped: bool = False

    @property
    def ok(self) -> bool:
        if self.skipped:
            return False
        if self.outcome is None:
            return self.step.new_baud is not None  # a speed change may take its answer with it
        return self.outcome.answer is Answer.ACK


def _send(link: ReceiverLink, step: Step, timeout: float, retries: int) -> StepResult:
    started = time.monotonic()
    attempts = 0
    outcome: Outcome | None = None
    # A speed change is sent once: a retry at the old speed would land on a receiver at the new one.
    while attempts < (1 if step.new_baud else 1 + retries):
        attempts += 1
        link.write(step.data)
        outcome = _await(link, step, timeout)
        if outcome is not None and outcome.answer is not Answer.GARBLED:
            break
    return StepResult(step, outcome, attempts, (time.monotonic() - started) * 1000)


def _await(link: ReceiverLink, step: Step, timeout: float) -> Outcome | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in link.pump():
            outcome = answer_to(step.expect, item)
            if outcome is not None:
                return outcome
    return None


def _others(family: Family) -> str:
    """The named profiles for ``family``, as a hint."""
    names = []
    for name, path in list_profiles().items():
        with contextlib.suppress(ReceiverError):
            if load_profile(str(path)).family is family:
                names.append(name)
    return f": use {' or '.join(names)}" if names else ""


def compatible(profile: Profile, identity: Identity) -> str | None:
    """Why ``profile`` cannot be applied to the identified receiver, or None."""
    family = identity.family
    if family is None:
        return f"the receiver is {identity.label}: it cannot be configured"
    if family.is_ublox != profile.family.is_ublox:
        hint = _others(family)
        return f"profile {profile.name} is for {profile.family} receivers, this one is {identity.label}{hint}"
    if profile.family is Family.UBLOX9 and family is Family.UBLOX8 and identity.probed:
        return f"profile {profile.name} uses CFG-VALSET (generation 9+), this is {identity.label}{_others(family)}"
    return None


def apply_profile(
    link: ReceiverLink,
    profile: Profile,
    *,
    bauds: Sequence[int] = DETECT_BAUDS,
    timeout: float = 1.0,
    retries: int = 2,
    verify_s: float | None = None,
    on_detected: Callable[[Detected], None] = lambda d: None,
    on_step: Callable[[StepResult], None] = lambda r: None,
) -> tuple[list[StepResult], list[Check]]:
    """Detect, send each step (waiting for its answer), then observe the output and check it."""
    detected = detect(link, bauds)
    on_detected(detected)
    problem = compatible(profile, detected.identity)
    if problem:
        raise ReceiverError(problem)
    results: list[StepResult] = []
    for step in build_steps(profile):
        if results and results[-1].outcome is None and not results[-1].ok:
            result = StepResult(step, None, 0, 0.0, skipped=True)  # it stopped answering: do not wait again
        else:
            result = _send(link, step, timeout, retries)
            if step.new_baud and (result.outcome is None or result.outcome.answer is Answer.ACK):
                time.sleep(SETTLE_S)
                link.set_baud(step.new_baud or link.baud)
        results.append(result)
        on_step(result)
    # Fresh eyes for the new settings: the first and last epochs are not judged (see Observer).
    link.set_baud(link.baud)
    window = verify_s if verify_s is not None else 1.0 + 5 * profile.interval_ms / 1000
    link.listen(window, lambda o: len(o.complete_epochs()) >= 5)
    return results, verify(profile, link.observer)
