"""Profile -> the bytes to send, step by step; the receiver's answers -> ACK or NAK. Pure.

u-blox (UBX, ``agent.ubx`` frames the bytes and computes the Fletcher checksum)::

    CFG-MSG   (0x06 0x01)  msgClass:U1 msgID:U1 rate:U1        rate on the port it arrives on
    CFG-RATE  (0x06 0x08)  measRate:U2 ms  navRate:U2  timeRef:U2 (1 = GPS time)
    CFG-NAV5  (0x06 0x24)  mask:X2 dynModel:U1 ... (36 bytes)   mask bit 0 = apply dynModel
    CFG-PRT   (0x06 0x00)  portID:U1 res:U1 txReady:X2 mode:X4 baudRate:U4
                           inProtoMask:X2 outProtoMask:X2 flags:X2 res:U2
    CFG-CFG   (0x06 0x09)  clearMask:X4 saveMask:X4 loadMask:X4 deviceMask:X1
    CFG-VALSET(0x06 0x8A)  version:U1 layers:X1 res:U2 (key:U4 value)...
    answered  ACK-ACK (0x05 0x01) / ACK-NAK (0x05 0x00)  clsID:U1 msgID:U1

MediaTek (NMEA, XOR checksum by ``agent.nmea.format_sentence``)::

    $PMTK314,GLL,RMC,VTG,GGA,GSA,GSV,GRS,GST,0,0,0,0,0,0,0,0,0,ZDA,MCHN*hh   output every N fixes
    $PMTK220,<ms>*hh   $PMTK313,<0|1>*hh (SBAS)   $PMTK301,<0|1|2>*hh (DGPS: none, RTCM, SBAS)
    $PMTK251,<baud>*hh
    answered  $PMTK001,<cmd>,<flag>*hh   flag 0 invalid packet, 1 unsupported, 2 failed, 3 done
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final

from agent import ubx
from agent.nmea import format_sentence
from agent.receiver.profile import DYNAMIC_MODELS, Family, Profile

__all__ = [
    "PMTK314_FIELDS",
    "Answer",
    "Outcome",
    "PmtkAck",
    "Step",
    "UbxAck",
    "answer_to",
    "build_steps",
    "parse_pmtk001",
    "probe_commands",
]

# $PMTK314 field order (MediaTek "PMTK command packet", SET_NMEA_OUTPUT); "" = reserved.
PMTK314_FIELDS: Final = ("GLL", "RMC", "VTG", "GGA", "GSA", "GSV", "GRS", "GST") + ("",) * 9 + ("ZDA", "MCHN")
_PRT_MODE_8N1: Final = 0x08D0  # charLen 8 bits, no parity, 1 stop bit
_PROTO_UBX_NMEA: Final = 0x0003  # UBX in and out keeps the ACKs coming; NMEA out is the point
_SAVE_ALL: Final = 0x0000_1F1F  # every configuration section
_DEVICES: Final = 0x17  # battery-backed RAM, flash, EEPROM, SPI flash: whichever the module has
_RAM, _RAM_BBR_FLASH = 0x01, 0x07  # CFG-VALSET layers


@dataclass(frozen=True, slots=True)
class UbxAck:
    """The step is answered by ACK-ACK / ACK-NAK naming this message."""

    message: tuple[int, int]


@dataclass(frozen=True, slots=True)
class PmtkAck:
    """The step is answered by ``$PMTK001,<command>,<flag>``."""

    command: str


@dataclass(frozen=True, slots=True)
class Step:
    what: str  # what it achieves, for the report: "rate 5 Hz"
    command: str  # the message, for the report: "CFG-RATE measRate=200 ms"
    data: bytes
    expect: UbxAck | PmtkAck
    new_baud: int | None = None  # switch the port to this speed once sent (the answer may never come)


class Answer(enum.Enum):
    ACK = "ACK"
    NAK = "NAK"  # refused: retrying will not help
    GARBLED = "garbled"  # MediaTek flag 0 "invalid packet": the line may have corrupted it, send again


@dataclass(frozen=True, slots=True)
class Outcome:
    answer: Answer
    text: str  # "ACK-ACK", "PMTK001 flag 2 (valid but failed)"


# -- building ------------------------------------------------------------------------------


def build_steps(profile: Profile) -> list[Step]:
    """Every message of ``profile``, in the order to send them (a speed change last but a save)."""
    if profile.family is Family.MTK:
        return _mtk_steps(profile)
    if profile.family is Family.UBLOX8:
        return _ublox8_steps(profile)
    return _ublox9_steps(profile)


def _ubx_step(what: str, command: str, message: ubx.MessageId, payload: bytes, new_baud: int | None = None) -> Step:
    return Step(what, command, ubx.encode(message, payload), UbxAck(tuple(message)), new_baud)  # type: ignore[arg-type]


def _ublox8_steps(p: Profile) -> list[Step]:
    steps = []
    for kind in (*p.sentences, *p.turned_off):
        rate, msg_id = (1 if kind in p.sentences else 0), ubx.NMEA_MSG_IDS[kind]
        steps.append(_ubx_step(f"{kind} {'on' if rate else 'off'}", f"CFG-MSG F0 {msg_id:02X} rate {rate}",
                               ubx.CFG_MSG, bytes((ubx.NMEA_CLASS, msg_id, rate))))  # fmt: skip
    steps.append(_ubx_step(f"rate {p.rate_hz} Hz", f"CFG-RATE measRate={p.interval_ms} ms navRate=1",
                           ubx.CFG_RATE, struct.pack("<HHH", p.interval_ms, 1, 1)))  # fmt: skip
    if p.dynamic_model:
        model = DYNAMIC_MODELS[p.dynamic_model]
        payload = struct.pack("<HB", 0x0001, model).ljust(36, b"\0")
        steps.append(_ubx_step(f"dynamic model {p.dynamic_model}", f"CFG-NAV5 dynModel={model}", ubx.CFG_NAV5, payload))
    if p.baud:
        payload = struct.pack("<BBHIIHHHH", 1, 0, 0, _PRT_MODE_8N1, p.baud, _PROTO_UBX_NMEA, _PROTO_UBX_NMEA, 0, 0)
        steps.append(_ubx_step(f"baud {p.baud}", f"CFG-PRT UART1 {p.baud} 8N1 in/out UBX+NMEA", ubx.CFG_PRT, payload,
                               p.baud))  # fmt: skip
    if p.save:
        payload = struct.pack("<IIIB", 0, _SAVE_ALL, 0, _DEVICES)
        steps.append(_ubx_step("save", "CFG-CFG save all to BBR/flash", ubx.CFG_CFG, payload))
    return steps


def _valset(what: str, values: list[tuple[str, int]], layers: int, new_baud: int | None = None) -> Step:
    command = "CFG-VALSET " + " ".join(f"{name.removeprefix('CFG-')}={v}" for name, v in values)
    payload = ubx.encode_valset([(ubx.KEYS[name], v) for name, v in values], layers=layers)
    return _ubx_step(what, command, ubx.CFG_VALSET, payload, new_baud)


def _ublox9_steps(p: Profile) -> list[Step]:
    layers = _RAM_BBR_FLASH if p.save else _RAM
    outputs = [(f"CFG-MSGOUT-NMEA_ID_{k}_UART1", 1 if k in p.sentences else 0) for k in (*p.sentences, *p.turned_off)]
    steps = [
        _valset(f"sentences {','.join(p.sentences)}", outputs, layers),
        _valset(f"rate {p.rate_hz} Hz", [("CFG-RATE-MEAS", p.interval_ms), ("CFG-RATE-NAV", 1)], layers),
    ]
    if p.dynamic_model:
        steps.append(_valset(f"dynamic model {p.dynamic_model}",
                             [("CFG-NAVSPG-DYNMODEL", DYNAMIC_MODELS[p.dynamic_model])], layers))  # fmt: skip
    if p.baud:
        steps.append(_valset(f"baud {p.baud}", [("CFG-UART1-BAUDRATE", p.baud)], layers, p.baud))
    return steps


def _pmtk_step(what: str, command: str, fields: list[str], new_baud: int | None = None) -> Step:
    data = format_sentence("PMTK" + command, fields)
    return Step(what, data.decode("ascii").strip(), data, PmtkAck(command), new_baud)


def _mtk_steps(p: Profile) -> list[Step]:
    fields = ["1" if kind in p.sentences else "0" for kind in PMTK314_FIELDS]
    steps = [
        _pmtk_step(f"sentences {','.join(p.sentences)}", "314", fields),
        _pmtk_step(f"rate {p.rate_hz} Hz", "220", [str(p.interval_ms)]),
    ]
    if p.sbas is not None:
        steps.append(_pmtk_step(f"SBAS {'on' if p.sbas else 'off'}", "313", ["1" if p.sbas else "0"]))
        steps.append(_pmtk_step(f"DGPS source {'SBAS' if p.sbas else 'none'}", "301", ["2" if p.sbas else "0"]))
    if p.baud:
        steps.append(_pmtk_step(f"baud {p.baud}", "251", [str(p.baud)], p.baud))
    return steps


def probe_commands() -> bytes:
    """What detection writes: a u-blox MON-VER poll and a MediaTek release query ($PMTK605).
    Each family ignores the other's."""
    return ubx.encode(ubx.MON_VER) + format_sentence("PMTK605", [])


