"""u-blox UBX binary frames: encode, checksum and a streaming frame reader.

Pure, no I/O. The agent uses it to configure u-blox receivers
(``CFG-*``, ``CFG-VALSET``) and read their ``ACK``/``MON-VER`` answers; the
simulators use it to emulate such a receiver. Frame layout (u-blox
interface description, "UBX protocol structure")::

    0xB5 0x62  class:U1  id:U1  length:U2 (little endian)  payload[length]  CK_A CK_B

CK_A/CK_B: 8-bit Fletcher checksum over class, id, length and payload
(RFC 1146 / u-blox "UBX checksum").

Configuration keys (``CFG-VALSET``) carry their value size in bits 28-30 of
the 32-bit key id: 1 = one bit (stored in a byte), 2 = one byte, 3 = two
bytes, 4 = four bytes, 5 = eight bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, NamedTuple

from common.errors import ActiveCallsError

__all__ = [
    "ACK_ACK",
    "ACK_NAK",
    "CFG_CFG",
    "CFG_MSG",
    "CFG_NAV5",
    "CFG_PRT",
    "CFG_RATE",
    "CFG_VALGET",
    "CFG_VALSET",
    "KEYS",
    "MON_VER",
    "NMEA_MSG_IDS",
    "SYNC",
    "UbxError",
    "UbxFrame",
    "UbxReader",
    "checksum",
    "decode_valset",
    "encode",
    "encode_valset",
    "key_size",
    "parse_mon_ver",
]

SYNC: Final = b"\xb5\x62"
MAX_PAYLOAD: Final = 4096  # larger than any message we send or expect; bounds the reader's buffer


class MessageId(NamedTuple):
    cls: int
    id: int


ACK_NAK: Final = MessageId(0x05, 0x00)
ACK_ACK: Final = MessageId(0x05, 0x01)
CFG_PRT: Final = MessageId(0x06, 0x00)
CFG_MSG: Final = MessageId(0x06, 0x01)
CFG_RATE: Final = MessageId(0x06, 0x08)
CFG_CFG: Final = MessageId(0x06, 0x09)
CFG_NAV5: Final = MessageId(0x06, 0x24)
CFG_VALSET: Final = MessageId(0x06, 0x8A)
CFG_VALGET: Final = MessageId(0x06, 0x8B)
MON_VER: Final = MessageId(0x0A, 0x04)

# Standard NMEA messages as UBX message ids (class 0xF0), for CFG-MSG.
NMEA_MSG_IDS: Final = {
    "GGA": 0x00,
    "GLL": 0x01,
    "GSA": 0x02,
    "GSV": 0x03,
    "RMC": 0x04,
    "VTG": 0x05,
    "GRS": 0x06,
    "GST": 0x07,
    "ZDA": 0x08,
    "GBS": 0x09,
    "DTM": 0x0A,
    "GNS": 0x0D,
    "VLW": 0x0F,
}
NMEA_CLASS: Final = 0xF0

# Configuration keys (generation 9+ receivers) the project reads or writes.
KEYS: Final = {
    "CFG-RATE-MEAS": 0x30210001,  # U2, ms between measurements
    "CFG-RATE-NAV": 0x30210002,  # U2, measurements per navigation solution
    "CFG-UART1-BAUDRATE": 0x40520001,  # U4
    "CFG-UART1OUTPROT-NMEA": 0x10740002,  # L
    "CFG-NAVSPG-DYNMODEL": 0x20110021,  # E1, 4 = automotive
    "CFG-SBAS-USE_RANGING": 0x10360002,  # L (SBAS on/off is CFG-SIGNAL-SBAS_ENA, below)
    "CFG-SIGNAL-SBAS_ENA": 0x10310020,  # L
    "CFG-MSGOUT-NMEA_ID_GGA_UART1": 0x209100BB,  # U1, output every N solutions (0 = off)
    "CFG-MSGOUT-NMEA_ID_GLL_UART1": 0x209100CA,
    "CFG-MSGOUT-NMEA_ID_GSA_UART1": 0x209100C0,
    "CFG-MSGOUT-NMEA_ID_GSV_UART1": 0x209100C5,
    "CFG-MSGOUT-NMEA_ID_RMC_UART1": 0x209100AC,
    "CFG-MSGOUT-NMEA_ID_VTG_UART1": 0x209100B1,
    "CFG-MSGOUT-NMEA_ID_ZDA_UART1": 0x209100D9,
    "CFG-MSGOUT-NMEA_ID_GNS_UART1": 0x209100B6,
    "CFG-MSGOUT-NMEA_ID_GST_UART1": 0x209100D4,
}

_SIZES: Final = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8}
_FORMATS: Final = {1: "<B", 2: "<B", 3: "<H", 4: "<I", 5: "<Q"}


class UbxError(ActiveCallsError, ValueError):
    """A UBX payload that does not follow its message's layout."""


def checksum(data: bytes) -> bytes:
    """8-bit Fletcher checksum (CK_A, CK_B) over ``class id length payload``."""
    a = b = 0
    for byte in data:
        a = (a + byte) & 0xFF
        b = (b + a) & 0xFF
    return bytes((a, b))


