"""Receiver configuration core: the bytes of each step, the answers, what the output shows."""

from __future__ import annotations

import datetime as dt

import pytest

from agent import ubx
from agent.formatter import format_fix
from agent.nmea import format_sentence
from agent.receiver.messages import Answer, PmtkAck, UbxAck, answer_to, build_steps, parse_pmtk001, probe_commands
from agent.receiver.observe import Observer, identify, verify
from agent.receiver.profile import Family, load_profile
from agent.receiver.report import format_step
from agent.receiver.session import StepResult
from common.fix import Fix
from simulators.receiver import Family as SimFamily
from simulators.receiver import Receiver

T0 = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)


def test_known_bytes() -> None:
    m8 = {s.command: s.data for s in build_steps(load_profile("ublox-m8"))}
    # The 5 Hz CFG-RATE every u-blox application note prints.
    assert m8["CFG-RATE measRate=200 ms navRate=1"] == bytes.fromhex("b56206080600c800010001 00de6a".replace(" ", ""))
    assert m8["CFG-MSG F0 01 rate 0"] == bytes.fromhex("b56206010300f00100fb11")  # GLL off
    mtk = {s.what: s.data for s in build_steps(load_profile("mtk-l76"))}
    assert mtk["rate 5 Hz"] == b"$PMTK220,200*2C\r\n"  # MediaTek's own example
    assert mtk["sentences GGA,RMC,GSA"] == b"$PMTK314,0,1,0,1,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0*29\r\n"
    assert probe_commands() == ubx.encode(ubx.MON_VER) + b"$PMTK605*31\r\n"


def test_speed_change_is_last_but_a_save() -> None:
    for name in ("ublox-m8", "ublox-m9", "mtk-l76"):
        steps = build_steps(load_profile(name))
        changes = [i for i, s in enumerate(steps) if s.new_baud]
        assert changes and steps[changes[0]].new_baud == 38400
        assert all(s.what == "save" for s in steps[changes[0] + 1 :])


def test_answers() -> None:
    rate = UbxAck((0x06, 0x08))
    assert answer_to(rate, ubx.UbxFrame(0x05, 0x01, b"\x06\x08")).answer is Answer.ACK  # type: ignore[union-attr]
    assert answer_to(rate, ubx.UbxFrame(0x05, 0x00, b"\x06\x08")).answer is Answer.NAK  # type: ignore[union-attr]
    assert answer_to(rate, ubx.UbxFrame(0x05, 0x01, b"\x06\x01")) is None  # about another message
    assert answer_to(rate, ("PMTK001", ("220", "3"))) is None
    interval = PmtkAck("220")
    assert answer_to(interval, ("PMTK001", ("220", "3"))).answer is Answer.ACK  # type: ignore[union-attr]
    assert answer_to(interval, ("PMTK001", ("220", "0"))).answer is Answer.GARBLED  # type: ignore[union-attr]
    assert answer_to(interval, ("PMTK001", ("220", "2"))).text == "PMTK001 flag 2 (valid but failed)"  # type: ignore[union-attr]
    assert answer_to(interval, ("PMTK001", ("314", "3"))) is None
    assert answer_to(interval, ubx.UbxFrame(0x05, 0x01, b"\x06\x08")) is None
    assert parse_pmtk001("PMTK001", ["251", "x"]) is None and parse_pmtk001("GPGGA", []) is None


def stream(kinds: tuple[str, ...], interval_ms: int, n: int) -> bytes:
    fixes = [Fix(T0 + dt.timedelta(milliseconds=i * interval_ms), 53.2, -1.4, 90.0, 10.0, 30.0, 3, 1.0, 9)
             for i in range(n)]  # fmt: skip
    return b"".join(b"".join(format_fix(f, sentences=kinds)) for f in fixes)


def test_observer_measures_rate_and_sentences_from_receiver_time() -> None:
    obs = Observer()
    data = b"\x00garbage" + stream(("RMC", "VTG", "GGA", "GSA"), 200, 8)
    for i in range(0, len(data), 7):  # any chunking, all at one arrival time: receiver time counts
        obs.feed(data[i : i + 7], now=5.0)
    assert obs.interval_ms() == 200 and obs.sentence_set() == {"RMC", "VTG", "GGA", "GSA"}
    profile = load_profile("ublox-m8")
    checks = {c.what: c for c in verify(profile, obs)}
    assert checks["rate"].ok
    assert not checks["sentences"].ok and "still sent VTG" in checks["sentences"].detail
    slow = Observer()
    slow.feed(stream(("GGA", "RMC", "GSA"), 1000, 6), now=0.0)
    checks = {c.what: c for c in verify(profile, slow)}
    assert not checks["rate"].ok and "1.0 Hz measured" in checks["rate"].detail and checks["sentences"].ok


def test_observer_without_times_uses_arrivals() -> None:
    obs = Observer()
    for i in range(6):
        obs.feed(format_sentence("GPGGA", [""] * 14) + format_sentence("GPGSA", ["A", "1"] + [""] * 15), now=i * 0.5)
    assert obs.interval_ms() == pytest.approx(500)


@pytest.mark.parametrize(
    ("family", "expected", "label"),
    [(SimFamily.UBLOX8, Family.UBLOX8, "u-blox NEO-M8N-0 (PROTVER 18.00"),
     (SimFamily.UBLOX9, Family.UBLOX9, "u-blox NEO-M9N-00B (PROTVER 32.01"),
     (SimFamily.MTK, Family.MTK, "MediaTek PA6H (firmware AXN_2.31_3339_13101700)")],
)  # fmt: skip
def test_identify_from_probe_answers(family: SimFamily, expected: Family, label: str) -> None:
    obs = Observer()
    obs.feed(b"".join(Receiver(family).receive(probe_commands())), now=0.0)
    identity = identify(obs)
    assert identity is not None and identity.family is expected and identity.label.startswith(label)


def test_identify_plain_nmea_and_silence() -> None:
    obs = Observer()
    assert identify(obs) is None
    obs.feed(b"\xff" * 300, now=0.0)
    assert obs.garbage() and identify(obs) is None
    obs.feed(stream(("GGA", "RMC"), 1000, 2), now=0.0)
    identity = identify(obs)
    assert identity is not None and identity.family is None
    hinted = Observer()
    hinted.feed(format_sentence("PMTK011", ["MTKGPS"]) + stream(("GGA",), 1000, 2), now=0.0)
    assert identify(hinted).family is Family.MTK  # type: ignore[union-attr]


def test_step_lines() -> None:
    steps = build_steps(load_profile("mtk-l76"))
    rate, speed = steps[1], steps[-1]
    assert format_step(StepResult(rate, None, 3, 3000.0)).startswith("✗ rate 5 Hz ")
    assert format_step(StepResult(rate, None, 3, 3000.0)).endswith("no answer in 3.0 s (3 tries)")
    line = format_step(StepResult(speed, None, 1, 1000.0))
    assert line.startswith("✓ baud 38400") and "now at 38400 baud" in line
    skipped = format_step(StepResult(rate, None, 0, 0.0, skipped=True))
    assert skipped.startswith("✗ ") and skipped.endswith("skipped (the receiver stopped answering)")
