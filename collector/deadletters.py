"""Dead letters: messages the collector received but could not apply.

An internal error while applying a message (a bug, never bad bytes: those are
rejected and counted by :mod:`collector.ingest`) must not lose it, nor stop
the ingest behind it. The service parks the message, as received, in the
store's ``dead_letters`` table, in the same write as the batch it came with,
and only then acknowledges it: the broker forgets it, the database keeps it.

``activecalls-collector dead-letters`` lists them, shows one, asks for some
or all to be replayed (the running service applies them again within its
next round, through the same path as a live message, received time
included) and drops them. A replay that fails again is parked again with the
new error and one more attempt counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from common.logsafe import escaped

__all__ = ["DeadLetter", "format_dead_letter", "format_dead_letters"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    payload: bytes
    received: float  # POSIX seconds, when the broker delivered it
    error: str  # one line: the exception that stopped it
    id: int | None = None  # None until stored
    attempts: int = 1
    replay: bool = False  # asked to be applied again


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def format_dead_letters(letters: Sequence[DeadLetter], total: int) -> str:
    """The table ``dead-letters`` prints. Pure."""
    if not letters:
        return "No dead letters: every message received was applied.\n"
    lines = [f"{'ID':>6}  {'RECEIVED':20}  {'TRIES':>5}  {'REPLAY':6}  TOPIC / ERROR"]
    for d in letters:
        lines.append(f"{d.id:>6}  {_when(d.received):20}  {d.attempts:>5}  {'asked' if d.replay else '-':6}  "
                     f"{escaped(d.topic, 80)}")  # fmt: skip
        lines.append(f"{'':>6}  {'':20}  {'':>5}  {'':6}  {escaped(d.error, 100)}")
    if total > len(letters):
        lines.append(f"({total - len(letters)} more not shown)")
    return "\n".join(lines) + "\n"


def format_dead_letter(d: DeadLetter) -> str:
    """One dead letter in full (the payload escaped, so it is one safe block of text). Pure."""
    return (
        f"id:       {d.id}\nreceived: {_when(d.received)}\nattempts: {d.attempts}\n"
        f"replay:   {'asked' if d.replay else 'no'}\ntopic:    {escaped(d.topic, 1000)}\n"
        f"error:    {escaped(d.error, 1000)}\npayload:  {escaped(d.payload.decode('utf-8', 'replace'), 100_000)}\n"
    )
