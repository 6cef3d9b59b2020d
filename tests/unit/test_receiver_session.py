"""The apply/detect shell against an emulated receiver behind a fake port (no pty, real clock).

The port answers writes through the simulators' receiver emulation and sends
an epoch of NMEA whenever one falls due at the receiver's current rate, so
timeouts, retries, NAKs, speed changes and the verification are exercised in
milliseconds. The same code runs over a real pty in
tests/integration/test_receiver_commands.py.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pytest

from agent.formatter import format_fix
from agent.receiver.messages import Answer
from agent.receiver.profile import ReceiverError, load_profile
from agent.receiver.report import format_summary
from agent.receiver.session import ReceiverLink, apply_profile, detect
from common.fix import Fix
from simulators.receiver import Family, Receiver, nmea_types

T0 = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
DEFAULT = ("GGA", "GLL", "GSA", "GSV", "RMC", "VTG")


class FakePort:
    """pyserial's interface as the session uses it; ``baud`` is the receiver's real speed:
    read at another one, everything arrives as noise."""

    def __init__(self, family: Family, *, baud: int = 9600, mangle: Callable[[bytes], bytes | None] | None = None):
        self.receiver = Receiver(family, outputs=nmea_types(("GGA", "GSA", "RMC", "VTG")))
        self.receiver.state.baud = baud
        self.baudrate = 9600
        self.timeout = 0.01
        self.mangle = mangle or (lambda reply: reply)
        self.pending = b""
        self.cycle = 0
        self.next_due = time.monotonic()
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.writes.append(data)
        if self.baudrate != self.receiver.state.baud:
            return len(data)  # the receiver hears noise
        for reply in self.receiver.receive(data):
            changed = self.mangle(reply)
            if changed:
                self.pending += changed
        return len(data)

    def _epochs(self) -> None:
        now = time.monotonic()
        while self.next_due <= now:
            state = self.receiver.state
            fix = Fix(T0 + dt.timedelta(milliseconds=self.cycle * state.interval_ms), 53.2, -1.4, 90.0, 10.0, 30.0,
                      3, 1.0, 9)  # fmt: skip
            self.pending += b"".join(format_fix(fix, sentences=self.receiver.sentence_types(DEFAULT, self.cycle)))
            self.cycle += 1
            self.next_due += state.interval_ms / 1000

    def read(self, n: int) -> bytes:
        self._epochs()
        if not self.pending:
            time.sleep(self.timeout)
            self._epochs()
        data, self.pending = self.pending[:n], self.pending[n:]
        if self.baudrate != self.receiver.state.baud:
            return bytes(b | 0x80 for b in data)  # framing at the wrong speed: no valid sentence survives
        return data

    @property
    def in_waiting(self) -> int:
        return len(self.pending)

    def flush(self) -> None:
        pass

    def reset_input_buffer(self) -> None:
        self.pending = b""

    def close(self) -> None:
        pass


def test_apply_mtk_through_a_speed_change() -> None:
    port = FakePort(Family.MTK)
    results, checks = apply_profile(ReceiverLink("fake", port), load_profile("mtk-l76"), timeout=0.3)
    assert [r.outcome.answer for r in results[:4] if r.outcome] == [Answer.ACK] * 4
    # The answer to $PMTK251 goes out at the old speed while we listen at the new one: lost, as on a real module.
    assert results[4].step.new_baud == 38400 and results[4].outcome is None
    assert all(r.ok and r.attempts == 1 for r in results)
    assert port.baudrate == port.receiver.state.baud == 38400
    assert port.receiver.state.interval_ms == 200 and port.receiver.state.sbas
    assert all(c.ok for c in checks), checks


def test_detect_scans_bauds() -> None:
    port = FakePort(Family.UBLOX9, baud=115200)
    detected = detect(ReceiverLink("fake", port))
    assert detected.baud == 115200 and detected.identity.family and detected.identity.family.value == "ublox9"
    with pytest.raises(ReceiverError, match=r"no valid NMEA or receiver answer at 9600, 4800 baud"):
        detect(ReceiverLink("fake", FakePort(Family.MTK, baud=38400)), [9600, 4800])


def test_lost_answer_is_sent_again() -> None:
    dropped = []

    def drop_first_rate_ack(reply: bytes) -> bytes | None:
        if reply.startswith(b"$PMTK001,220") and not dropped:
            dropped.append(reply)
            return None
        return reply

    port = FakePort(Family.MTK, mangle=drop_first_rate_ack)
    results, _ = apply_profile(ReceiverLink("fake", port), load_profile("mtk-l76"), timeout=0.2, verify_s=0.0)
    rate = next(r for r in results if r.step.what == "rate 5 Hz")
    assert dropped and rate.ok and rate.attempts == 2


def test_nak_fails_the_step_and_the_rest_still_go() -> None:
    def nak_rate(reply: bytes) -> bytes:
        if reply[2:4] == b"\x05\x01" and reply[6:8] == b"\x06\x08":  # ACK-ACK for CFG-RATE -> ACK-NAK
            from agent import ubx

            return ubx.encode(ubx.ACK_NAK, b"\x06\x08")
        return reply

    port = FakePort(Family.UBLOX8, mangle=nak_rate)
    results, checks = apply_profile(ReceiverLink("fake", port), load_profile("ublox-m8"), timeout=0.2)
    failed = [r for r in results if not r.ok]
    assert [r.step.what for r in failed] == ["rate 5 Hz"] and failed[0].attempts == 1  # a NAK is not retried
    assert results[-1].step.what == "save" and results[-1].ok
    assert format_summary(load_profile("ublox-m8"), results, checks) == "FAILED: 1 of 10 steps failed"


def test_silent_receiver_stops_after_one_timeout() -> None:
    port = FakePort(Family.UBLOX8, mangle=lambda reply: None if reply.startswith(b"\xb5\x62\x05") else reply)
    started = time.monotonic()
    results, _ = apply_profile(ReceiverLink("fake", port), load_profile("ublox-m8"), timeout=0.1, retries=1,
                               verify_s=0.0)  # fmt: skip
    assert results[0].outcome is None and results[0].attempts == 2
    assert all(r.skipped for r in results[1:])
    assert time.monotonic() - started < 2.5


def test_wrong_family_is_refused_before_sending() -> None:
    port = FakePort(Family.MTK)
    refusal = r"profile ublox-m8 is for ublox8 receivers, this one is MediaTek .*: use mtk-l76"
    with pytest.raises(ReceiverError, match=refusal):
        apply_profile(ReceiverLink("fake", port), load_profile("ublox-m8"))
    assert not any(w.startswith(b"\xb5\x62\x06") for w in port.writes)
    m8 = FakePort(Family.UBLOX8)
    with pytest.raises(ReceiverError, match=r"uses CFG-VALSET .* use ublox-m8"):
        apply_profile(ReceiverLink("fake", m8), load_profile("ublox-m9"))
