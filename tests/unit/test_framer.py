from __future__ import annotations

import pytest

from agent.framer import LineFramer

GGA = b"$GPGGA,145243.000,3401.9764,N,11744.8274,W,2,10,0.87,234.7,M,-33.2,M,0000,0000*5F"
RMC = b"$GPRMC,145243.000,A,3401.9764,N,11744.8274,W,0.00,119.27,030610,,,D*70"


def frame(*chunks: bytes, **kwargs: object) -> tuple[list[bytes], LineFramer]:
    framer = LineFramer(**kwargs)  # type: ignore[arg-type]
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    out.extend(framer.flush())
    return out, framer


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r", b"\n\r"])
def test_line_endings(ending: bytes) -> None:
    out, _ = frame(GGA + ending + RMC + ending)
    assert out == [GGA, RMC]


def test_mixed_endings_and_blank_lines() -> None:
    out, framer = frame(GGA + b"\r\n\r\n" + RMC + b"\n\n")
    assert out == [GGA, RMC]
    assert framer.stats.junk == 0


def test_sentences_run_together() -> None:
    out, _ = frame(GGA + RMC + b"\r\n")
    assert out == [GGA, RMC]


def test_split_anywhere() -> None:
    data = GGA + b"\r\n" + RMC + b"\r\n"
    for cut in range(len(data) + 1):
        out, _ = frame(data[:cut], data[cut:])
        assert out == [GGA, RMC], cut


def test_binary_junk_between_sentences_is_counted_once_per_run() -> None:
    ubx = bytes([0xB5, 0x62, 0x01, 0x07, 0x5C, 0x00, 0x00, 0x24, 0x21, 0xFF])  # holds '$' and '!'
    data = GGA + b"\r\n" + ubx + RMC + b"\r\n"
    out, framer = frame(data)
    assert out == [GGA, RMC]
    for cut in range(len(data) + 1):
        chunked, chunked_framer = frame(data[:cut], data[cut:])
        assert chunked == out
        assert chunked_framer.stats.junk == framer.stats.junk == 1


def test_bytes_after_checksum_are_cut_off() -> None:
    out, framer = frame(GGA + b"\x00\x00garbage\r\n")
    assert out == [GGA]
    assert framer.stats.junk == 1


def test_nul_bytes_before_a_sentence() -> None:
    out, framer = frame(b"\x00\x00\x00" + GGA + b"\r\n")
    assert out == [GGA]
    assert framer.stats.junk == 0


def test_double_dollar_prefix() -> None:
    out, framer = frame(b"$" + GGA + b"\r\n")
    assert out == [GGA]
    assert framer.stats.junk == 0


def test_cut_off_sentence_is_handed_on_without_checksum() -> None:
    # A '$' means a new sentence starts: the first one was cut off.
    out, _ = frame(GGA[:30] + RMC + b"\r\n")
    assert out == [GGA[:30], RMC]


def test_ais_is_skipped() -> None:
    out, framer = frame(b"!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26\r\n" + GGA + b"\r\n")
    assert out == [GGA]
    assert framer.stats.encapsulated == 1


def test_comments_only_when_asked() -> None:
    data = b"# Name: test $GPGGA in a comment\r\n" + GGA + b"\r\n#another\n"
    out, framer = frame(data, skip_comments=True)
    assert out == [GGA]
    assert framer.stats.comments == 2
    out, framer = frame(data)
    assert out == [b"$GPGGA in a comment", GGA]


def test_overlong_lines_are_dropped_and_memory_is_bounded() -> None:
    framer = LineFramer(max_length=100)
    long_sentence = b"$GPTXT," + b"A" * 500
    out = framer.feed(long_sentence)
    assert out == []
    assert framer.buffered <= 100
    for _ in range(1000):  # a binary stream with no line ending at all
        framer.feed(b"\xb5\x62" * 50)
        assert framer.buffered <= 100
    out = framer.feed(b"\r\n" + GGA + b"\r\n")
    assert out == [GGA]
    assert framer.stats.overlong == 1


def test_lines_are_counted() -> None:
    _, framer = frame(GGA + b"\r\n" + RMC + b"\n" + b"junk\n")
    assert framer.stats.lines == 3
    assert framer.stats.candidates == 2


def test_max_length_must_be_sane() -> None:
    with pytest.raises(ValueError):
        LineFramer(max_length=2)
