"""Receiver profiles: TOML files saying what a receiver should output. Pure apart from reading files.

A profile names a command family and the settings the agent needs::

    family = "ublox8"                 # ublox8 (UBX-CFG-*), ublox9 (CFG-VALSET), mtk ($PMTK)
    description = "u-blox M8 ..."
    rate_hz = 5                       # navigation solutions per second, 1-10
    sentences = ["GGA", "RMC", "GSA"] # output every solution; the family's other defaults are turned off
    baud = 38400                      # optional: the serial speed to switch the receiver to
    dynamic_model = "automotive"      # u-blox only
    sbas = true                       # MediaTek only: SBAS ranging and SBAS as the DGPS source
    save = true                       # u-blox only: keep the settings across power cycles

How the settings become bytes is :mod:`agent.receiver.messages`; the
profiles shipped with the project are in ``firmware-config/`` of the source
tree, installed as ``share/activecalls/firmware-config/`` beside the package.
"""

from __future__ import annotations

import enum
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from common.errors import ActiveCallsError
from common.tomlconfig import ConfigError, Table, load_toml

__all__ = [
    "BAUDS",
    "DEFAULT_ON",
    "DYNAMIC_MODELS",
    "REQUIRED_SENTENCES",
    "SENTENCES",
    "Family",
    "Profile",
    "ProfileError",
    "ReceiverError",
    "find_profile",
    "list_profiles",
    "load_profile",
    "profile_dirs",
]


class ReceiverError(ActiveCallsError):
    """Base of the receiver tools' errors; ``str()`` is one line for a person."""


class ProfileError(ReceiverError):
    """A profile that cannot be found or used."""


class Family(enum.StrEnum):
    UBLOX8 = "ublox8"  # u-blox generation 8 and older protocol (UBX-CFG-MSG/RATE/PRT/NAV5)
    UBLOX9 = "ublox9"  # u-blox generation 9 and 10 (UBX-CFG-VALSET configuration keys)
    MTK = "mtk"  # MediaTek MT33xx and its modules (Quectel L76/L80, GlobalTop PA6H): $PMTK

    @property
    def is_ublox(self) -> bool:
        return self is not Family.MTK