@dataclass(frozen=True, slots=True)
class UbxFrame:
    cls: int
    id: int
    payload: bytes = b""

    @property
    def message(self) -> MessageId:
        return MessageId(self.cls, self.id)

    def encode(self) -> bytes:
        return encode(self.message, self.payload)


def encode(message: MessageId | tuple[int, int], payload: bytes = b"") -> bytes:
    """One complete UBX frame."""
    cls, msg_id = message
    if not (0 <= cls <= 0xFF and 0 <= msg_id <= 0xFF):
        raise ValueError(f"class and id must be bytes, got {cls!r}, {msg_id!r}")
    if len(payload) > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a UBX frame")
    body = struct.pack("<BBH", cls, msg_id, len(payload)) + payload
    return SYNC + body + checksum(body)


def key_size(key: int) -> int:
    """Bytes a configuration value of ``key`` takes, from the key's size bits."""
    size = _SIZES.get((key >> 28) & 0x7)
    if size is None:
        raise UbxError(f"configuration key 0x{key:08X} has an invalid size field")
    return size


def encode_valset(values: Iterable[tuple[int, int]], *, layers: int = 0x01) -> bytes:
    """Payload of CFG-VALSET (version 0): ``layers`` bit 0 = RAM, 1 = BBR, 2 = flash."""
    out = bytearray(struct.pack("<BBH", 0, layers, 0))
    for key, value in values:
        out += struct.pack("<I", key) + struct.pack(_FORMATS[(key >> 28) & 0x7], value)
    return bytes(out)


def decode_valset(payload: bytes) -> tuple[int, list[tuple[int, int]]]:
    """CFG-VALSET payload -> (layers, [(key, value), ...]); raises UbxError."""
    if len(payload) < 4:
        raise UbxError(f"CFG-VALSET payload of {len(payload)} bytes is shorter than its header")
    version, layers = payload[0], payload[1]
    if version not in (0, 1):
        raise UbxError(f"CFG-VALSET version {version} is unknown")
    values: list[tuple[int, int]] = []
    i = 4
    while i < len(payload):
        if i + 4 > len(payload):
            raise UbxError("CFG-VALSET ends inside a key id")
        (key,) = struct.unpack_from("<I", payload, i)
        size = key_size(key)
        if i + 4 + size > len(payload):
            raise UbxError(f"CFG-VALSET ends inside the value of key 0x{key:08X}")
        (value,) = struct.unpack_from(_FORMATS[(key >> 28) & 0x7], payload, i + 4)
        values.append((key, value))
        i += 4 + size
    return layers, values


def parse_mon_ver(payload: bytes) -> tuple[str, str, tuple[str, ...]]:
    """MON-VER payload -> (software version, hardware version, extensions)."""
    if len(payload) < 40 or (len(payload) - 40) % 30:
        raise UbxError(f"MON-VER payload of {len(payload)} bytes is not 40 + 30*N")

    def text(raw: bytes) -> str:
        return raw.split(b"\0", 1)[0].decode("ascii", "replace")

    extensions = tuple(text(payload[i : i + 30]) for i in range(40, len(payload), 30))
    return text(payload[:30]), text(payload[30:40]), extensions


class UbxReader:
    """Split a byte stream into UBX frames and everything else, any chunking.

    ``feed`` returns a list whose items are :class:`UbxFrame` (checksum
    verified) or ``bytes`` (the non-UBX bytes between frames, e.g. NMEA
    text, in order). Frames with a bad checksum or an impossible length are
    passed through as bytes, so nothing is silently lost. Memory is bounded
    by :data:`MAX_PAYLOAD`.
    """

    def __init__(self) -> None:
        self._buf = b""
        self.bad_checksum = 0

    def feed(self, chunk: bytes) -> list[UbxFrame | bytes]:
        buf = self._buf + chunk
        out: list[UbxFrame | bytes] = []
        text_start = 0
        i = 0
        hold = len(buf)  # where a frame that is still incomplete starts
        while True:
            start = buf.find(b"\xb5", i)
            if start < 0:
                break
            if start + 1 < len(buf) and buf[start + 1] != 0x62:
                i = start + 1
                continue
            if start + 6 > len(buf):
                hold = start  # sync or header incomplete
                break
            (length,) = struct.unpack_from("<H", buf, start + 4)
            if length > MAX_PAYLOAD:
                i = start + 1
                continue
            end = start + 6 + length + 2
            if end > len(buf):
                hold = start  # frame incomplete
                break
            if checksum(buf[start + 2 : end - 2]) != buf[end - 2 : end]:
                self.bad_checksum += 1
                i = start + 1
                continue
            if start > text_start:
                out.append(buf[text_start:start])
            out.append(UbxFrame(buf[start + 2], buf[start + 3], buf[start + 6 : end - 2]))
            text_start = i = end
        if hold > text_start:
            out.append(buf[text_start:hold])
        self._buf = buf[hold:]
        if len(self._buf) > MAX_PAYLOAD + 8:  # cannot be one frame any more
            out.append(self._buf)
            self._buf = b""
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)
