"""NMEA 0183 sentence grammar: checksum, decode and format.

Pure functions, no I/O. ``parse(sentence)`` takes the bytes of one framed
sentence (``$`` up to and including ``*hh``, no line ending) and returns one of
the small frozen values below, or raises an :class:`NmeaError` subtype. Any
other exception escaping ``parse`` is a bug (the property tests say so).

The grammar, from NMEA 0183 v4.11 section 5.3::

    $<talker:2><type:3>,<field>,<field>,...*<hh><CR><LF>
    $P<maker:3><...>,...*<hh>              proprietary
    hh = XOR of every byte between '$' and '*', two hex digits

The field list is the one pynmea2 would give (a property test holds us to
it), split here because pynmea2's regular expression and sentence objects
cost more than all the rest of the decode. We read the fields we need by
position (the layouts are quoted above each reader); pynmea2's attribute
accessors would also lose precision (times become ``datetime.time``,
minutes become floats twice).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

from common.errors import ActiveCallsError

__all__ = [
    "GGA",
    "GLL",
    "GNS",
    "GSA",
    "GSV",
    "KNOT_MS",
    "RMC",
    "VTG",
    "ZDA",
    "ChecksumError",
    "MalformedSentenceError",
    "MissingChecksumError",
    "NmeaError",
    "Other",
    "Sentence",
    "checksum",
    "format_date",
    "format_latitude",
    "format_longitude",
    "format_sentence",
    "format_time",
    "parse",
]

# 1 international knot in metres per second (1852 m / 3600 s).
KNOT_MS: Final = 1852.0 / 3600.0


class NmeaError(ActiveCallsError):
    """Base of every error the NMEA layer raises; any other exception is a bug."""


class ChecksumError(NmeaError):
    """The ``*hh`` checksum does not match the sentence body."""


class MissingChecksumError(ChecksumError):
    """The sentence has no ``*hh`` checksum, so its content cannot be trusted."""


class MalformedSentenceError(NmeaError):
    """The checksum is right but the sentence does not follow its grammar."""


# ---------------------------------------------------------------------------
# Decoded sentences, as named tuples (immutable and cheap to build: one of
# these is made per sentence). Times of day are integer milliseconds since 00:00 UTC so
# that "123456.0" and "123456.00" compare equal; positions are signed degrees.


class GGA(NamedTuple):
    """Global positioning system fix data."""

    talker: str
    tod_ms: int | None
    lat: float | None
    lon: float | None
    quality: int | None
    sats: int | None
    hdop: float | None
    alt: float | None


class RMC(NamedTuple):
    """Recommended minimum specific GNSS data."""

    talker: str
    tod_ms: int | None
    valid: bool
    lat: float | None
    lon: float | None
    speed: float | None  # m/s
    track: float | None
    date: dt.date | None
    mode: str  # FAA mode indicator, '' before NMEA 2.3


class GNS(NamedTuple):
    """GNSS fix data (multi-constellation GGA)."""

    talker: str
    tod_ms: int | None
    lat: float | None
    lon: float | None
    modes: str  # one mode character per constellation, 'N' = no fix
    sats: int | None
    hdop: float | None
    alt: float | None


class GLL(NamedTuple):
    """Geographic position, latitude and longitude."""

    talker: str
    tod_ms: int | None
    lat: float | None
    lon: float | None
    valid: bool


class VTG(NamedTuple):
    """Course over ground and ground speed."""

    talker: str
    track: float | None
    speed: float | None  # m/s
    valid: bool


class GSA(NamedTuple):
    """DOP and active satellites."""

    talker: str
    fix_type: int | None  # 1 = no fix, 2 = 2D, 3 = 3D
    sats_used: int
    pdop: float | None
    hdop: float | None
    vdop: float | None


class GSV(NamedTuple):
    """Satellites in view (one part of a multi-sentence report)."""

    talker: str
    in_view: int | None
    last_part: bool  # the last sentence of its report (part == total, or unnumbered)


class ZDA(NamedTuple):
    """Time and date; the local-zone fields are ignored, times stay UTC."""

    talker: str
    tod_ms: int | None
    date: dt.date | None


class Other(NamedTuple):
    """A well-formed sentence we do not interpret (proprietary, AIS-free types like
    DPT or HDT, vendor extensions like ``$GYOACC``). Passed over without harm."""

    talker: str  # 'P' + maker for proprietary sentences, else the talker ID
    kind: str  # sentence type, e.g. 'HDT', or the rest of a proprietary address


Sentence = GGA | RMC | GNS | GLL | VTG | GSA | GSV | ZDA | Other

# ---------------------------------------------------------------------------
# Checksum


def checksum(body: bytes) -> int:
    """XOR of every byte of ``body`` (the text between ``$`` and ``*``).

    Folds the bytes as one big integer in halves: three times faster than a
    Python loop over the bytes, and this runs on every sentence.
    """
    x = int.from_bytes(body, "little")
    while x >> 512:
        x = (x >> 512) ^ (x & _MASK512)
    x = (x >> 256) ^ (x & _MASK256)
    x = (x >> 128) ^ (x & _MASK128)
    x = (x >> 64) ^ (x & 0xFFFFFFFFFFFFFFFF)
    x = (x >> 32) ^ (x & 0xFFFFFFFF)
    x = (x >> 16) ^ (x & 0xFFFF)
    return (x >> 8) ^ (x & 0xFF)


_MASK512: Final = (1 << 512) - 1
_MASK256: Final = (1 << 256) - 1
_MASK128: Final = (1 << 128) - 1


# Every spelling of a two-digit hex checksum (receivers such as the Magellan
# EC-10 send lowercase) -> its value; one dict lookup validates and converts.
_HEX_PAIRS: Final = {
    bytes((a, b)): int(bytes((a, b)), 16) for a in b"0123456789ABCDEFabcdef" for b in b"0123456789ABCDEFabcdef"
}


def _show(sentence: bytes, limit: int = 100) -> str:
    text = sentence[:limit].decode("ascii", "backslashreplace")
    return text + ("..." if len(sentence) > limit else "")


# ---------------------------------------------------------------------------
# Field readers. Each raises ValueError on bad text; parse() turns that into
# MalformedSentenceError. Empty fields mean "not reported" and give None.


def _time_ms(field: str) -> int | None:
    """``hhmmss[.s...]`` -> milliseconds since midnight."""
    if not field:
        return None
    hhmm = int(field[:4])
    seconds = float(field[4:])
    hours, minutes = divmod(hhmm, 100)
    if not (hours < 24 and minutes < 60 and 0.0 <= seconds < 61.0 and field[:6].isdigit()):
        raise ValueError(f"bad time {field!r}")
    return hours * 3_600_000 + minutes * 60_000 + round(seconds * 1000)


def _degrees(field: str, hemisphere: str, positive: str, negative: str, limit: float) -> float | None:
    """``(d)ddmm.mmmm`` + hemisphere -> signed degrees.

    Returns None for an empty field; a value out of range (minutes >= 60,
    |degrees| > limit) is not an error of the sentence but not a position
    either, so it gives NaN, which the fix assembler rejects.
    """
    if not field:
        return None
    value = float(field)
    if value < 0.0 or value != value:
        raise ValueError(f"bad coordinate {field!r}")
    whole = int(value // 100.0)
    minutes = value - 100.0 * whole
    degrees = whole + minutes / 60.0
    if minutes >= 60.0 or degrees > limit:
        return float("nan")
    if hemisphere == negative:
        return -degrees
    if hemisphere == positive or hemisphere == "":
        return degrees
    raise ValueError(f"bad hemisphere {hemisphere!r}")


def _int(field: str) -> int | None:
    return int(field) if field else None


@functools.lru_cache(maxsize=8)  # the date changes once a day; the parse is not free
def _date_ddmmyy(field: str) -> dt.date | None:
    """RMC ``ddmmyy``. Two-digit years pivot on 1980, the GPS epoch: 80-99 are
    19xx, 00-79 are 20xx. An impossible date (receivers send 000000 or 1980
    placeholders before they know) gives None, not an error."""
    if not field:
        return None
    if len(field) != 6 or not field.isdigit():
        raise ValueError(f"bad date {field!r}")
    day, month, yy = int(field[0:2]), int(field[2:4]), int(field[4:6])
    year = 1900 + yy if yy >= 80 else 2000 + yy
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _padded(data: list[str], n: int) -> list[str]:
    """``data`` with at least ``n`` fields: trailing empty fields may be omitted."""
    return data if len(data) >= n else data + [""] * (n - len(data))


# ---------------------------------------------------------------------------
# Sentence readers, keyed by sentence type. ``d`` is the fields after the
# address, checksum removed (pynmea2's ``data`` list).


def _read_gga(talker: str, d: list[str]) -> GGA:
    # GGA,hhmmss.ss,llll.ll,a,yyyyy.yy,a,q,nn,h.h,alt,M,sep,M,age,sta
    #     0         1       2 3        4 5 6  7   8   9 10  11
    if len(d) < 9:
        d = _padded(d, 9)
    return GGA(
        talker,
        _time_ms(d[0]),
        _degrees(d[1], d[2], "N", "S", 90.0),
        _degrees(d[3], d[4], "E", "W", 180.0),
        int(d[5]) if d[5] else None,
        int(d[6]) if d[6] else None,
        float(d[7]) if d[7] else None,
        float(d[8]) if d[8] else None,
    )


def _read_rmc(talker: str, d: list[str]) -> RMC:
    # RMC,hhmmss.ss,A,llll.ll,a,yyyyy.yy,a,sog,cog,ddmmyy,mv,a,mode[,navstatus]
    #     0         1 2       3 4        5 6   7   8      9  10 11
    if len(d) < 12:
        d = _padded(d, 12)
    knots = float(d[6]) if d[6] else None
    return RMC(
        talker,
        _time_ms(d[0]),
        d[1] == "A",
        _degrees(d[2], d[3], "N", "S", 90.0),
        _degrees(d[4], d[5], "E", "W", 180.0),
        None if knots is None else knots * KNOT_MS,
        float(d[7]) if d[7] else None,
        _date_ddmmyy(d[8]),
        d[11],
    )


def _read_gns(talker: str, d: list[str]) -> GNS:
    # GNS,hhmmss.ss,llll.ll,a,yyyyy.yy,a,modes,nn,h.h,alt,sep,age,sta[,navstatus]
    #     0         1       2 3        4 5     6  7   8
    if len(d) < 9:
        d = _padded(d, 9)
    return GNS(
        talker,
        _time_ms(d[0]),
        _degrees(d[1], d[2], "N", "S", 90.0),
        _degrees(d[3], d[4], "E", "W", 180.0),
        d[5],
        int(d[6]) if d[6] else None,
        float(d[7]) if d[7] else None,
        float(d[8]) if d[8] else None,
    )


def _read_gll(talker: str, d: list[str]) -> GLL:
    # GLL,llll.ll,a,yyyyy.yy,a,hhmmss.ss,A[,mode]
    #     0       1 2        3 4         5  6
    if len(d) < 7:
        d = _padded(d, 7)
    return GLL(
        talker,
        _time_ms(d[4]),
        _degrees(d[0], d[1], "N", "S", 90.0),
        _degrees(d[2], d[3], "E", "W", 180.0),
        d[5] == "A" and d[6] != "N",
    )


def _read_vtg(talker: str, d: list[str]) -> VTG:
    # VTG,ttt,T,mmm,M,sss.s,N,kkk.k,K[,mode]   NMEA 2.0 and later
    # VTG,ttt,mmm,sss.s,kkk.k                  NMEA 1.5
    if len(d) < 9:
        d = _padded(d, 9)
    if d[1] == "T" or d[7]:
        track, knots, mode = float(d[0]) if d[0] else None, float(d[4]) if d[4] else None, d[8]
    else:
        track, knots, mode = float(d[0]) if d[0] else None, float(d[2]) if d[2] else None, ""
    return VTG(talker, track, None if knots is None else knots * KNOT_MS, mode != "N")


def _read_gsa(talker: str, d: list[str]) -> GSA:
    # GSA,a,x,id1,...,id12,pdop,hdop,vdop[,systemid]
    #     0 1 2  ...  13   14   15   16
    if len(d) < 17:
        d = _padded(d, 17)
    return GSA(
        talker,
        int(d[1]) if d[1] else None,
        12 - d[2:14].count(""),
        float(d[14]) if d[14] else None,
        float(d[15]) if d[15] else None,
        float(d[16]) if d[16] else None,
    )


def _read_gsv(talker: str, d: list[str]) -> GSV:
    # GSV,total,num,inview,(prn,el,az,snr)x1..4[,signalid]
    if len(d) < 3:
        d = _padded(d, 3)
    total, part = d[0].lstrip("0"), d[1].lstrip("0")
    return GSV(talker, _int(d[2]), total == part or not (total and part))


def _read_zda(talker: str, d: list[str]) -> ZDA:
    # ZDA,hhmmss.ss,dd,mm,yyyy,zh,zm
    if len(d) < 4:
        d = _padded(d, 4)
    day, month, year = d[1], d[2], d[3]
    date = None
    if day and month and year:
        try:
            date = dt.date(int(year), int(month), int(day))
        except ValueError:
            date = None
    return ZDA(talker, _time_ms(d[0]), date)


_Reader = Callable[[str, list[str]], Sentence]
_READERS: Final[dict[str, _Reader]] = {
    "GGA": _read_gga,
    "RMC": _read_rmc,
    "GNS": _read_gns,
    "GLL": _read_gll,
    "VTG": _read_vtg,
    "GSA": _read_gsa,
    "GSV": _read_gsv,
    "ZDA": _read_zda,
}


def _route(address: str, sentence: bytes) -> tuple[str, _Reader | None]:
    """Which reader handles ``address`` (None: pass it over as Other)."""
    # A stricter address check than pynmea2's, which accepts a leading space.
    if not (address.isalnum() and address.isascii() and 3 <= len(address) <= 20):
        raise MalformedSentenceError(f"bad address field: {_show(sentence)}")
    if address[0] == "P":  # proprietary: P + 3-letter maker code
        route: tuple[str, _Reader | None] = (address[:4], None)
    else:
        route = (address[:2], _READERS.get(address[2:]))
    if len(_ROUTES) < 1024:  # bounded: addresses come from untrusted bytes
        _ROUTES[address] = route
    return route


_ROUTES: dict[str, tuple[str, _Reader | None]] = {}


def parse(sentence: bytes) -> Sentence:
    """Decode one framed sentence, ``$...*hh`` without line ending.

    Raises MissingChecksumError / ChecksumError before looking at the content,
    and MalformedSentenceError for anything else that is wrong.
    """
    # Checksum first (inline: this runs for every sentence).
    if sentence[-3:-2] != b"*":
        raise MissingChecksumError(f"no checksum: {_show(sentence)}")
    expected = _HEX_PAIRS.get(sentence[-2:])
    if expected is None:
        raise ChecksumError(f"checksum is not two hex digits: {_show(sentence)}")
    body = sentence[1:-3]
    if checksum(body) != expected:
        raise ChecksumError(f"checksum {expected:02X} != computed {checksum(body):02X}: {_show(sentence)}")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedSentenceError(f"non-ASCII bytes: {_show(sentence)}") from None
    fields = text.split(",")
    address = fields[0]
    route = _ROUTES.get(address)
    if route is None:
        route = _route(address, sentence)
    talker, reader = route
    if reader is None:
        return Other(talker, address[len(talker) :])
    # The grammar pynmea2 applies (tests/properties check we agree with it):
    # a talker sentence has a comma after its address, and no '*' but the
    # checksum's.
    if len(fields) == 1 or "*" in text:
        raise MalformedSentenceError(f"could not parse data: {_show(sentence)}")
    try:
        return reader(talker, fields[1:])
    except (ValueError, OverflowError) as exc:
        raise MalformedSentenceError(f"{exc}: {_show(sentence)}") from None


# ---------------------------------------------------------------------------
# Formatting, the inverse of parse; the simulators use these to synthesise
# receivers, so there is exactly one NMEA writer in the project.


def format_sentence(address: str, fields: Sequence[str]) -> bytes:
    """``$address,f1,f2,...*hh\\r\\n`` with a correct checksum."""
    body = ",".join((address, *fields)).encode("ascii")
    return b"$%s*%02X\r\n" % (body, checksum(body))


def format_time(tod_ms: int, decimals: int = 3) -> str:
    """Milliseconds since midnight -> ``hhmmss.sss``."""
    seconds, ms = divmod(tod_ms, 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if decimals == 0:
        return f"{hours:02d}{minutes:02d}{secs:02d}"
    frac = f"{ms:03d}"[:decimals].ljust(decimals, "0")
    return f"{hours:02d}{minutes:02d}{secs:02d}.{frac}"


def format_date(date: dt.date) -> str:
    """RMC ``ddmmyy``."""
    return f"{date.day:02d}{date.month:02d}{date.year % 100:02d}"


def _format_degrees(value: float, width: int, decimals: int) -> str:
    value = abs(value)
    whole = int(value)
    minutes = round((value - whole) * 60.0, decimals)
    if minutes >= 60.0:  # rounding carried into the next degree
        whole, minutes = whole + 1, 0.0
    return f"{whole:0{width}d}{minutes:0{3 + decimals}.{decimals}f}"


def format_latitude(lat: float, decimals: int = 6) -> tuple[str, str]:
    """Signed degrees -> (``ddmm.mmmmmm``, ``N``/``S``)."""
    text = _format_degrees(lat, 2, decimals)
    return text, "S" if lat < 0 and text.strip("0.") else "N"  # no "-0": zero is N


def format_longitude(lon: float, decimals: int = 6) -> tuple[str, str]:
    """Signed degrees -> (``dddmm.mmmmmm``, ``E``/``W``)."""
    text = _format_degrees(lon, 3, decimals)
    return text, "W" if lon < 0 and text.strip("0.") else "E"
