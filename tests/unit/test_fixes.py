from __future__ import annotations

import datetime as dt

import pytest

from agent import nmea
from agent.decoder import NmeaDecoder
from agent.fixes import FixAssembler
from agent.formatter import format_fix, format_no_fix
from common.fix import Fix, InvalidFixError, format_time, parse_time

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 28, 9, 30, 0, tzinfo=UTC)


def fix_at(time: dt.datetime, **kw: object) -> Fix:
    args: dict[str, object] = {"lat": 53.235, "lon": -1.421, "alt": 90.0, "speed": 5.0, "track": 45.0,
                               "mode": 3, "hdop": 0.9, "sats": 9}  # fmt: skip
    args.update(kw)
    return Fix(time, **args)  # type: ignore[arg-type]


def decode(*lines: bytes, **kw: object) -> list[Fix]:
    decoder = NmeaDecoder(**kw)  # type: ignore[arg-type]
    return decoder.feed(b"".join(lines)) + decoder.finish()


def body(line: bytes) -> str:
    return line[1 : line.index(b"*")].decode()


def resign(text: str) -> bytes:
    return nmea.format_sentence(text.split(",")[0], text.split(",")[1:])


def test_one_fix_per_epoch() -> None:
    fixes = [fix_at(T0 + dt.timedelta(seconds=i)) for i in range(5)]
    lines = [s for f in fixes for s in format_fix(f, sentences=("GGA", "GSA", "RMC", "VTG"))]
    assert decode(*lines) == fixes


def test_rmc_void_is_not_a_fix() -> None:
    good = format_fix(fix_at(T0), sentences=("GGA", "RMC"))
    void_rmc = resign(body(good[1]).replace(",A,", ",V,", 1))
    assert decode(good[0], void_rmc) == []


def test_gga_quality_zero_is_not_a_fix() -> None:
    gga = format_fix(fix_at(T0), sentences=("GGA",), quality=0)
    assert decode(*gga) == []
    zda = format_fix(fix_at(T0), sentences=("ZDA",))
    assert decode(gga[0], zda[0]) == []
    assert len(decode(format_fix(fix_at(T0), sentences=("GGA",))[0], zda[0])) == 1


def test_fewer_than_three_satellites_is_not_a_fix() -> None:
    for sats, expected in ((2, 0), (3, 1)):
        lines = format_fix(fix_at(T0, sats=sats), sentences=("GGA", "ZDA"))
        assert len(decode(*lines)) == expected, sats


def test_frozen_gga_timestamp_is_not_a_fix() -> None:
    first = format_fix(fix_at(T0), sentences=("GGA", "ZDA"))
    stuck = format_fix(fix_at(T0 + dt.timedelta(seconds=1)), sentences=("GGA", "ZDA"))
    # The receiver froze: its second epoch repeats the GGA time.
    fixes = decode(*first, *stuck, stuck[0], stuck[0], *format_fix(fix_at(T0 + dt.timedelta(seconds=2))))
    assert [f.time for f in fixes] == [T0, T0 + dt.timedelta(seconds=2)]


def test_position_out_of_range_is_not_a_fix() -> None:
    line = resign("GPGGA,093000.000,9130.0,N,00125.0,W,1,08,0.9,90.0,M,,,,")
    zda = format_fix(fix_at(T0), sentences=("ZDA",))[0]
    assert decode(line, zda) == []


def test_no_fix_epochs_from_the_formatter_decode_to_nothing() -> None:
    lines = [s for i in range(3) for s in format_no_fix(T0 + dt.timedelta(seconds=i))]
    assert decode(*lines) == []


def test_date_comes_from_zda_when_there_is_no_rmc() -> None:
    fix = fix_at(T0, speed=None, track=None)
    assert decode(*format_fix(fix, sentences=("GGA", "GSA", "ZDA"))) == [fix]


def test_no_date_no_fix_until_rmc_or_zda() -> None:
    gga_only = [format_fix(fix_at(T0 + dt.timedelta(seconds=i)), sentences=("GGA",))[0] for i in range(3)]
    assert decode(*gga_only) == []


