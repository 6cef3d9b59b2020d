"""Receiver emulation: PMTK and UBX commands in, acknowledgements out, state changed."""

from __future__ import annotations

import struct

from agent import nmea, ubx
from agent.nmea import format_sentence
from simulators.receiver import Family, Receiver, nmea_types
from simulators.rewrite import split


def pmtk(cmd: str, *fields: str) -> bytes:
    return format_sentence("PMTK" + cmd, list(fields))


def answers(receiver: Receiver, data: bytes) -> list[tuple[str, list[str]]]:
    out = []
    for reply in receiver.receive(data):
        parts = split(reply)
        assert parts is not None, reply
        out.append((parts[1], parts[2]))
    return out


def test_mtk_rate_selection_and_acks() -> None:
    r = Receiver(Family.MTK, outputs=nmea_types(("GGA", "GSA", "RMC", "VTG")))
    assert answers(r, pmtk("220", "200")) == [("PMTK001", ["220", "3"])]
    assert r.state.interval_ms == 200
    assert answers(r, pmtk("220", "20")) == [("PMTK001", ["220", "2"])]  # out of range: valid but failed
    assert answers(r, pmtk("220", "x")) == [("PMTK001", ["220", "0"])]
    # RMC and GGA every fix, GSV every 5th, nothing else.
    assert answers(r, pmtk("314", "0", "1", "0", "1", "0", "5", *["0"] * 13)) == [("PMTK001", ["314", "3"])]
    assert r.sentence_types(("GGA", "GSA", "RMC", "VTG"), 0) == ["GGA", "RMC"]
    assert answers(r, pmtk("414")) == [("PMTK514", ["0", "1", "0", "1", "0", "5", *["0"] * 13])]
    assert answers(r, pmtk("314", "-1")) == [("PMTK001", ["314", "3"])]
    assert r.sentence_types(("GGA", "GSA", "RMC", "VTG"), 0) == ["GGA", "GSA", "RMC", "VTG"]
    assert answers(r, pmtk("251", "115200")) == [("PMTK001", ["251", "3"])] and r.state.baud == 115200
    assert answers(r, pmtk("313", "1") + pmtk("301", "2")) == [("PMTK001", ["313", "3"]), ("PMTK001", ["301", "3"])]
    assert r.state.sbas and r.state.dgps_mode == 2
    assert answers(r, pmtk("999")) == [("PMTK001", ["999", "1"])]  # unsupported
    assert answers(r, pmtk("605")) == [("PMTK705", ["AXN_2.31_3339_13101700", "5632", "PA6H", "1.0"])]


def test_mtk_ignores_bad_checksums_and_ubx() -> None:
    r = Receiver(Family.MTK)
    assert r.receive(b"$PMTK220,200*00\r\n") == []
    assert r.receive(ubx.encode(ubx.MON_VER)) == []
    assert r.state.interval_ms == 1000 and r.stats.ignored == 2


def test_commands_split_across_reads() -> None:
    r = Receiver(Family.MTK)
    data = pmtk("220", "500")
    assert r.receive(data[:5]) == [] and r.receive(data[5:]) == [pmtk("001", "220", "3")]


def ack(frame: bytes, ok: bool = True) -> bytes:
    return ubx.encode(ubx.ACK_ACK if ok else ubx.ACK_NAK, frame[2:4])


def test_ublox_cfg_messages() -> None:
    r = Receiver(Family.UBLOX8, outputs=nmea_types(("GGA", "RMC", "GSA")))
    rate = ubx.encode(ubx.CFG_RATE, struct.pack("<HHH", 100, 2, 1))
    assert r.receive(rate) == [ack(rate)] and r.state.interval_ms == 200
    bad = ubx.encode(ubx.CFG_RATE, struct.pack("<HHH", 10, 1, 1))
    assert r.receive(bad) == [ack(bad, False)] and r.state.interval_ms == 200
    off = ubx.encode(ubx.CFG_MSG, bytes((0xF0, ubx.NMEA_MSG_IDS["GSA"], 0)))
    assert r.receive(off) == [ack(off)]
    assert r.sentence_types(("GGA", "RMC", "GSA"), 0) == ["GGA", "RMC"]
    on = ubx.encode(ubx.CFG_MSG, bytes((0xF0, ubx.NMEA_MSG_IDS["ZDA"], 0, 1, 0, 0, 0, 0)))  # six ports, UART1 = 1
    assert r.receive(on) == [ack(on)]
    assert r.sentence_types(("GGA", "RMC", "GSA"), 0) == ["GGA", "RMC", "ZDA"]
    poll = ubx.encode(ubx.CFG_MSG, bytes((0xF0, ubx.NMEA_MSG_IDS["ZDA"])))
    assert r.receive(poll) == [ubx.encode(ubx.CFG_MSG, bytes((0xF0, 0x08, 1))), ack(poll)]
    prt = ubx.encode(ubx.CFG_PRT, struct.pack("<BBHIIHHHH", 1, 0, 0, 0x08D0, 38400, 7, 1, 0, 0))  # UBX out only
    assert r.receive(prt) == [ack(prt)] and r.state.baud == 38400 and not r.state.nmea_enabled
    assert r.sentence_types(("GGA",), 0) == [] and r.select([b"$GPGGA*00\r\n"], 0) == []
    nav5 = ubx.encode(ubx.CFG_NAV5, struct.pack("<HB", 1, 4) + bytes(33))
    assert r.receive(nav5) == [ack(nav5)] and r.state.dynamic_model == 4
    valset = ubx.encode(ubx.CFG_VALSET, ubx.encode_valset([(ubx.KEYS["CFG-RATE-MEAS"], 500)]))
    assert r.receive(valset) == [ack(valset, False)]  # an M8 does not know CFG-VALSET
    (ver,) = r.receive(ubx.encode(ubx.MON_VER))
    (frame,) = ubx.UbxReader().feed(ver)
    assert isinstance(frame, ubx.UbxFrame) and "PROTVER=18.00" in ubx.parse_mon_ver(frame.payload)[2]


