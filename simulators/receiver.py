"""An emulated GNSS receiver's command interface. Pure: bytes in, replies out.

What the agent writes to the serial port is fed to :meth:`Receiver.receive`,
which returns the bytes the receiver answers and updates its
:class:`ReceiverState`; ``replay`` and ``drive`` ask the state which
sentences to send and how often. Families:

``mtk`` (MediaTek MT33xx: PA6H, GlobalTop, Quectel L80)
    NMEA ``$PMTK`` commands, each answered ``$PMTK001,<cmd>,<flag>`` with
    flag 0 invalid packet, 1 unsupported, 2 valid but failed, 3 done:
    220/300 fix interval, 314 sentence selection (-1 = defaults), 251 baud,
    313 SBAS, 301 DGPS source, 386 static threshold, 000 test; queries
    400/401/413/414/605 answered 500/501/513/514/705 (705 is the release
    string an agent uses to detect the family); 101-104 restarts answer
    ``$PMTK010,001`` (104 also restores the defaults).
``ublox8`` / ``ublox9`` (u-blox M8 / M9)
    UBX CFG-MSG, CFG-RATE, CFG-PRT, CFG-NAV5 set or poll (ACK-ACK, or
    ACK-NAK for a bad payload), CFG-CFG save (acknowledged), MON-VER poll (the answer names the model),
    ``$PUBX,40`` NMEA rate commands, CFG-MSG for the UBX NAV messages (then
    sent each solution, :mod:`simulators.ubxnav`); ``ublox9`` also CFG-VALSET/VALGET with
    the keys of ``agent.ubx.KEYS`` (an unknown key NAKs the whole message, as
    the receiver does), ``ublox8`` NAKs them as an M8 does.
``none``
    A receiver that ignores everything (a plain NMEA source).

Commands with a bad checksum are ignored, as real receivers do.
"""

from __future__ import annotations

import datetime as dt
import enum
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from agent import ubx
from agent.framer import LineFramer
from agent.nmea import format_sentence
from agent.receiver.messages import PMTK314_FIELDS
from common.fix import Fix
from simulators.rewrite import sentence_type, split
from simulators.ubxnav import NAV_CLASS, NAV_MESSAGES, nav_messages

__all__ = ["MTK_RELEASE", "MTK_TYPES", "Family", "Receiver", "ReceiverState", "nmea_types"]


class Family(enum.StrEnum):
    NONE = "none"
    MTK = "mtk"
    UBLOX8 = "ublox8"
    UBLOX9 = "ublox9"