def test_midnight_rollover_between_gga_time_and_last_date() -> None:
    before = dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    # RMC only at 23:59:59, then GGA-only epochs after midnight.
    lines = list(format_fix(fix_at(before), sentences=("GGA", "RMC")))
    for s in (1, 2):
        lines += format_fix(fix_at(before + dt.timedelta(seconds=s)), sentences=("GGA",))
    times = [f.time for f in decode(*lines)]
    assert times == [before, dt.datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC), dt.datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC)]


def test_week_rollover_correction_is_configurable() -> None:
    victim = dt.datetime(1999, 8, 22, 12, 0, 0, tzinfo=UTC)  # what a 2019 receiver said
    lines = format_fix(fix_at(victim), sentences=("GGA", "RMC"))
    assert decode(*lines)[0].time == victim  # default: dates as sent
    corrected = decode(*lines, week_rollover_reference=dt.date(2019, 1, 1))[0].time
    assert corrected == victim + dt.timedelta(weeks=1024) == dt.datetime(2019, 4, 7, 12, 0, tzinfo=UTC)
    # A date after the reference is left alone.
    assert decode(*lines, week_rollover_reference=dt.date(1999, 1, 1))[0].time == victim
    # Two eras: a 1999 date seen in 2039.
    two_eras = decode(*lines, week_rollover_reference=dt.date(2038, 11, 1))[0].time
    assert two_eras == victim + dt.timedelta(weeks=2048)


def test_speed_and_track_fall_back_to_vtg() -> None:
    fix = fix_at(T0)
    lines = format_fix(fix, sentences=("GGA", "VTG", "ZDA"))
    assert decode(*lines) == [fix]


def test_mode_from_gsa_else_from_altitude_and_satellites() -> None:
    fix2d = fix_at(T0, mode=2)
    assert decode(*format_fix(fix2d, sentences=("GGA", "GSA", "RMC")))[0].mode == 2
    assert decode(*format_fix(fix2d, sentences=("GGA", "RMC")))[0].mode == 3  # alt + 9 sats
    assert decode(*format_fix(fix_at(T0, alt=None), sentences=("RMC",)))[0].mode == 2


def test_learned_cycle_end_emits_without_waiting_for_the_next_epoch() -> None:
    assembler = FixAssembler()
    emitted_after: list[str] = []
    for i in range(6):
        for line in format_fix(fix_at(T0 + dt.timedelta(seconds=i)), sentences=("GGA", "GSA", "RMC")):
            sentence = nmea.parse(line.rstrip(b"\r\n"))
            if assembler.feed(sentence):
                emitted_after.append(f"{i}:{type(sentence).__name__}")
    # Until the cycle is learned (3 epochs closed by RMC), a fix waits for
    # the next epoch's GGA; from then on it leaves with its own RMC.
    assert emitted_after == ["1:GGA", "2:GGA", "3:GGA", "3:RMC", "4:RMC", "5:RMC"]
    assert [f.time for f in assembler.flush()] == []


def test_fix_json_round_trip_and_absent_fields() -> None:
    fix = Fix(T0.replace(microsecond=123000), 53.1, -1.2, mode=2)
    assert fix.to_json() == '{"time":"2026-11-28T09:30:00.123Z","lat":53.1,"lon":-1.2,"mode":2}'
    assert Fix.from_json(fix.to_json()) == fix
    full = fix_at(T0)
    assert Fix.from_dict(full.to_dict()) == full
    assert Fix.from_dict({**full.to_dict(), "v": 1, "unit": "x", "seq": 3}) == full


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"lat": 1, "lon": 2},
        {"time": "2026-11-28T09:30:00Z", "lat": 91, "lon": 0},
        {"time": "2026-11-28T09:30:00Z", "lat": "1", "lon": 0},
        {"time": "2026-11-28T09:30:00Z", "lat": True, "lon": 0},
        {"time": "2026-11-28T09:30:00Z", "lat": float("nan"), "lon": 0},
        {"time": "2026-11-28 09:30", "lat": 1, "lon": 0},
        {"time": "2026-11-28T09:30:00+01:00", "lat": 1, "lon": 0},
        {"time": "2026-11-28T09:30:00Z", "lat": 1, "lon": 0, "mode": 1},
        {"time": "2026-11-28T09:30:00Z", "lat": 1, "lon": 0, "speed": -1},
        {"time": "2026-11-28T09:30:00Z", "lat": 1, "lon": 0, "sats": 2.5},
        {"time": "2026-11-28T09:30:00Z", "lat": 1, "lon": 0, "track": 361},
    ],
)
def test_invalid_fix_objects_are_rejected(obj: object) -> None:
    with pytest.raises(InvalidFixError):
        Fix.from_dict(obj)


