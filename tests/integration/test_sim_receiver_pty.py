"""Receiver emulation end to end: commands written to the pty change what comes out."""

from __future__ import annotations

import itertools
import struct
import time
from pathlib import Path

import pytest

from agent import ubx
from agent.nmea import format_sentence
from tests.integration.sim_helpers import PtyReader, sim_process

pytestmark = pytest.mark.integration


def test_mtk_rate_and_sentences_on_a_live_drive(tmp_path: Path) -> None:
    device = tmp_path / "gps0"
    with sim_process("drive", "--pty", str(device), "--receiver", "mtk", "--start", "now", "--seed", "2", "-v"):
        reader = PtyReader(device, write=format_sentence("PMTK605", [])).start()
        assert reader.wait_for(2, timeout=10)
        assert b"$PMTK705,AXN_2.31_3339_13101700,5632,PA6H,1.0*" in reader.received  # family detection
        select = ["0", "1", "0", "1"] + ["0"] * 15  # RMC and GGA only
        reader.send(format_sentence("PMTK220", ["200"]) + format_sentence("PMTK314", select))
        deadline = time.monotonic() + 10
        while b"$PMTK001,314,3*" not in reader.received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert b"$PMTK001,220,3*" in reader.received and b"$PMTK001,314,3*" in reader.received
        mark = len(reader.received)
        n = len(reader.fixes)
        assert reader.wait_for(n + 15, timeout=10)
        reader.stop()
    after = bytes(reader.received[mark:])
    # The epoch made before the command arrived may still be on its way; from the next one on:
    later = after[after.index(b"$GPGGA", after.index(b"$GPGGA") + 1) :]
    assert b"$GPRMC" in later and b"GPGSA" not in later and b"GPVTG" not in later
    recent = reader.fixes[n + 2 : n + 15]
    gaps = {round((b.time - a.time).total_seconds(), 3) for a, b in itertools.pairwise(recent)}
    assert gaps == {0.2}, gaps


def test_ublox9_valset_and_mon_ver(tmp_path: Path) -> None:
    device = tmp_path / "gps0"
    with sim_process("drive", "--pty", str(device), "--receiver", "ublox9", "--start", "now"):
        reader = PtyReader(device, write=ubx.encode(ubx.MON_VER)).start()
        assert reader.wait_for(2, timeout=10)
        k = ubx.KEYS
        valset = ubx.encode(ubx.CFG_VALSET, ubx.encode_valset([(k["CFG-RATE-MEAS"], 500),
                                                               (k["CFG-MSGOUT-NMEA_ID_GSA_UART1"], 0)]))  # fmt: skip
        reader.send(valset)
        n = len(reader.fixes)
        assert reader.wait_for(n + 8, timeout=10)
        reader.stop()
    frames = [p for p in ubx.UbxReader().feed(bytes(reader.received)) if isinstance(p, ubx.UbxFrame)]
    assert any(f.message == ubx.MON_VER and b"MOD=NEO-M9N" in f.payload for f in frames)
    assert ubx.UbxFrame(0x05, 0x01, bytes((0x06, 0x8A))) in frames  # ACK-ACK for CFG-VALSET
    recent = reader.fixes[n + 2 : n + 8]
    assert {round((b.time - a.time).total_seconds(), 3) for a, b in itertools.pairwise(recent)} == {0.5}
    assert struct.calcsize("<I") == 4
