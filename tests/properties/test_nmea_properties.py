"""Properties of the receive path: round trips, totality, chunking, corruption."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from agent import nmea
from agent.decoder import NmeaDecoder
from agent.formatter import format_fix
from common.fix import Fix
from tests.conftest import GPSD_CORPUS
from tests.strategies import fixes

SENTENCE_SETS = st.sampled_from(
    [
        ("GGA", "GSA", "RMC", "VTG"),
        ("RMC", "VTG", "GGA", "GSA", "GLL"),
        ("GNS", "GSA", "RMC"),
        ("GGA", "GSA", "ZDA", "VTG"),
    ]
)
TALKERS = st.sampled_from(["GP", "GN", "GL", "GA", "BD", "IN"])


def decode(data: bytes, cuts: list[int] | None = None) -> list[Fix]:
    decoder = NmeaDecoder()
    out: list[Fix] = []
    bounds = [0, *sorted(cuts or []), len(data)]
    for start, end in itertools.pairwise(bounds):
        out.extend(decoder.feed(data[start:end]))
    return out + decoder.finish()


def assert_close(got: Fix, want: Fix) -> None:
    """Equal within what the formatter prints (6-decimal minutes, 1-decimal
    altitude, 3-decimal knots, 2-decimal track and HDOP)."""
    assert got.time == want.time
    assert abs(got.lat - want.lat) <= 1e-8 and abs(got.lon - want.lon) <= 1e-8
    for name, tolerance in (("alt", 0.051), ("speed", 0.001), ("track", 0.0051), ("hdop", 0.0051)):
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert abs(a - b) <= tolerance, (name, a, b)
    assert got.sats == want.sats


@given(st.lists(fixes(), min_size=1, max_size=5), SENTENCE_SETS, TALKERS)
def test_format_then_parse_round_trip(fs: list[Fix], sentences: tuple[str, ...], talker: str) -> None:
    # One fix per epoch, one second apart, as a receiver would send them.
    fs = [dataclasses.replace(f, time=fs[0].time + dt.timedelta(seconds=i)) for i, f in enumerate(fs)]
    assume(fs[-1].time.year < 2080)
    data = b"".join(line for f in fs for line in format_fix(f, talker=talker, sentences=sentences))
    got = decode(data)
    assert len(got) == len(fs)
    for g, want in zip(got, fs):
        assert_close(g, want)
        assert g.mode == want.mode  # from GSA


@given(fixes())
def test_formatting_is_stable(fix: Fix) -> None:
    # format(parse(format(f))) == format(f): the text is a fixed point.
    once = b"".join(format_fix(fix))
    (parsed,) = decode(once)
    assert b"".join(format_fix(parsed)) == once


@given(st.binary(max_size=300))
def test_parse_raises_only_nmea_errors(data: bytes) -> None:
    try:
        nmea.parse(data)
    except nmea.NmeaError:
        pass


@given(st.binary(max_size=120).map(lambda b: b"$" + b), st.booleans())
def test_parse_with_valid_checksum_raises_only_nmea_errors(body: bytes, lower: bool) -> None:
    # Arbitrary content that passes the checksum reaches the field readers.
    raw = b"%s*%02X" % (body, nmea.checksum(body[1:]))
    try:
        nmea.parse(raw.lower() if lower else raw)
    except nmea.NmeaError:
        pass


def _stream_pieces() -> st.SearchStrategy[bytes]:
    sentences = fixes().map(lambda f: b"".join(format_fix(f, sentences=("GGA", "RMC", "GSA"))))
    noise = st.sampled_from([b"\r\n", b"\n", b"$", b"$$", b"!AIVDM,1,1,,A,1,0*00\r\n", b"\x00", b"*", b"# c\n"])
    return st.one_of(sentences, noise, st.binary(max_size=40))


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(st.lists(_stream_pieces(), max_size=12).map(b"".join), st.data())
def test_any_bytes_in_any_chunking_give_the_same_fixes(data: bytes, draw: st.DataObject) -> None:
    whole = decode(data)
    cuts = draw.draw(st.lists(st.integers(0, len(data)), max_size=10))
    assert decode(data, cuts) == whole
    assert decode(data, list(range(len(data)))) == whole  # one byte at a time


@settings(max_examples=300)
@given(fixes(), st.data())
def test_one_flipped_byte_never_yields_corrupted_values(fix: Fix, draw: st.DataObject) -> None:
    lines = format_fix(fix, sentences=("GGA", "GSA", "RMC", "VTG"))
    clean = decode(b"".join(lines))
    which = draw.draw(st.integers(0, len(lines) - 1))
    line = bytearray(lines[which])
    pos = draw.draw(st.integers(0, len(line) - 1))
    new = draw.draw(st.integers(0, 255).filter(lambda b: b != line[pos]))
    line[pos] = new
    corrupted = decode(b"".join([*lines[:which], bytes(line), *lines[which + 1 :]]))
    assert len(corrupted) <= len(clean)
    for got in corrupted:
        # Whatever survives must be the truth, possibly with fields missing
        # (a rejected GGA takes the altitude with it); mode is derived.
        (want,) = clean
        assert (got.time, got.lat, got.lon) == (want.time, want.lat, want.lon)
        for name in ("alt", "speed", "track", "hdop", "sats"):
            value = getattr(got, name)
            assert value is None or value == getattr(want, name), name


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(sorted(p.name for p in GPSD_CORPUS.glob("*.log"))), st.lists(st.integers(0, 200_000), max_size=30)
)
def test_corpus_logs_in_any_chunking(name: str, cuts: list[int]) -> None:
    data = (GPSD_CORPUS / name).read_bytes()
    decoder_whole = NmeaDecoder(skip_comments=True)
    whole = decoder_whole.feed(data) + decoder_whole.finish()
    decoder = NmeaDecoder(skip_comments=True)
    got: list[Fix] = []
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    for start, end in itertools.pairwise(bounds):
        got.extend(decoder.feed(data[start:end]))
    assert got + decoder.finish() == whole
    assert decoder.stats.framing.junk == decoder_whole.stats.framing.junk
    assert decoder.stats.framing.lines == decoder_whole.stats.framing.lines  # CRLF split across reads: one line


def test_corpus_is_present() -> None:
    assert len(list(Path(GPSD_CORPUS).glob("*.log"))) == 102


# Field text a receiver (or a corrupted line) may put in a sentence.
FIELD = st.text(alphabet="0123456789.,-+ NSEWAVMTKDabz*$!\t", max_size=12)


@given(
    st.sampled_from(["GPGGA", "GNRMC", "GPGLL", "GNGNS", "GPVTG", "GPGSA", "GLGSV", "GPZDA"]),
    st.lists(FIELD, max_size=20),
    st.booleans(),
)
def test_fields_are_the_ones_pynmea2_reads(address: str, fields: list[str], comma: bool) -> None:
    """parse() splits fields itself (pynmea2's regex costs more than the rest of
    the decode); whatever it accepts, pynmea2 accepts with the same fields, and
    what pynmea2 refuses, parse() refuses."""
    import pynmea2

    body = ",".join([address, *fields]) if fields or not comma else address + ","
    sentence = b"$%s*%02X" % (body.encode(), nmea.checksum(body.encode()))
    try:
        theirs: list[str] | None = pynmea2.parse(body).data
    except pynmea2.ParseError:
        theirs = None
    try:
        ours = nmea.parse(sentence)
    except nmea.MalformedSentenceError:
        ours = None
    if theirs is None:
        assert ours is None
        return
    # Same fields read: reading pynmea2's list gives the same value (repr: NaN
    # stands for an out-of-range coordinate), or the same refusal.
    reader = nmea._READERS[address[2:]]
    try:
        expected = repr(reader(address[:2], theirs))
    except ValueError:
        expected = None
    assert (None if ours is None else repr(ours)) == expected


@given(fixes())
def test_fix_json_is_what_json_dumps_writes(fix: Fix) -> None:
    import json

    assert fix.to_json() == json.dumps(fix.to_dict(), separators=(",", ":"))
    assert Fix.from_json(fix.to_json()) == fix
