"""The binary position messages (UBX NAV-*) of an emulated u-blox M8/M9. Pure.

A client such as gpsd, once it has recognised a u-blox receiver, turns its
NMEA output off and these messages on (CFG-MSG class 0x01); a real NEO-M8N or
NEO-M9N then reports every solution in them. :func:`nav_messages` encodes
one solution as the messages turned on, in the receiver's order (by message
id, NAV-EOE last as the end of the epoch). Layouts from the u-blox M8
protocol specification (UBX-13003221), the same in M9's.

What is emulated: NAV-POSECEF (0x01), NAV-DOP (0x04), NAV-PVT (0x07),
NAV-VELECEF (0x11), NAV-TIMEGPS (0x20), NAV-SAT (0x35, no satellite detail)
and NAV-EOE (0x61): every message gpsd turns on for protocol version 15 and
later. Heights: no geoid model here, so the ellipsoid height is the mean sea
level height (separation 0).
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from collections.abc import Mapping
from typing import Final

from agent import ubx
from common.fix import Fix

__all__ = ["NAV_CLASS", "NAV_MESSAGES", "nav_messages"]

NAV_CLASS: Final = 0x01
NAV_MESSAGES: Final = {
    0x01: "NAV-POSECEF",
    0x04: "NAV-DOP",
    0x07: "NAV-PVT",
    0x11: "NAV-VELECEF",
    0x20: "NAV-TIMEGPS",
    0x35: "NAV-SAT",
    0x61: "NAV-EOE",
}

_GPS_EPOCH: Final = dt.datetime(1980, 1, 6, tzinfo=dt.UTC)
_LEAP_SECONDS: Final = 18  # GPS - UTC since 2017-01-01
_WEEK_MS: Final = 7 * 86_400_000
# WGS 84
_A: Final = 6_378_137.0
_E2: Final = 6.694_379_990_14e-3


def gps_week_and_tow(time: dt.datetime) -> tuple[int, int]:
    """GPS week and time of week (ms) of a UTC instant."""
    ms = (time - _GPS_EPOCH) // dt.timedelta(milliseconds=1) + _LEAP_SECONDS * 1000
    return divmod(ms, _WEEK_MS)


def _ecef(lat: float, lon: float, height: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    n = _A / math.sqrt(1 - _E2 * math.sin(phi) ** 2)
    return (
        (n + height) * math.cos(phi) * math.cos(lam),
        (n + height) * math.cos(phi) * math.sin(lam),
        (n * (1 - _E2) + height) * math.sin(phi),
    )


def _velocity_ecef(lat: float, lon: float, north: float, east: float, down: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lon)
    sp, cp, sl, cl = math.sin(phi), math.cos(phi), math.sin(lam), math.cos(lam)
    return (
        -sp * cl * north - sl * east - cp * cl * down,
        -sp * sl * north + cl * east - cp * sl * down,
        cp * north - sp * down,
    )


def nav_messages(time: dt.datetime, fix: Fix | None, enabled: Mapping[int, int], cycle: int) -> list[bytes]:
    """The NAV messages of one solution at ``time`` (``fix`` None: no fix), for
    the message ids ``enabled`` every N solutions (0 = off) in this ``cycle``."""
    on = sorted(msg_id for msg_id, every in enabled.items() if msg_id in NAV_MESSAGES and every and cycle % every == 0)
    if not on:
        return []
    week, itow = gps_week_and_tow(time)
    lat, lon = (fix.lat, fix.lon) if fix is not None else (0.0, 0.0)
    alt = fix.alt if fix is not None and fix.alt is not None else 0.0
    speed = fix.speed if fix is not None and fix.speed is not None else 0.0
    track = fix.track if fix is not None and fix.track is not None else 0.0
    north, east = speed * math.cos(math.radians(track)), speed * math.sin(math.radians(track))
    hdop = fix.hdop if fix is not None and fix.hdop is not None else 99.99
    sats = fix.sats if fix is not None and fix.sats is not None else 0
    fix_type = 0 if fix is None else fix.mode  # 0 no fix, 2 2D, 3 3D
    h_acc = 0 if fix is None else round(hdop * 2500)  # mm: ~2.5 m per unit of HDOP
    out = []
    for msg_id in on:
        if msg_id == 0x01:
            x, y, z = _ecef(lat, lon, alt)
            payload = struct.pack("<IiiiI", itow, round(x * 100), round(y * 100), round(z * 100), h_acc // 10)
        elif msg_id == 0x04:
            d = round(hdop * 100)
            payload = struct.pack("<I7H", itow, d * 2, round(d * 1.5), d, d, d, round(d * 0.7), round(d * 0.7))
        elif msg_id == 0x07:
            payload = struct.pack(
                "<IHBBBBBBIiBBBBiiiiIIiiiiiIIHB5xihH",
                itow, time.year, time.month, time.day, time.hour, time.minute, time.second,
                0x07,  # validDate | validTime | fullyResolved
                50, time.microsecond * 1000,
                fix_type, 0x01 if fix is not None else 0x00, 0xE0 if fix is not None else 0x00, sats,
                round(lon * 1e7), round(lat * 1e7), round(alt * 1000), round(alt * 1000),
                h_acc, h_acc * 2, round(north * 1000), round(east * 1000), 0, round(speed * 1000),
                round(track * 1e5), 300, 50_000, round(hdop * 150), 0, 0, 0, 0,
            )  # fmt: skip
        elif msg_id == 0x11:
            vx, vy, vz = _velocity_ecef(lat, lon, north, east, 0.0)
            payload = struct.pack("<IiiiI", itow, round(vx * 100), round(vy * 100), round(vz * 100), 30)
        elif msg_id == 0x20:
            payload = struct.pack("<IihbBI", itow, 0, week, _LEAP_SECONDS, 0x07, 50)
        elif msg_id == 0x35:
            payload = struct.pack("<IBBxx", itow, 1, 0)  # version 1, no satellite records
        else:  # 0x61 NAV-EOE
            payload = struct.pack("<I", itow)
        out.append(ubx.encode((NAV_CLASS, msg_id), payload))
    return out