MTK_TYPES: Final = PMTK314_FIELDS  # the agent's, so the two cannot disagree
MTK_RELEASE: Final = ("AXN_2.31_3339_13101700", "5632", "PA6H", "1.0")
_MTK_BAUDS: Final = (0, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
_UBLOX_TYPES: Final = tuple(ubx.NMEA_MSG_IDS)
_MON_VER: Final = {
    Family.UBLOX8: ("ROM CORE 3.01 (107888)", "00080000", ("FWVER=SPG 3.01", "PROTVER=18.00", "MOD=NEO-M8N-0",
                                                           "GPS;GLO;GAL;BDS", "SBAS;IMES;QZSS")),
    Family.UBLOX9: ("EXT CORE 4.04 (7f89f7)", "00190000", ("ROM BASE 0x118B2060", "FWVER=SPG 4.04",
                                                           "PROTVER=32.01", "MOD=NEO-M9N-00B", "GPS;GLO;GAL;BDS",
                                                           "SBAS;QZSS")),
}  # fmt: skip
_MSGOUT: Final = {key: name.split("_ID_")[1].split("_")[0] for name, key in ubx.KEYS.items() if "_ID_" in name}
_K = ubx.KEYS


@dataclass(slots=True)
class ReceiverState:
    """What the receiver was told; what it outputs follows from it."""

    interval_ms: int = 1000  # one navigation solution every interval
    outputs: dict[str, int] | None = None  # sentence type -> every N solutions (0 off); None = as the source
    nmea_enabled: bool = True
    baud: int = 9600
    sbas: bool = False
    dgps_mode: int = 0
    dynamic_model: int = 0  # u-blox CFG-NAV5 dynModel (0 portable, 4 automotive)
    rate_changed: bool = False  # the agent set the rate (replay then thins the log)
    values: dict[int, int] = field(default_factory=dict)  # other VALSET keys, for VALGET
    ubx_enabled: bool = True  # CFG-PRT: UBX in the port's output protocols
    nav_outputs: dict[int, int] = field(default_factory=dict)  # UBX NAV message id -> every N solutions


@dataclass(slots=True)
class ReceiverStats:
    commands: int = 0
    acked: int = 0
    rejected: int = 0  # NAKs and PMTK001 flags 0-2
    ignored: int = 0  # bad checksums, other families' commands


class Receiver:
    """One emulated receiver. ``on_note`` hears one line per command, for ``--verbose``."""

    def __init__(
        self,
        family: Family,
        *,
        interval_ms: int = 1000,
        outputs: dict[str, int] | None = None,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.family = family
        self.state = ReceiverState(interval_ms=interval_ms, outputs=None if outputs is None else dict(outputs))
        self._defaults = (interval_ms, None if outputs is None else dict(outputs))
        self.stats = ReceiverStats()
        self._on_note = on_note or (lambda line: None)
        self._ubx = ubx.UbxReader()
        self._framer = LineFramer()
        self._last_out_ms: int | None = None

    # -- input ---------------------------------------------------------------

    def receive(self, data: bytes) -> list[bytes]:
        """Bytes the agent wrote; returns the receiver's answers, in order."""
        replies: list[bytes] = []
        for part in self._ubx.feed(data):
            if isinstance(part, ubx.UbxFrame):
                replies.extend(self._on_ubx(part))
            else:
                for candidate in self._framer.feed(part):
                    replies.extend(self._on_nmea(candidate))
        return replies

    def _note(self, text: str) -> None:
        self._on_note(text)

    def _on_nmea(self, candidate: bytes) -> list[bytes]:
        parts = split(candidate)
        if parts is None:
            self.stats.ignored += 1
            self._note(f"ignored (bad checksum or grammar): {candidate[:80]!r}")
            return []
        _, address, fields, _ = parts
        self.stats.commands += 1
        if address.startswith("PMTK") and self.family is Family.MTK:
            return self._on_pmtk(address[4:], fields)
        if address == "PUBX" and self.family in (Family.UBLOX8, Family.UBLOX9) and fields[:1] == ["40"]:
            return self._on_pubx40(fields)
        self.stats.ignored += 1
        self._note(f"ignored by a {self.family} receiver: {candidate[:80].decode('ascii', 'replace')}")
        return []

    # -- MediaTek --------------------------------------------------------------

    def _pmtk_ack(self, cmd: str, flag: int) -> list[bytes]:
        if flag == 3:
            self.stats.acked += 1
        else:
            self.stats.rejected += 1
        self._note(f"PMTK{cmd} -> PMTK001,{cmd},{flag}")
        return [format_sentence("PMTK001", [cmd, str(flag)])]

    def _on_pmtk(self, cmd: str, fields: list[str]) -> list[bytes]:
        s = self.state
        first = fields[0] if fields and fields[0] else None
        try:
            if cmd == "000":
                return self._pmtk_ack(cmd, 3)
            if cmd in ("220", "300"):
                if first is None:
                    return self._pmtk_ack(cmd, 0)
                interval = int(first)
                if not 100 <= interval <= 10000:
                    return self._pmtk_ack(cmd, 2)
                s.interval_ms, s.rate_changed = interval, True
                return self._pmtk_ack(cmd, 3)
            if cmd == "251":
                baud = int(first or "")
                if baud not in _MTK_BAUDS:
                    return self._pmtk_ack(cmd, 2)
                s.baud = baud or 9600
                return self._pmtk_ack(cmd, 3)
            if cmd == "313":
                s.sbas = int(first or "") == 1
                return self._pmtk_ack(cmd, 3)
            if cmd == "301":
                mode = int(first or "")
                if mode not in (0, 1, 2):
                    return self._pmtk_ack(cmd, 2)
                s.dgps_mode = mode
                return self._pmtk_ack(cmd, 3)
            if cmd == "386":
                float(first or "")
                return self._pmtk_ack(cmd, 3)
            if cmd == "314":
                return self._pmtk314(fields)
            if cmd in ("101", "102", "103", "104"):
                if cmd == "104":
                    self._restore_defaults()
                self._note(f"PMTK{cmd} -> restart")
                return [format_sentence("PMTK010", ["001"])]
            if cmd == "400":
                return self._pmtk_reply("500", [str(s.interval_ms), "0", "0", "0.0", "0.0"])
            if cmd == "401":
                return self._pmtk_reply("501", [str(s.dgps_mode)])
            if cmd == "413":
                return self._pmtk_reply("513", ["1" if s.sbas else "0"])
            if cmd == "414":
                return self._pmtk_reply("514", [str(self._every(t)) if t else "0" for t in MTK_TYPES])
            if cmd == "605":
                return self._pmtk_reply("705", list(MTK_RELEASE))
        except ValueError:
            return self._pmtk_ack(cmd, 0)
        return self._pmtk_ack(cmd, 1)

    def _pmtk_reply(self, cmd: str, fields: list[str]) -> list[bytes]:
        self.stats.acked += 1
        self._note(f"query -> PMTK{cmd},{','.join(fields)}")
        return [format_sentence("PMTK" + cmd, fields)]

    def _pmtk314(self, fields: list[str]) -> list[bytes]:
        if fields == ["-1"]:
            self.state.outputs = None if self._defaults[1] is None else dict(self._defaults[1])
            return self._pmtk_ack("314", 3)
        values = [int(f) for f in fields]  # ValueError -> invalid packet
        if len(values) < 9 or any(not 0 <= v <= 5 for v in values):
            return self._pmtk_ack("314", 2)
        outputs = {kind: v for kind, v in zip(MTK_TYPES, values) if kind}
        self.state.outputs = outputs
        return self._pmtk_ack("314", 3)

    def _restore_defaults(self) -> None:
        interval, outputs = self._defaults
        self.state = ReceiverState(interval_ms=interval, outputs=None if outputs is None else dict(outputs))

    def _every(self, kind: str) -> int:
        outputs = self.state.outputs
        if outputs is None:
            return 1
        return outputs.get(kind, 0)

    # -- u-blox ----------------------------------------------------------------

    def _on_pubx40(self, fields: list[str]) -> list[bytes]:
        # $PUBX,40,msgId,rddc,rus1,rus2,rusb,rspi,reserved: rates per port; UART1 is rus1.
        if len(fields) < 4 or fields[1] not in _UBLOX_TYPES:
            self.stats.rejected += 1
            return []
        try:
            rate = int(fields[3])
        except ValueError:
            self.stats.rejected += 1
            return []
        self._set_output(fields[1], rate)
        self.stats.acked += 1
        self._note(f"PUBX,40 {fields[1]} every {rate}")
        return []  # PUBX commands are not acknowledged

    def _set_output(self, kind: str, every: int) -> None:
        s = self.state
        if s.outputs is None:
            # From "as the source" to explicit: every other type keeps going.
            s.outputs = dict.fromkeys(_UBLOX_TYPES, 1)
        s.outputs[kind] = every

    def _ack(self, frame: ubx.UbxFrame, ok: bool, what: str) -> list[bytes]:
        if ok:
            self.stats.acked += 1
        else:
            self.stats.rejected += 1
        self._note(f"UBX {what} -> {'ACK' if ok else 'NAK'}")
        return [ubx.encode(ubx.ACK_ACK if ok else ubx.ACK_NAK, bytes((frame.cls, frame.id)))]

    def _on_ubx(self, frame: ubx.UbxFrame) -> list[bytes]:
        if self.family not in (Family.UBLOX8, Family.UBLOX9):
            self.stats.ignored += 1
            self._note(f"UBX 0x{frame.cls:02X} 0x{frame.id:02X} ignored by a {self.family} receiver")
            return []
        self.stats.commands += 1
        message, p, s = frame.message, frame.payload, self.state
        if message == ubx.MON_VER:
            sw, hw, extensions = _MON_VER[self.family]
            payload = sw.encode().ljust(30, b"\0") + hw.encode().ljust(10, b"\0")
            payload += b"".join(e.encode().ljust(30, b"\0") for e in extensions)
            self._note(f"UBX MON-VER poll -> {sw}")
            return [ubx.encode(ubx.MON_VER, payload)]
        if frame.cls != ubx.CFG_MSG.cls:
            self.stats.ignored += 1
            return []
        if message == ubx.CFG_RATE:
            if len(p) == 0:
                return [ubx.encode(ubx.CFG_RATE, struct.pack("<HHH", s.interval_ms, 1, 1)),
                        *self._ack(frame, True, "CFG-RATE poll")]  # fmt: skip
            if len(p) != 6:
                return self._ack(frame, False, "CFG-RATE")
            meas, nav, _ = struct.unpack("<HHH", p)
            if meas < 25 or nav < 1 or meas * nav > 65535:
                return self._ack(frame, False, f"CFG-RATE {meas} ms x {nav}")
            s.interval_ms, s.rate_changed = meas * nav, True
            return self._ack(frame, True, f"CFG-RATE {meas} ms x {nav}")
        if message == ubx.CFG_MSG:
            if len(p) == 2:
                kind = self._nmea_type(p[0], p[1])
                rate = self._every(kind) if kind else s.nav_outputs.get(p[1], 0) if p[0] == NAV_CLASS else 0
                return [ubx.encode(ubx.CFG_MSG, p + bytes((rate,))), *self._ack(frame, True, "CFG-MSG poll")]
            if len(p) not in (3, 8):
                return self._ack(frame, False, "CFG-MSG")
            rate = p[2] if len(p) == 3 else p[3]  # one rate for this port, or six (port 1 = UART1)
            kind = self._nmea_type(p[0], p[1])
            if kind:
                self._set_output(kind, rate)
            elif p[0] == NAV_CLASS:
                s.nav_outputs[p[1]] = rate
                kind = NAV_MESSAGES.get(p[1], "NAV (not emulated)")
            return self._ack(frame, True, f"CFG-MSG 0x{p[0]:02X} 0x{p[1]:02X} {kind or ''} every {rate}")
        if message == ubx.CFG_PRT:
            if len(p) in (0, 1):
                out_mask = (0x0002 if s.nmea_enabled else 0) | (0x0001 if s.ubx_enabled else 0)
                payload = struct.pack("<BBHIIHHHH", 1, 0, 0, 0x08D0, s.baud, 0x0007, out_mask, 0, 0)
                return [ubx.encode(ubx.CFG_PRT, payload), *self._ack(frame, True, "CFG-PRT poll")]
            if len(p) != 20:
                return self._ack(frame, False, "CFG-PRT")
            port, _, _, _, baud, _, out_mask, _, _ = struct.unpack("<BBHIIHHHH", p)
            if port == 1:  # UART1, the one we are
                if baud <= 0:
                    return self._ack(frame, False, "CFG-PRT baud 0")
                s.baud, s.nmea_enabled, s.ubx_enabled = baud, bool(out_mask & 0x0002), bool(out_mask & 0x0001)
            return self._ack(frame, True, f"CFG-PRT port {port} baud {baud} out 0x{out_mask:04X}")
        if message == ubx.CFG_NAV5:
            if len(p) == 0:
                payload = struct.pack("<HBB", 0xFFFF, s.dynamic_model, 3) + bytes(32)
                return [ubx.encode(ubx.CFG_NAV5, payload), *self._ack(frame, True, "CFG-NAV5 poll")]
            if len(p) != 36:
                return self._ack(frame, False, "CFG-NAV5")
            mask, model = struct.unpack_from("<HB", p)
            if mask & 0x0001:
                if model not in (0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11):
                    return self._ack(frame, False, f"CFG-NAV5 dynModel {model}")
                s.dynamic_model = model
            return self._ack(frame, True, f"CFG-NAV5 dynModel {s.dynamic_model}")
        if message == ubx.CFG_CFG:
            # clearMask, saveMask, loadMask (+ deviceMask): settings are kept as they are.
            return self._ack(frame, len(p) in (12, 13), "CFG-CFG")
        if message == ubx.CFG_VALSET and self.family is Family.UBLOX9:
            return self._valset(frame)
        if message == ubx.CFG_VALGET and self.family is Family.UBLOX9:
            return self._valget(frame)
        return self._ack(frame, False, f"CFG 0x{frame.id:02X} (not supported)")

    @staticmethod
    def _nmea_type(cls: int, msg_id: int) -> str | None:
        if cls != ubx.NMEA_CLASS:
            return None
        return next((k for k, v in ubx.NMEA_MSG_IDS.items() if v == msg_id), None)

    def _valset(self, frame: ubx.UbxFrame) -> list[bytes]:
        try:
            _, values = ubx.decode_valset(frame.payload)
        except ubx.UbxError as exc:
            return self._ack(frame, False, f"CFG-VALSET ({exc})")
        known = set(_K.values())
        unknown = [k for k, _ in values if k not in known]
        if unknown:
            return self._ack(frame, False, f"CFG-VALSET unknown key 0x{unknown[0]:08X}")
        s = self.state
        meas = next((v for k, v in values if k == _K["CFG-RATE-MEAS"]), None)
        nav = next((v for k, v in values if k == _K["CFG-RATE-NAV"]), None)
        if (meas is not None and meas < 25) or (nav is not None and nav < 1):
            return self._ack(frame, False, "CFG-VALSET rate out of range")
        for key, value in values:
            s.values[key] = value
            if key in _MSGOUT:
                self._set_output(_MSGOUT[key], value)
            elif key == _K["CFG-UART1-BAUDRATE"]:
                s.baud = value
            elif key == _K["CFG-UART1OUTPROT-NMEA"]:
                s.nmea_enabled = bool(value)
            elif key == _K["CFG-NAVSPG-DYNMODEL"]:
                s.dynamic_model = value
            elif key == _K["CFG-SIGNAL-SBAS_ENA"]:
                s.sbas = bool(value)
        if meas is not None or nav is not None:
            current_nav = s.values.get(_K["CFG-RATE-NAV"], 1)
            current_meas = s.values.get(_K["CFG-RATE-MEAS"], s.interval_ms // max(1, current_nav))
            s.interval_ms, s.rate_changed = current_meas * current_nav, True
        names = ", ".join(next((n for n, k in _K.items() if k == key), hex(key)) + f"={v}" for key, v in values)
        return self._ack(frame, True, f"CFG-VALSET {names}")

    def _valget(self, frame: ubx.UbxFrame) -> list[bytes]:
        p = frame.payload
        if len(p) < 4 or (len(p) - 4) % 4:
            return self._ack(frame, False, "CFG-VALGET")
        keys = [struct.unpack_from("<I", p, i)[0] for i in range(4, len(p), 4)]
        if any(k not in _K.values() for k in keys):
            return self._ack(frame, False, "CFG-VALGET unknown key")
        s = self.state
        current = {
            _K["CFG-RATE-MEAS"]: s.interval_ms // s.values.get(_K["CFG-RATE-NAV"], 1),
            _K["CFG-RATE-NAV"]: s.values.get(_K["CFG-RATE-NAV"], 1),
            _K["CFG-UART1-BAUDRATE"]: s.baud,
            _K["CFG-UART1OUTPROT-NMEA"]: int(s.nmea_enabled),
            _K["CFG-NAVSPG-DYNMODEL"]: s.dynamic_model,
            _K["CFG-SIGNAL-SBAS_ENA"]: int(s.sbas),
            **{k: self._every(kind) for k, kind in _MSGOUT.items()},
        }
        values = [(k, current[k] if k in current else s.values.get(k, 0)) for k in keys]
        payload = bytearray(ubx.encode_valset(values))
        payload[0] = 1  # VALGET answers are version 1, with the layer polled
        payload[1] = p[1]
        return [ubx.encode(ubx.CFG_VALGET, bytes(payload)), *self._ack(frame, True, "CFG-VALGET")]

    # -- output ----------------------------------------------------------------

    def due(self, offset_ms: int) -> bool:
        """Whether a source epoch at stream time ``offset_ms`` is output under
        the configured rate (a replayed log can only be thinned, not sped up)."""
        if not self.state.rate_changed:
            return True
        last = self._last_out_ms
        if last is not None and offset_ms - last < self.state.interval_ms - 50 and offset_ms >= last:
            return False
        self._last_out_ms = offset_ms
        return True

    def select(self, lines: Sequence[bytes], cycle: int) -> list[bytes]:
        """The lines of one epoch this receiver sends in its ``cycle``-th solution."""
        s = self.state
        if not s.nmea_enabled:
            return []
        if s.outputs is None:
            return list(lines)
        out = []
        for line in lines:
            parts = split(line)
            if parts is not None:
                kind = sentence_type(parts[1])
                every = s.outputs.get(kind)
                if every is not None and (every == 0 or cycle % every):
                    continue
            out.append(line)
        return out

    def binary(self, time: dt.datetime | None, fix: Fix | None, cycle: int) -> list[bytes]:
        """The UBX NAV messages of one solution, as turned on (CFG-MSG class 0x01);
        none from other families, without a time, or with UBX output off."""
        s = self.state
        if self.family not in (Family.UBLOX8, Family.UBLOX9) or time is None or not s.ubx_enabled:
            return []
        return nav_messages(time, fix, s.nav_outputs, cycle)

    def sentence_types(self, default: Sequence[str], cycle: int) -> list[str]:
        """For a synthetic receiver: the sentence types of its ``cycle``-th solution."""
        s = self.state
        if not s.nmea_enabled:
            return []
        if s.outputs is None:
            return list(default)
        order = list(default) + [k for k in ("GGA", "GNS", "GLL", "RMC", "VTG", "GSA", "ZDA") if k not in default]
        return [k for k in order if s.outputs.get(k, 0) and cycle % s.outputs[k] == 0]


def nmea_types(sentences: Sequence[str]) -> dict[str, int]:
    """Outputs table of a receiver configured to send ``sentences`` every solution."""
    return {kind: (1 if kind in sentences else 0) for kind in {*sentences, *_UBLOX_TYPES, *filter(None, MTK_TYPES)}}