def test_ublox9_valset_valget() -> None:
    r = Receiver(Family.UBLOX9, outputs=nmea_types(("GGA", "RMC", "GSA", "VTG")))
    k = ubx.KEYS
    frame = ubx.encode(ubx.CFG_VALSET, ubx.encode_valset([(k["CFG-RATE-MEAS"], 100), (k["CFG-RATE-NAV"], 1),
                                                          (k["CFG-MSGOUT-NMEA_ID_GSA_UART1"], 0),
                                                          (k["CFG-MSGOUT-NMEA_ID_VTG_UART1"], 0)]))  # fmt: skip
    assert r.receive(frame) == [ack(frame)]
    assert r.state.interval_ms == 100
    assert r.sentence_types(("GGA", "RMC", "GSA", "VTG"), 0) == ["GGA", "RMC"]
    unknown = ubx.encode(ubx.CFG_VALSET, ubx.encode_valset([(0x20990001, 1), (k["CFG-RATE-MEAS"], 1000)]))
    assert r.receive(unknown) == [ack(unknown, False)] and r.state.interval_ms == 100  # all or nothing
    get = ubx.encode(ubx.CFG_VALGET, struct.pack("<BBHI", 0, 0, 0, k["CFG-RATE-MEAS"]))
    reply, acked = r.receive(get)
    (answer,) = ubx.UbxReader().feed(reply)
    assert isinstance(answer, ubx.UbxFrame) and ubx.decode_valset(answer.payload)[1] == [(k["CFG-RATE-MEAS"], 100)]
    assert acked == ack(get)
    (ver,) = r.receive(ubx.encode(ubx.MON_VER))
    assert b"MOD=NEO-M9N" in ver


def test_replay_filter_and_thinning() -> None:
    r = Receiver(Family.MTK, interval_ms=200)
    lines = [format_sentence("GPGGA", ["120000.00"] + [""] * 13), format_sentence("GPGSV", ["1", "1", "00"]),
             b"junk\r\n", format_sentence("PGRME", ["1"])]  # fmt: skip
    assert r.select(lines, 0) == lines  # as recorded until told otherwise
    r.receive(pmtk("314", "0", "0", "0", "1", *["0"] * 15))
    assert r.select(lines, 0) == [lines[0], b"junk\r\n", lines[3]]  # types it cannot address pass
    assert all(r.due(ms) for ms in range(0, 1000, 200))
    r.receive(pmtk("220", "1000"))
    assert [ms for ms in range(0, 3000, 200) if r.due(ms)] == [0, 1000, 2000]
    assert nmea.parse(lines[0].rstrip()) is not None


def test_ublox_sends_the_nav_messages_turned_on() -> None:
    """What gpsd does to a u-blox: NMEA off, NAV-PVT and NAV-EOE on; the
    receiver then reports each solution in UBX (simulators/ubxnav.py)."""
    import datetime as dt

    from common.fix import Fix

    receiver = Receiver(Family.UBLOX8)
    time = dt.datetime(2026, 1, 5, 8, 0, 10, tzinfo=dt.UTC)
    fix = Fix(time, 53.2337, -1.4254, alt=88.0, speed=13.0, track=95.0, mode=3, hdop=0.9, sats=9)
    assert receiver.binary(time, fix, 0) == []  # a new receiver sends no UBX NAV
    for msg_id in (0x07, 0x61):
        assert receiver.receive(ubx.encode(ubx.CFG_MSG, bytes((0x01, msg_id, 1))))[0].startswith(b"\xb5\x62\x05\x01")
    frames = [part for data in receiver.binary(time, fix, 0) for part in ubx.UbxReader().feed(data)]
    assert [(f.cls, f.id) for f in frames] == [(0x01, 0x07), (0x01, 0x61)]  # PVT, then end of epoch
    pvt = frames[0].payload
    assert len(pvt) == 92
    itow, year, month, day, hour, minute, second = struct.unpack_from("<IHBBBBB", pvt)
    assert (year, month, day, hour, minute, second) == (2026, 1, 5, 8, 0, 10)
    assert itow == ((time - dt.datetime(1980, 1, 6, tzinfo=dt.UTC)).total_seconds() + 18) % (7 * 86400) * 1000
    fix_type, flags, _, sats, lon, lat, _height, h_msl = struct.unpack_from("<BBBBiiii", pvt, 20)
    assert (fix_type, flags & 1, sats, lat, lon, h_msl) == (3, 1, 9, 532337000, -14254000, 88000)
    assert struct.unpack_from("<i", pvt, 60)[0] == 13000  # ground speed, mm/s
    no_fix = [part for data in receiver.binary(time, None, 0) for part in ubx.UbxReader().feed(data)]
    assert no_fix[0].payload[20] == 0  # fixType: no fix
    # UBX taken out of the port's output protocols: nothing binary.
    prt = struct.pack("<BBHIIHHHH", 1, 0, 0, 0x08D0, 9600, 0x0007, 0x0002, 0, 0)
    receiver.receive(ubx.encode(ubx.CFG_PRT, prt))
    assert receiver.binary(time, fix, 0) == []
    assert Receiver(Family.MTK).binary(time, fix, 0) == []
