"""Replay core: epochs and their stream times from the logs' own UTC times; loops and --now."""

from __future__ import annotations

import datetime as dt
import itertools

from agent.decoder import NmeaDecoder
from agent.formatter import format_fix
from agent.nmea import format_sentence
from common.fix import Fix
from simulators.replay import read_epochs, replay
from simulators.rewrite import move_position, shift_time
from tests.conftest import GPSD_CORPUS

UTC = dt.UTC


def decode(data: bytes) -> list[Fix]:
    decoder = NmeaDecoder(skip_comments=True)
    return decoder.feed(data) + decoder.finish()


def trace(times: list[float], date: dt.datetime = dt.datetime(2026, 3, 1, 23, 59, 58, tzinfo=UTC)) -> bytes:
    return b"".join(
        b"".join(format_fix(Fix(date + dt.timedelta(seconds=t), 53.2, -1.4, alt=90.0, sats=8), precision=_P0))
        for t in times
    )


class _Precision:
    minutes, time, alt, speed, track, hdop = 6, 0, 1, 3, 2, 2


_P0 = _Precision()  # type: ignore[assignment]


def test_offsets_follow_the_log_times() -> None:
    # Crosses midnight after 2 s; 4 and 4.5 print as the same whole second, so
    # the repeated GGA is a new cycle with a frozen time: one fallback interval.
    log = read_epochs(trace([0, 1, 2, 4, 4.5]))
    assert [e.offset_ms for e in log.epochs] == [0, 1000, 2000, 4000, 5000]
    fast = [Fix(dt.datetime(2026, 1, 1, 0, 0, 0, k * 200_000, tzinfo=UTC), 1.0, 2.0) for k in range(4)]
    log = read_epochs(b"".join(b"".join(format_fix(f)) for f in fast))
    assert [e.offset_ms for e in log.epochs] == [0, 200, 400, 600]
    assert log.interval_ms == 200


def test_long_gaps_and_untimed_logs_use_the_fallback() -> None:
    log = read_epochs(trace([0, 1, 3600, 3601]), max_gap_ms=30_000, fallback_interval_ms=1000)
    assert [e.offset_ms for e in log.epochs] == [0, 1000, 2000, 3000]
    untimed = (format_sentence("GPVTG", ["", "T", "", "M", "0.0", "N", "0.0", "K", "A"]) + b"junk\r\n") * 3
    assert [e.offset_ms for e in read_epochs(untimed, fallback_interval_ms=500).epochs] == [0, 500, 1000]


def test_bytes_are_kept_and_comments_dropped() -> None:
    data = b"# a comment\n" + trace([0, 1]) + b"garbage\xff\n"
    log = read_epochs(data)
    assert b"".join(e.data for e in log.epochs) == data[len(b"# a comment\n") :]
    clean = read_epochs(data, clean=True)
    assert b"garbage" not in b"".join(e.data for e in clean.epochs)


def test_every_corpus_log_keeps_its_fixes_and_times_increase() -> None:
    for path in sorted(GPSD_CORPUS.glob("*.log")):
        data = path.read_bytes()
        log = read_epochs(data)
        assert decode(b"".join(e.data for e in log.epochs)) == decode(data), path.name
        offsets = [e.offset_ms for e in log.epochs]
        assert offsets == sorted(offsets), path.name


def test_loop_moves_times_and_dates_forward() -> None:
    log = read_epochs(trace([0, 1, 2]))
    played = list(itertools.islice(replay(log, loop=True), 9))
    assert [e.offset_ms for e in played] == [k * 1000 for k in range(9)]
    fixes = decode(b"".join(e.data for e in played))
    times = [f.time for f in fixes]
    assert times == [dt.datetime(2026, 3, 1, 23, 59, 58, tzinfo=UTC) + dt.timedelta(seconds=k) for k in range(9)]


def test_select_and_shift() -> None:
    log = read_epochs(trace([0, 1, 2, 3, 4]))
    part = list(replay(log, start_epoch=2, count=2, shift=dt.timedelta(days=10)))
    assert [e.offset_ms for e in part] == [0, 1000]
    fixes = decode(b"".join(e.data for e in part))
    assert [f.time for f in fixes] == [dt.datetime(2026, 3, 12, 0, 0, 0, tzinfo=UTC),
                                       dt.datetime(2026, 3, 12, 0, 0, 1, tzinfo=UTC)]  # fmt: skip
    start = log.start_time()
    assert start == dt.datetime(2026, 3, 1, 23, 59, 58, tzinfo=UTC)


def test_rewrite_keeps_what_it_does_not_change() -> None:
    fields = ["235959.50", "A", "5314.1000", "N", "00125.2000", "W", "10.0", "90.0", "010326", "", "", "A"]
    rmc = format_sentence("GPRMC", fields)
    moved = shift_time(rmc, dt.timedelta(seconds=1))
    assert b"000000.50" in moved and b",020326," in moved and moved.endswith(b"\r\n")
    assert shift_time(b"junk\n", dt.timedelta(seconds=1)) == b"junk\n"
    jumped = move_position(rmc, 0.01, 0.0)
    assert b"5314.7000,N" in jumped and b"00125.2000,W" in jumped
    (fix,) = decode(jumped)
    assert (round(fix.lat, 6), round(fix.lon, 6)) == (round(53 + 14.7 / 60, 6), round(-(1 + 25.2 / 60), 6))
