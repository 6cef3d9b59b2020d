"""UBX frames: checksum, encode, the streaming reader, CFG-VALSET payloads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent import ubx

# CFG-RATE 1 Hz, as printed in u-blox's own examples (u-center "Messages" view).
CFG_RATE_1HZ = bytes.fromhex("b562060806 00e803 0100 0100 0139".replace(" ", ""))
MON_VER_POLL = bytes.fromhex("b5620a0400000e34")


def test_known_frames() -> None:
    assert ubx.encode(ubx.CFG_RATE, bytes.fromhex("e80301000100")) == CFG_RATE_1HZ
    assert ubx.encode(ubx.MON_VER) == MON_VER_POLL
    assert ubx.checksum(bytes.fromhex("0a040000")) == bytes.fromhex("0e34")


def test_reader_splits_frames_from_text() -> None:
    reader = ubx.UbxReader()
    stream = b"$GPGGA,1*00\r\n" + CFG_RATE_1HZ + b"tail" + MON_VER_POLL
    out = reader.feed(stream)
    assert out == [
        b"$GPGGA,1*00\r\n",
        ubx.UbxFrame(0x06, 0x08, bytes.fromhex("e80301000100")),
        b"tail",
        ubx.UbxFrame(0x0A, 0x04, b""),
    ]
    assert reader.buffered == 0


def test_reader_passes_bad_frames_on_as_bytes() -> None:
    reader = ubx.UbxReader()
    bad = CFG_RATE_1HZ[:-1] + b"\x00"
    out = reader.feed(bad + b"\n")
    assert b"".join(p for p in out if isinstance(p, bytes)) == bad + b"\n"
    assert reader.bad_checksum == 1


@given(st.lists(st.integers(1, 40), max_size=30))
def test_reader_chunking_does_not_matter(cuts: list[int]) -> None:
    stream = b"junk" + CFG_RATE_1HZ + b"$PMTK000*32\r\n" + MON_VER_POLL + b"\xb5" + CFG_RATE_1HZ
    whole = ubx.UbxReader().feed(stream)
    reader = ubx.UbxReader()
    parts: list[ubx.UbxFrame | bytes] = []
    i = 0
    for cut in cuts:
        parts.extend(reader.feed(stream[i : i + cut]))
        i += cut
    parts.extend(reader.feed(stream[i:]))
    frames = [p for p in parts if isinstance(p, ubx.UbxFrame)]
    assert frames == [p for p in whole if isinstance(p, ubx.UbxFrame)]
    assert b"".join(p for p in parts if isinstance(p, bytes)) == b"".join(p for p in whole if isinstance(p, bytes))


@given(st.binary(max_size=300))
def test_reader_never_raises_and_loses_nothing(data: bytes) -> None:
    reader = ubx.UbxReader()
    out = reader.feed(data)
    text = b"".join(p if isinstance(p, bytes) else p.encode() for p in out)
    assert text + reader._buf == data


def test_valset_round_trip_and_key_sizes() -> None:
    values = [(ubx.KEYS["CFG-RATE-MEAS"], 200), (ubx.KEYS["CFG-MSGOUT-NMEA_ID_GSV_UART1"], 0),
              (ubx.KEYS["CFG-UART1-BAUDRATE"], 115200), (ubx.KEYS["CFG-SIGNAL-SBAS_ENA"], 1)]  # fmt: skip
    payload = ubx.encode_valset(values, layers=0x03)
    assert len(payload) == 4 + (4 + 2) + (4 + 1) + (4 + 4) + (4 + 1)
    assert ubx.decode_valset(payload) == (0x03, values)
    with pytest.raises(ubx.UbxError):
        ubx.decode_valset(payload[:-1])
    with pytest.raises(ubx.UbxError):
        ubx.key_size(0x70000001)


def test_mon_ver_parse() -> None:
    payload = b"ROM CORE 3.01 (107888)".ljust(30, b"\0") + b"00080000".ljust(10, b"\0")
    payload += b"PROTVER=18.00".ljust(30, b"\0")
    assert ubx.parse_mon_ver(payload) == ("ROM CORE 3.01 (107888)", "00080000", ("PROTVER=18.00",))
    with pytest.raises(ubx.UbxError):
        ubx.parse_mon_ver(payload[:-1])
