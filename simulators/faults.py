"""Fault injection for ``replay`` and ``drive``: the ``--faults`` spec. Pure.

Spec: comma-separated items, e.g.
``checksum=0.01,drop=0.02,garbage=0.005,truncate=0.01,dup=0.01,stall=30@120,unplug=10@300,jump=0.001,rollover``

==========  ===========  ====================================================
item        value        effect
==========  ===========  ====================================================
checksum    probability  per sentence: wrong ``*hh``, or one character of the
                         body changed (the checksum then fails)
drop        probability  per line: the line is not sent
garbage     probability  per line: 1-64 random binary bytes before it
truncate    probability  per sentence: cut before its checksum (line ending kept)
dup         probability  per line: sent twice
jump        probability  per epoch: the position moves 300-3000 m for that
                         epoch only; valid sentences (new checksums)
rollover    (none) or    dates 1024 GPS weeks in the past (old firmware's
            ``@T``       week-rollover bug), from stream time T s (default 0);
                         valid sentences
stall       ``N@T``      at stream time T s the receiver says nothing for N s
unplug      ``N@T``      at stream time T s the device disappears for N s,
                         then a new one appears at the same path
==========  ===========  ====================================================

``stall`` and ``unplug`` may be given more than once. Everything is drawn
from one ``random.Random(seed)``, so a spec, a seed and an input give the
same output every time. Except ``jump`` and ``rollover``, no fault can make
a sentence that passes its checksum with content that was not in the input
(the property tests say so): garbage never contains ``$``, ``!``, ``#`` or
``*``, truncation always cuts before the ``*``, and a changed body character
always changes the XOR checksum.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from common.errors import ActiveCallsError
from common.geodesy import offset
from simulators.events import Epoch, Item, Stall, Unplug
from simulators.rewrite import move_position, shift_time, split

__all__ = ["KINDS", "FaultError", "FaultInjector", "FaultSpec", "FaultStats", "parse_faults"]

ROLLOVER: Final = dt.timedelta(weeks=-1024)
_RATES: Final = ("checksum", "drop", "garbage", "truncate", "dup", "jump")
KINDS: Final = (*_RATES, "rollover", "stall", "unplug")
# Garbage bytes: anything but the characters that start a sentence, a comment,
# an encapsulated sentence, or a checksum.
_GARBAGE: Final = bytes(b for b in range(256) if b not in b"$!#*")
_BODY_CHARS: Final = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.-"


class FaultError(ActiveCallsError, ValueError):
    """A ``--faults`` spec that cannot be understood."""


@dataclass(frozen=True, slots=True)
class FaultSpec:
    checksum: float = 0.0
    drop: float = 0.0
    garbage: float = 0.0
    truncate: float = 0.0
    dup: float = 0.0
    jump: float = 0.0
    rollover_from_ms: int | None = None
    stalls: tuple[tuple[int, int], ...] = ()  # (at_ms, duration_ms)
    unplugs: tuple[tuple[int, int], ...] = ()

    @property
    def empty(self) -> bool:
        return self == FaultSpec()


def _seconds_ms(text: str, what: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise FaultError(f"{what}: expected seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise FaultError(f"{what}: seconds must be >= 0, got {text!r}")
    return round(value * 1000)


def parse_faults(spec: str) -> FaultSpec:
    """Parse a ``--faults`` spec; raise FaultError with a one-line reason."""
    rates: dict[str, float] = {}
    stalls: list[tuple[int, int]] = []
    unplugs: list[tuple[int, int]] = []
    rollover: int | None = None
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip()
        if name.startswith("rollover"):
            if name == "rollover" and not eq:
                rollover = 0
            elif name.startswith("rollover@") and not eq:
                rollover = _seconds_ms(name[len("rollover@") :], "rollover@T")
            else:
                raise FaultError(f"rollover takes no value (or @T for a start time), got {item!r}")
            continue
        if name not in KINDS:
            raise FaultError(f"unknown fault {name!r}; known: {', '.join(KINDS)}")
        if not eq or not value.strip():
            raise FaultError(
                f"fault {name!r} needs a value, e.g. {name}=0.01" + (" or N@T" if name in ("stall", "unplug") else "")
            )
        if name in ("stall", "unplug"):
            duration, at, when = value.partition("@")
            if not at:
                raise FaultError(f"{name} takes N@T (N seconds at stream time T s), got {value!r}")
            pair = (_seconds_ms(when, f"{name} time"), _seconds_ms(duration, f"{name} duration"))
            (stalls if name == "stall" else unplugs).append(pair)
            continue
        try:
            rate = float(value)
        except ValueError:
            raise FaultError(f"{name}: expected a probability between 0 and 1, got {value!r}") from None
        if not 0.0 <= rate <= 1.0:
            raise FaultError(f"{name}: expected a probability between 0 and 1, got {value!r}")
        rates[name] = rate
    return FaultSpec(**rates, rollover_from_ms=rollover, stalls=tuple(sorted(stalls)), unplugs=tuple(sorted(unplugs)))


@dataclass(slots=True)
class FaultStats:
    """How many of each fault were injected."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    skipped_epochs: int = 0  # epochs not sent during stalls and unplugs

    def as_dict(self) -> dict[str, int]:
        return {**{k: v for k, v in self.counts.items() if v}, "skipped_epochs": self.skipped_epochs}