# Serial speeds a profile may ask for (both families support these).
BAUDS: Final = (4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
# What the agent needs from every epoch: position and quality (GGA), date and
# speed/track (RMC), fix type and DOPs (GSA).
REQUIRED_SENTENCES: Final = ("GGA", "RMC", "GSA")
# Sentence types each family can switch on or off one by one.
SENTENCES: Final = {
    Family.UBLOX8: ("GGA", "GLL", "GSA", "GSV", "RMC", "VTG", "GRS", "GST", "ZDA", "GNS"),
    Family.UBLOX9: ("GGA", "GLL", "GSA", "GSV", "RMC", "VTG", "ZDA", "GNS", "GST"),
    Family.MTK: ("GLL", "RMC", "VTG", "GGA", "GSA", "GSV", "ZDA"),
}
# What each family sends out of the box: a profile turns off those it does not list.
DEFAULT_ON: Final = {
    Family.UBLOX8: ("GGA", "GLL", "GSA", "GSV", "RMC", "VTG"),
    Family.UBLOX9: ("GGA", "GLL", "GSA", "GSV", "RMC", "VTG"),
    Family.MTK: ("GLL", "RMC", "VTG", "GGA", "GSA", "GSV"),
}
# u-blox dynamic platform models (UBX-CFG-NAV5 dynModel, CFG-NAVSPG-DYNMODEL).
DYNAMIC_MODELS: Final = {
    "portable": 0, "stationary": 2, "pedestrian": 3, "automotive": 4, "sea": 5,
    "airborne-1g": 6, "airborne-2g": 7, "airborne-4g": 8,
}  # fmt: skip
# Typical bytes per epoch of each sentence (GSV: several sentences), to check that
# the rate fits the baud: a receiver whose output exceeds its line drops sentences.
_BYTES_PER_EPOCH: Final = {"GGA": 78, "RMC": 72, "GSA": 68, "VTG": 40, "GLL": 52, "GSV": 280, "ZDA": 38,
                           "GNS": 80, "GST": 60, "GRS": 70}  # fmt: skip
_LINE_SHARE: Final = 0.85  # of the line's byte rate (10 bits a byte with 8N1)
_ASSUMED_BAUD: Final = 9600  # what receivers of these families start at


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    family: Family
    description: str
    rate_hz: int
    sentences: tuple[str, ...]
    baud: int | None = None
    dynamic_model: str | None = None
    sbas: bool | None = None
    save: bool = False
    path: Path | None = None

    @property
    def interval_ms(self) -> int:
        return round(1000 / self.rate_hz)

    @property
    def turned_off(self) -> tuple[str, ...]:
        """Sentences on by default that this profile turns off."""
        return tuple(s for s in DEFAULT_ON[self.family] if s not in self.sentences)

    def bytes_per_second(self) -> int:
        return self.rate_hz * sum(_BYTES_PER_EPOCH.get(s, 80) for s in self.sentences)


def profile_dirs() -> list[Path]:
    """Where named profiles are looked for, in order: $ACTIVECALLS_FIRMWARE_CONFIG, the
    source tree's firmware-config/ (a checkout or an editable install), the installed copy."""
    dirs = []
    if os.environ.get("ACTIVECALLS_FIRMWARE_CONFIG"):
        dirs.append(Path(os.environ["ACTIVECALLS_FIRMWARE_CONFIG"]))
    dirs.append(Path(__file__).resolve().parents[2] / "firmware-config")
    dirs.append(Path(sys.prefix) / "share" / "activecalls" / "firmware-config")
    return dirs


def list_profiles() -> dict[str, Path]:
    """Every named profile found (the first directory that has a name wins)."""
    found: dict[str, Path] = {}
    for folder in profile_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found.setdefault(path.stem, path)
    return found


def find_profile(name: str) -> Path:
    """A profile name (``ublox-m8``) or a path to a TOML file -> its path."""
    if name.endswith(".toml") or os.sep in name:
        return Path(name)
    profiles = list_profiles()
    if name not in profiles:
        known = ", ".join(profiles) or "none found in " + ", ".join(map(str, profile_dirs()))
        raise ProfileError(f"no receiver profile named {name!r} (known: {known}; or give a path to a .toml file)")
    return profiles[name]


def load_profile(name: str) -> Profile:
    """Find, read and validate a profile; any problem is one ProfileError line naming file, line and key."""
    path = find_profile(name)
    try:
        return _read(path)
    except ConfigError as exc:
        raise ProfileError(str(exc)) from None


def _read(path: Path) -> Profile:
    t = load_toml(path)
    family = Family(t.get_choice("family", [f.value for f in Family]))
    description = t.get_str("description", "")
    rate_hz = t.get_int("rate_hz", low=1, high=10)
    sentences = _sentences(t, family)
    baud = t.get_int("baud", None)
    if baud is not None and baud not in BAUDS:
        raise t.error("baud", f"must be one of {', '.join(map(str, BAUDS))}, got {baud}")
    model = t.get_choice("dynamic_model", list(DYNAMIC_MODELS), "") or None
    if model is not None and not family.is_ublox:
        raise t.error("dynamic_model", f"only u-blox receivers have one; a {family} profile cannot set it")
    sbas = t.get_bool("sbas") if "sbas" in t else None
    if sbas is not None and family.is_ublox:
        raise t.error("sbas", "is a MediaTek setting (u-blox receivers use SBAS by default)")
    save = t.get_bool("save", False)
    if save and not family.is_ublox:
        raise t.error("save", "is a u-blox setting (MediaTek keeps $PMTK settings while it has backup power)")
    t.check_unknown()
    profile = Profile(path.stem, family, description, rate_hz, sentences, baud, model, sbas, save, path)
    line = baud or _ASSUMED_BAUD
    need = profile.bytes_per_second()
    if need > _LINE_SHARE * line / 10:
        enough = next((b for b in BAUDS if need <= _LINE_SHARE * b / 10), BAUDS[-1])
        assumed = "" if baud else ", the default when no baud is set"
        raise t.error("rate_hz", f"{', '.join(sentences)} at {rate_hz} Hz need about {need} bytes/s, more than "
                                 f"{line} baud carries ({line // 10}{assumed}): set baud = {enough} or more, "
                                 "or a lower rate or fewer sentences")  # fmt: skip
    return profile


def _sentences(t: Table, family: Family) -> tuple[str, ...]:
    kinds = tuple(s.upper() for s in t.get_str_list("sentences"))
    if not kinds:
        raise t.error("sentences", 'must list sentence types, e.g. ["GGA", "RMC", "GSA"]')
    unknown = [s for s in kinds if s not in SENTENCES[family]]
    if unknown:
        raise t.error("sentences", f"{unknown[0]!r} cannot be selected on a {family} receiver "
                                   f"(it can: {', '.join(SENTENCES[family])})")  # fmt: skip
    if len(set(kinds)) != len(kinds):
        raise t.error("sentences", "lists a sentence twice")
    missing = [s for s in REQUIRED_SENTENCES if s not in kinds]
    if missing:
        raise t.error("sentences", f"must include {', '.join(REQUIRED_SENTENCES)} (the agent needs them); "
                                   f"missing {', '.join(missing)}")  # fmt: skip
    return kinds