def test_from_json_rejects_non_json() -> None:
    with pytest.raises(InvalidFixError):
        Fix.from_json("{not json")
    with pytest.raises(InvalidFixError):
        Fix.from_json("[" * 100_000)


def test_time_format() -> None:
    assert format_time(dt.datetime(2019, 4, 6, 12, 0, 1, 999999, tzinfo=UTC)) == "2019-04-06T12:00:01.999Z"
    assert parse_time("2019-04-06T12:00:01.000Z") == dt.datetime(2019, 4, 6, 12, 0, 1, tzinfo=UTC)
    assert parse_time("2019-04-06T12:00:01+00:00") == dt.datetime(2019, 4, 6, 12, 0, 1, tzinfo=UTC)


def gsv(part: int, parts: int) -> bytes:
    return nmea.format_sentence("GPGSV", [str(parts), str(part), "06", "01", "37", "122", ""])


def test_multi_part_gsv_ends_the_cycle_with_its_last_part() -> None:
    """The Quectel pattern (tests/data/gpsd/quectel.log): GGA VTG RMC GSA GSV 1/2
    GSV 2/2 each second. The cycle end learned is the last GSV part, so a fix
    goes out at it, and the receiver's time-less no-fix GGA and RMC after
    the last fix do not void it."""
    decoder = NmeaDecoder()
    emitted_after: list[str] = []
    for i in range(6):
        cycle = format_fix(fix_at(T0 + dt.timedelta(seconds=i)), sentences=("GGA", "VTG", "RMC", "GSA"))
        for line in [*cycle, gsv(1, 2), gsv(2, 2)]:
            if decoder.feed(line):
                emitted_after.append(f"{i}:{line[3:6].decode()}{line[9:10].decode() if b'GSV' in line else ''}")
    # Learned after three cycles closed by GSV 2/2; never unlearned by a part.
    assert emitted_after == ["1:GGA", "2:GGA", "3:GGA", "3:GSV2", "4:GSV2", "5:GSV2"]
    no_fix = [b"$GPVTG,,T,,M,,N,,K,N*2C\r\n", b"$GPGGA,,,,,,0,,,,,,,,*66\r\n", b"$GPRMC,,V,,,,,,,,,,N*53\r\n"]
    assert decoder.feed(b"".join(no_fix) + gsv(1, 2) + gsv(2, 2)) == []
    assert decoder.finish() == []
    assert decoder.stats.assembly.fixes == 6


def test_epoch_with_disagreeing_sentences_takes_the_last_position() -> None:
    """The chartplotter pattern (tests/data/gpsd/bundg_zeus_9.log): one second's
    RMC holds the previous position, its GGA the new one. gpsd's state, and
    our fix, hold the epoch's last position."""
    old, new = fix_at(T0, lat=52.8501), fix_at(T0, lat=52.8502)
    rmc = format_fix(old, sentences=("RMC",))[0]
    gga = format_fix(new, sentences=("GGA",))[0]
    assert [f.lat for f in decode(rmc, gga)] == [52.8502]
    assert [f.lat for f in decode(gga, rmc)] == [52.8501]


def test_missed_epochs_and_duplicates_are_counted() -> None:
    """What a flaky link does: whole epochs lost (a 1 Hz receiver's seconds 3-5),
    and sentences sent twice."""
    seconds = [0, 1, 2, 6, 7]
    lines = [s for i in seconds for s in format_fix(fix_at(T0 + dt.timedelta(seconds=i)), sentences=("GGA", "RMC"))]
    decoder = NmeaDecoder()
    decoder.feed(b"".join(lines[:3] + lines[2:]))  # the second GGA twice
    decoder.finish()
    assert decoder.stats.assembly.missed == 3 and decoder.stats.duplicates == 1
    clean = NmeaDecoder()
    clean.feed(b"".join(s for i in range(6) for s in format_fix(fix_at(T0 + dt.timedelta(seconds=i)))))
    assert clean.stats.assembly.missed == 0 and clean.stats.duplicates == 0