# -- answers -------------------------------------------------------------------------------


_MTK_FLAGS: Final = {0: "invalid packet", 1: "unsupported", 2: "valid but failed", 3: "done"}


def parse_pmtk001(address: str, fields: tuple[str, ...] | list[str]) -> tuple[str, int] | None:
    """``$PMTK001,<cmd>,<flag>`` -> (cmd, flag); None for any other sentence."""
    if address != "PMTK001" or len(fields) < 2 or not fields[1].isdigit():
        return None
    return fields[0], int(fields[1])


def answer_to(expect: UbxAck | PmtkAck, item: ubx.UbxFrame | tuple[str, tuple[str, ...]]) -> Outcome | None:
    """Whether ``item`` (a UBX frame, or an NMEA sentence as (address, fields)) answers a step
    that expects ``expect``; None if it is about something else."""
    if isinstance(expect, UbxAck):
        if not isinstance(item, ubx.UbxFrame) or item.message not in (ubx.ACK_ACK, ubx.ACK_NAK):
            return None
        if tuple(item.payload[:2]) != tuple(expect.message):
            return None
        return Outcome(Answer.ACK, "ACK-ACK") if item.message == ubx.ACK_ACK else Outcome(Answer.NAK, "ACK-NAK")
    if isinstance(item, ubx.UbxFrame):
        return None
    parsed = parse_pmtk001(*item)
    if parsed is None or parsed[0] != expect.command:
        return None
    flag = parsed[1]
    text = f"PMTK001 flag {flag} ({_MTK_FLAGS.get(flag, 'unknown')})"
    if flag == 3:
        return Outcome(Answer.ACK, text)
    return Outcome(Answer.GARBLED if flag == 0 else Answer.NAK, text)