class FaultInjector:
    def __init__(self, spec: FaultSpec, seed: int = 0) -> None:
        self.spec = spec
        self.stats = FaultStats()
        self._rng = random.Random(seed)

    def apply(self, epochs: Iterable[Epoch]) -> Iterator[Item]:
        spec = self.spec
        events: list[Stall | Unplug] = sorted(
            [Stall(at, d) for at, d in spec.stalls] + [Unplug(at, d) for at, d in spec.unplugs],
            key=lambda e: e.offset_ms,
        )
        silent_until = -1
        for epoch in epochs:
            t = epoch.offset_ms
            while events and events[0].offset_ms <= t:
                event = events.pop(0)
                self.stats.counts["stall" if isinstance(event, Stall) else "unplug"] += 1
                silent_until = max(silent_until, event.offset_ms + event.duration_ms)
                yield event
            if t < silent_until:
                self.stats.skipped_epochs += 1
                continue
            yield Epoch(t, tuple(self._epoch_lines(epoch)), epoch.time, epoch.fix)

    def _epoch_lines(self, epoch: Epoch) -> Iterator[bytes]:
        spec, rng, counts = self.spec, self._rng, self.stats.counts
        lines = epoch.lines
        if spec.rollover_from_ms is not None and epoch.offset_ms >= spec.rollover_from_ms:
            lines = tuple(shift_time(line, ROLLOVER) for line in lines)
            counts["rollover"] += 1
        if spec.jump and rng.random() < spec.jump:
            bearing = rng.uniform(0.0, 2 * math.pi)
            distance = rng.uniform(300.0, 3000.0)
            lat = _first_latitude(lines)
            moved_lat, moved_lon = offset(lat, 0.0, distance * math.sin(bearing), distance * math.cos(bearing))
            dlat, dlon = moved_lat - lat, moved_lon
            lines = tuple(move_position(line, dlat, dlon) for line in lines)
            counts["jump"] += 1
        for line in lines:
            if spec.drop and rng.random() < spec.drop:
                counts["drop"] += 1
                continue
            if spec.garbage and rng.random() < spec.garbage:
                counts["garbage"] += 1
                yield bytes(rng.choice(_GARBAGE) for _ in range(rng.randint(1, 64)))
            star = line.rfind(b"*")
            is_sentence = line.startswith(b"$") and star > 0
            if spec.truncate and is_sentence and rng.random() < spec.truncate:
                counts["truncate"] += 1
                ending = line[len(line.rstrip(b"\r\n")) :] or b"\r\n"
                line = line[: rng.randint(1, star)] + ending
            elif spec.checksum and is_sentence and split(line) is not None and rng.random() < spec.checksum:
                counts["checksum"] += 1
                line = self._corrupt(line, star)
            yield line
            if spec.dup and rng.random() < spec.dup:
                counts["dup"] += 1
                yield line

    def _corrupt(self, line: bytes, star: int) -> bytes:
        rng = self._rng
        if rng.random() < 0.5:
            value = int(line[star + 1 : star + 3], 16)
            wrong = (value + rng.randint(1, 255)) % 256
            return line[: star + 1] + b"%02X" % wrong + line[star + 3 :]
        i = rng.randint(1, star - 1)  # a character of the body, between '$' and '*'
        old = line[i]
        new = rng.choice([c for c in _BODY_CHARS if c != old])
        return line[:i] + bytes((new,)) + line[i + 1 :]


def _first_latitude(lines: tuple[bytes, ...]) -> float:
    """Latitude of the epoch (to turn metres into degrees of longitude)."""
    for line in lines:
        parts = split(line)
        lat = None if parts is None else getattr(parts[0], "lat", None)
        if isinstance(lat, float) and lat == lat:
            return lat
    return 0.0
