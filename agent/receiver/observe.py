"""What a receiver says, observed: family, output rate and sentence set. Pure (bytes and times in).

:class:`Observer` is fed whatever the port gives (NMEA text and UBX frames
mixed, any chunking) with the monotonic time of the read. It hands back the
items a configuration step waits for (UBX frames, NMEA sentences as address
and fields) and keeps what detection and verification need: the answers to
the probes (u-blox ``MON-VER``, MediaTek ``$PMTK705``), family hints, and
each epoch's receiver time and sentence types.

An epoch starts with each new UTC time in a GGA, RMC, GNS, GLL or ZDA; the
sentences without a time (GSA, VTG, GSV) count in the epoch they follow.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from agent import nmea, ubx
from agent.framer import LineFramer
from agent.receiver.profile import Family, Profile

__all__ = ["DETECT_BAUDS", "Check", "Epoch", "Identity", "Item", "Observer", "identify", "verify"]

# Tried in this order: the factory speeds of u-blox (9600; 38400 on M9/M10) and MediaTek (9600),
# then what installers commonly set.
DETECT_BAUDS: Final = (9600, 38400, 115200, 4800, 19200, 57600, 230400, 460800, 921600)
_DAY_MS: Final = 86_400_000
_GARBAGE_BYTES: Final = 200  # this much without one valid sentence: the wrong speed
_RATE_TOLERANCE: Final = 0.15
_TIMED: Final = frozenset({"GGA", "RMC", "GNS", "GLL", "ZDA"})

Item = ubx.UbxFrame | tuple[str, tuple[str, ...]]  # a UBX frame, or an NMEA sentence's (address, fields)


@dataclass(slots=True)
class Epoch:
    tod_ms: int | None  # receiver time; None when its sentences carry none (arrival times are used)
    arrived: float
    types: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Identity:
    family: Family | None  # None: plain NMEA, no command set recognised
    label: str  # for a person: "u-blox M8 (NEO-M8N-0, PROTVER 18.00)"
    evidence: str  # "answered MON-VER"
    probed: bool = False  # the family answered its probe (so its generation is known, not guessed)


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    what: str
    detail: str


@dataclass(slots=True)
class Observer:
    received: int = 0  # bytes
    valid: int = 0  # sentences that passed their checksum
    invalid: int = 0
    ubx_frames: int = 0
    types: Counter[str] = field(default_factory=Counter)
    epochs: list[Epoch] = field(default_factory=list)
    mon_ver: tuple[str, str, tuple[str, ...]] | None = None
    mtk_release: tuple[str, ...] | None = None
    hints: set[Family] = field(default_factory=set)  # from sentences only one family sends
    _ubx: ubx.UbxReader = field(default_factory=ubx.UbxReader)
    _framer: LineFramer = field(default_factory=LineFramer)

    def feed(self, chunk: bytes, now: float) -> list[Item]:
        self.received += len(chunk)
        items: list[Item] = []
        for part in self._ubx.feed(chunk):
            if isinstance(part, ubx.UbxFrame):
                self.ubx_frames += 1
                self._on_ubx(part)
                items.append(part)
                continue
            for candidate in self._framer.feed(part):
                sentence = self._on_nmea(candidate, now)
                if sentence is not None:
                    items.append(sentence)
        return items

    def _on_ubx(self, frame: ubx.UbxFrame) -> None:
        self.hints.add(Family.UBLOX8)
        if frame.message == ubx.MON_VER:
            try:
                self.mon_ver = ubx.parse_mon_ver(frame.payload)
            except ubx.UbxError:
                pass

    def _on_nmea(self, candidate: bytes, now: float) -> tuple[str, tuple[str, ...]] | None:
        body = candidate.rstrip(b"\r\n")
        try:
            parsed = nmea.parse(body)
        except nmea.NmeaError:
            self.invalid += 1
            return None
        self.valid += 1
        address, *fields = body[1:-3].decode("ascii").split(",")
        if address.startswith("P"):  # proprietary: $P + maker
            if address.startswith("PMTK"):
                self.hints.add(Family.MTK)
                if address == "PMTK705":
                    self.mtk_release = tuple(fields)
            elif address == "PUBX":
                self.hints.add(Family.UBLOX8)
            return address, tuple(fields)
        if address.endswith("TXT") and "u-blox" in ",".join(fields).lower():
            self.hints.add(Family.UBLOX8)  # the start-up banner
        kind = address[2:]
        self.types[kind] += 1
        tod = getattr(parsed, "tod_ms", None) if kind in _TIMED else None
        last = self.epochs[-1] if self.epochs else None
        if last is None:
            last = Epoch(tod, now)
            self.epochs.append(last)
        elif kind in _TIMED:
            if last.tod_ms is None and tod is not None and kind not in last.types:
                last.tod_ms = tod  # the epoch began with untimed sentences
            # Without a time (no fix yet on some receivers) a repeated type marks the next epoch.
            elif tod != last.tod_ms if tod is not None else kind in last.types:
                last = Epoch(tod, now)
                self.epochs.append(last)
        last.types.add(kind)
        return address, tuple(fields)

    # -- questions -----------------------------------------------------------------------

    def heard(self) -> bool:
        """Something at this speed passed its checksum (two sentences, or a probe's answer)."""
        return self.valid >= 2 or self.mon_ver is not None or self.mtk_release is not None

    def garbage(self) -> bool:
        """Bytes, but nothing valid: a receiver at another speed."""
        return self.received >= _GARBAGE_BYTES and self.valid == 0 and self.ubx_frames == 0

    def answered_probe(self) -> bool:
        return self.mon_ver is not None or self.mtk_release is not None

    def complete_epochs(self) -> list[Epoch]:
        """Epochs that are surely whole: not the first (it may have begun before we listened,
        or under the old settings) nor the last (still arriving)."""
        return self.epochs[1:-1]

    def interval_ms(self) -> float | None:
        """Median time between complete epochs: receiver time when it has one, else arrival."""
        epochs = self.epochs[1:]
        if len(epochs) < 2:
            return None
        gaps: list[float] = []
        for a, b in itertools.pairwise(epochs):
            if a.tod_ms is not None and b.tod_ms is not None:
                gaps.append((b.tod_ms - a.tod_ms) % _DAY_MS)
            else:
                gaps.append((b.arrived - a.arrived) * 1000)
        return statistics.median(gaps)

    def sentence_set(self) -> set[str]:
        return set().union(*(e.types for e in self.complete_epochs()))


def _ublox_identity(mon_ver: tuple[str, str, tuple[str, ...]]) -> Identity:
    extensions = dict(e.split("=", 1) for e in mon_ver[2] if "=" in e)
    module = extensions.get("MOD", "")
    protocol = extensions.get("PROTVER", "")
    try:
        generation9 = float(protocol) >= 27  # M9 starts at protocol 27, M10 at 34
    except ValueError:
        generation9 = False
    family = Family.UBLOX9 if generation9 else Family.UBLOX8
    name = "u-blox M9/M10" if generation9 else "u-blox M8 or older"
    if module:
        name = f"u-blox {module}"
    details = ", ".join(x for x in (f"PROTVER {protocol}" if protocol else "", mon_ver[0]) if x)
    return Identity(family, f"{name} ({details})", "answered MON-VER", probed=True)


def identify(observer: Observer) -> Identity | None:
    """The receiver's family from what was observed; None if nothing valid was heard."""
    if observer.mon_ver is not None:
        return _ublox_identity(observer.mon_ver)
    if observer.mtk_release is not None:
        release = observer.mtk_release
        model = release[2] if len(release) > 2 and release[2] else "MT33xx"
        return Identity(Family.MTK, f"MediaTek {model} (firmware {release[0] if release else '?'})",
                        "answered $PMTK605", probed=True)  # fmt: skip
    if Family.MTK in observer.hints:
        return Identity(Family.MTK, "MediaTek (sends $PMTK sentences)", "$PMTK sentences")
    if Family.UBLOX8 in observer.hints:
        return Identity(Family.UBLOX8, "u-blox (sends UBX or $PUBX)", "UBX frames or u-blox sentences")
    if observer.heard():
        return Identity(None, "generic NMEA (answers neither UBX nor $PMTK)", "valid NMEA, no probe answered")
    return None


def verify(profile: Profile, observer: Observer) -> list[Check]:
    """Does the output match ``profile``: rate within 15 %, its sentences present, those it turned off absent."""
    checks: list[Check] = []
    interval = observer.interval_ms()
    if interval is None:
        checks.append(Check(False, "rate", f"too few epochs to measure ({len(observer.epochs)} seen)"))
    else:
        ok = abs(interval - profile.interval_ms) <= _RATE_TOLERANCE * profile.interval_ms
        checks.append(Check(ok, "rate", f"{1000 / interval:.1f} Hz measured ({interval:.0f} ms between epochs, "
                                        f"{len(observer.epochs)} epochs); profile {profile.rate_hz} Hz"))  # fmt: skip
    seen = observer.sentence_set()
    missing = [s for s in profile.sentences if s not in seen]
    unwanted = sorted(s for s in profile.turned_off if s in seen)
    if not observer.complete_epochs():
        checks.append(Check(False, "sentences", "no complete epoch observed"))
    elif missing or unwanted:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"still sent {', '.join(unwanted)}"] if unwanted else [])  # fmt: skip
        checks.append(Check(False, "sentences", f"{'; '.join(problems)} (seen {', '.join(sorted(seen))})"))
    else:
        off = f"; off: {', '.join(profile.turned_off)}" if profile.turned_off else ""
        checks.append(Check(True, "sentences", f"{', '.join(sorted(seen))}{off}"))
    return checks
