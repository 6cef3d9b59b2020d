"""Fix -> NMEA sentences: the one NMEA writer of the project.

The simulators synthesise receivers with it and the property tests check it
against the decoder (``decode(format(fix)) == fix`` within the printed
precision). Field layouts are quoted in ``agent.nmea`` above each reader.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from agent.nmea import KNOT_MS, format_date, format_latitude, format_longitude, format_sentence, format_time
from common.fix import Fix

__all__ = ["SENTENCE_TYPES", "Precision", "format_fix", "format_no_fix", "time_of_day_ms"]

SENTENCE_TYPES: Final = ("GGA", "GNS", "RMC", "GLL", "VTG", "GSA", "ZDA")


@dataclass(frozen=True, slots=True)
class Precision:
    """Decimals printed per field; the defaults round to about 2 mm and 1 ms."""

    minutes: int = 6
    time: int = 3
    alt: int = 1
    speed: int = 3
    track: int = 2
    hdop: int = 2


DEFAULT_PRECISION: Final = Precision()


def time_of_day_ms(time: dt.datetime) -> int:
    return ((time.hour * 60 + time.minute) * 60 + time.second) * 1000 + time.microsecond // 1000


def _num(value: float | None, decimals: int) -> str:
    if value is None:
        return ""
    text = f"{value:.{decimals}f}"
    return text[1:] if text[0] == "-" and not text.strip("-0.") else text  # never "-0.0"


def format_fix(
    fix: Fix,
    *,
    talker: str = "GP",
    sentences: Iterable[str] = ("GGA", "GSA", "RMC", "VTG"),
    precision: Precision = DEFAULT_PRECISION,
    quality: int = 1,
) -> list[bytes]:
    """The sentences a receiver would send for ``fix``, in the given order."""
    p = precision
    tod = format_time(time_of_day_ms(fix.time), p.time)
    lat, ns = format_latitude(fix.lat, p.minutes)
    lon, ew = format_longitude(fix.lon, p.minutes)
    knots = None if fix.speed is None else fix.speed / KNOT_MS
    kmh = None if fix.speed is None else fix.speed * 3.6
    sats = "" if fix.sats is None else f"{fix.sats:02d}"
    hdop = _num(fix.hdop, p.hdop)
    alt = _num(fix.alt, p.alt)
    out: list[bytes] = []
    for kind in sentences:
        if kind == "GGA":
            fields = [tod, lat, ns, lon, ew, str(quality), sats, hdop, alt, "M" if alt else "", "", "", "", ""]
        elif kind == "GNS":
            fields = [tod, lat, ns, lon, ew, "AN", sats, hdop, alt, "", "", ""]
        elif kind == "RMC":
            fields = [tod, "A", lat, ns, lon, ew, _num(knots, p.speed), _num(fix.track, p.track),
                      format_date(fix.time.date()), "", "", "A"]  # fmt: skip
        elif kind == "GLL":
            fields = [lat, ns, lon, ew, tod, "A", "A"]
        elif kind == "VTG":
            fields = [_num(fix.track, p.track), "T", "", "M", _num(knots, p.speed), "N",
                      _num(kmh, p.speed), "K", "A"]  # fmt: skip
        elif kind == "GSA":
            fields = ["A", str(fix.mode), *[""] * 12, "", hdop, ""]
        elif kind == "ZDA":
            d = fix.time
            fields = [tod, f"{d.day:02d}", f"{d.month:02d}", f"{d.year:04d}", "00", "00"]
        else:
            raise ValueError(f"cannot format sentence type {kind!r}; known: {', '.join(SENTENCE_TYPES)}")
        out.append(format_sentence(talker + kind, fields))
    return out


def format_no_fix(
    time: dt.datetime,
    *,
    talker: str = "GP",
    sentences: Iterable[str] = ("GGA", "GSA", "RMC", "VTG"),
    precision: Precision = DEFAULT_PRECISION,
    sats: int = 0,
) -> list[bytes]:
    """What a receiver sends for an epoch without a fix (tunnel, cold start):
    the time, no position, status 'V' / quality 0 / fix type 1."""
    tod = format_time(time_of_day_ms(time), precision.time)
    out: list[bytes] = []
    for kind in sentences:
        if kind == "GGA":
            fields = [tod, "", "", "", "", "0", f"{sats:02d}", "", "", "", "", "", "", ""]
        elif kind == "GNS":
            fields = [tod, "", "", "", "", "NN", f"{sats:02d}", "", "", "", "", ""]
        elif kind == "RMC":
            fields = [tod, "V", "", "", "", "", "", "", format_date(time.date()), "", "", "N"]
        elif kind == "GLL":
            fields = ["", "", "", "", tod, "V", "N"]
        elif kind == "VTG":
            fields = ["", "T", "", "M", "", "N", "", "K", "N"]
        elif kind == "GSA":
            fields = ["A", "1", *[""] * 15]
        elif kind == "ZDA":
            fields = [tod, f"{time.day:02d}", f"{time.month:02d}", f"{time.year:04d}", "00", "00"]
        else:
            raise ValueError(f"cannot format sentence type {kind!r}; known: {', '.join(SENTENCE_TYPES)}")
        out.append(format_sentence(talker + kind, fields))
    return out
