"""Rewrite fields of recorded sentences: shift times and dates, move positions. Pure.

Used by ``replay --loop`` and ``--now`` (times and dates moved forward) and
by the ``jump`` and ``rollover`` faults. A sentence is only rewritten when
``agent.nmea.parse`` accepts it (checksum and grammar); its fields are then
changed as text and the sentence is written again by
``agent.nmea.format_sentence`` with a new checksum. Anything else (junk,
bad checksums, proprietary sentences) passes through unchanged, and the
original line ending is kept.

Field positions (after the address), as quoted in ``agent.nmea``::

    GGA  0 time  1-4 lat,N/S,lon,E/W
    RMC  0 time  2-5 lat,N/S,lon,E/W  8 ddmmyy
    GNS  0 time  1-4 lat,N/S,lon,E/W
    GLL  0-3 lat,N/S,lon,E/W          4 time
    ZDA  0 time  1 dd  2 mm  3 yyyy
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final

from agent import nmea
from agent.formatter import time_of_day_ms
from agent.framer import LineFramer
from common.fix import UTC

__all__ = ["TIMED", "move_position", "sentence_type", "shift_time", "split"]

DAY_MS: Final = 86_400_000
# Sentence type -> index of its time-of-day field.
TIMED: Final = {"GGA": 0, "RMC": 0, "GNS": 0, "GLL": 4, "ZDA": 0}
_POSITION: Final = {"GGA": 1, "RMC": 2, "GNS": 1, "GLL": 0}


def split(line: bytes) -> tuple[nmea.Sentence, str, list[str], bytes] | None:
    """(decoded, address, fields, line ending) of a line holding exactly one
    valid sentence, else None."""
    body = line.rstrip(b"\r\n")
    ending = line[len(body) :]
    if not body.startswith(b"$"):
        return None
    try:
        sentence = nmea.parse(body)
    except nmea.NmeaError:
        return None
    text = body[1:-3].decode("ascii")
    address, _, rest = text.partition(",")
    return sentence, address, rest.split(","), ending


def sentence_type(address: str) -> str:
    """``GPGGA`` -> ``GGA``; proprietary addresses (``PMTK001``) are returned whole."""
    return address if address.startswith("P") else address[2:]


def _join(address: str, fields: list[str], ending: bytes) -> bytes:
    return nmea.format_sentence(address, fields).rstrip(b"\r\n") + ending


def _decimals(field: str) -> int:
    dot = field.find(".")
    return 0 if dot < 0 else len(field) - dot - 1


def _each_sentence(line: bytes, rewrite: Callable[[bytes], bytes]) -> bytes:
    """Apply ``rewrite`` to every sentence in a line, including sentences that
    share their line with junk (binary frames before a ``$GPRMC``)."""
    body = line.rstrip(b"\r\n")
    if body.startswith(b"$") and body.count(b"$") == 1:
        return rewrite(line)  # the usual case: one sentence, one line
    out = bytearray()
    pos = 0
    for candidate in LineFramer().feed(body + b"\n"):
        i = body.find(candidate, pos)
        if i >= 0:
            out += body[pos:i] + rewrite(candidate)
            pos = i + len(candidate)
    out += body[pos:]
    return bytes(out) + line[len(body) :]


def shift_time(line: bytes, delta: dt.timedelta) -> bytes:
    """Move the time (and date, where the sentence has one) forward by ``delta``.

    Sentences without a date (GGA, GNS, GLL) wrap at midnight; RMC and ZDA
    dates follow. The printed precision of each field is kept, so ``delta``
    should be a whole number of seconds for logs with whole-second times.
    """
    return _each_sentence(line, lambda sentence: _shift_time(sentence, delta))


def move_position(line: bytes, dlat: float, dlon: float) -> bytes:
    """Add ``dlat``/``dlon`` degrees to the position of GGA, RMC, GNS and GLL."""
    return _each_sentence(line, lambda sentence: _move_position(sentence, dlat, dlon))


def _shift_time(line: bytes, delta: dt.timedelta) -> bytes:
    parts = split(line)
    if parts is None:
        return line
    sentence, address, fields, ending = parts
    kind = sentence_type(address)
    index = TIMED.get(kind)
    tod = getattr(sentence, "tod_ms", None)
    if index is None or tod is None or index >= len(fields):
        return line
    date = getattr(sentence, "date", None)
    decimals = min(_decimals(fields[index]), 3)
    if date is not None:
        moved = dt.datetime(date.year, date.month, date.day, tzinfo=UTC) + dt.timedelta(milliseconds=tod) + delta
        fields[index] = nmea.format_time(time_of_day_ms(moved), decimals)
        if kind == "RMC" and len(fields) > 8:
            fields[8] = nmea.format_date(moved.date())
        elif kind == "ZDA" and len(fields) > 3:
            fields[1:4] = [f"{moved.day:02d}", f"{moved.month:02d}", f"{moved.year:04d}"]
    else:
        new_tod = (tod + round(delta.total_seconds() * 1000)) % DAY_MS
        fields[index] = nmea.format_time(new_tod, decimals)
    return _join(address, fields, ending)


def _move_position(line: bytes, dlat: float, dlon: float) -> bytes:
    parts = split(line)
    if parts is None:
        return line
    sentence, address, fields, ending = parts
    index = _POSITION.get(sentence_type(address))
    lat, lon = getattr(sentence, "lat", None), getattr(sentence, "lon", None)
    if index is None or lat is None or lon is None or index + 3 >= len(fields) or lat != lat or lon != lon:
        return line
    new_lat = max(-89.999999, min(89.999999, lat + dlat))
    new_lon = (lon + dlon + 180.0) % 360.0 - 180.0
    # Keep the printed precision (at least one decimal: "ddmm" alone is ambiguous).
    lat_text, ns = nmea.format_latitude(new_lat, max(1, _decimals(fields[index])))
    lon_text, ew = nmea.format_longitude(new_lon, max(1, _decimals(fields[index + 2])))
    fields[index : index + 4] = [lat_text, ns, lon_text, ew]
    return _join(address, fields, ending)
