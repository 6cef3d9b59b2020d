from __future__ import annotations

import datetime as dt

import pytest

from agent import nmea
from agent.nmea import KNOT_MS


def sentence(body: str) -> bytes:
    """``$body*hh`` with the right checksum."""
    return nmea.format_sentence(body.split(",")[0], body.split(",")[1:]).rstrip(b"\r\n")


def test_checksum_of_a_known_sentence() -> None:
    assert nmea.checksum(b"GPGGA,145243.000,3401.9764,N,11744.8274,W,2,10,0.87,234.7,M,-33.2,M,0000,0000") == 0x5F
    assert nmea.checksum(b"") == 0
    assert nmea.checksum(bytes(range(256)) * 3) == 0  # XOR of 0..255 is 0, three times


def test_bad_and_missing_checksums_are_rejected() -> None:
    good = sentence("GPGGA,145243.000,3401.9764,N,11744.8274,W,2,10,0.87,234.7,M,,,,")
    nmea.parse(good)
    with pytest.raises(nmea.ChecksumError):
        nmea.parse(good[:-2] + b"00")
    with pytest.raises(nmea.MissingChecksumError):
        nmea.parse(good[:-3])
    with pytest.raises(nmea.ChecksumError):
        nmea.parse(good[:-2] + b"G0")
    with pytest.raises(nmea.ChecksumError):
        nmea.parse(good[:-1])  # '*7': truncated


def test_lowercase_checksum_is_accepted() -> None:
    good = sentence("GPRMC,010101,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W")
    assert nmea.parse(good[:-2] + good[-2:].lower()) == nmea.parse(good)


def test_gga() -> None:
    s = nmea.parse(sentence("GPGGA,145243.500,3401.9764,N,11744.8274,W,2,10,0.87,234.7,M,-33.2,M,0000,0000"))
    assert s == nmea.GGA("GP", 53_563_500, 34 + 1.9764 / 60, -(117 + 44.8274 / 60), 2, 10, 0.87, 234.7)


def test_rmc() -> None:
    s = nmea.parse(sentence("GNRMC,235959.00,A,5314.1,S,00125.2,W,10.0,359.9,311299,,,A"))
    assert isinstance(s, nmea.RMC)
    assert s.tod_ms == 86_399_000 and s.valid and s.mode == "A"
    assert s.lat == pytest.approx(-(53 + 14.1 / 60)) and s.lon == pytest.approx(-(1 + 25.2 / 60))
    assert s.speed == pytest.approx(10.0 * KNOT_MS) and s.track == 359.9
    assert s.date == dt.date(1999, 12, 31)


@pytest.mark.parametrize(("yy", "year"), [("80", 1980), ("99", 1999), ("00", 2000), ("26", 2026), ("79", 2079)])
def test_two_digit_years_pivot_on_the_gps_epoch(yy: str, year: int) -> None:
    s = nmea.parse(sentence(f"GPRMC,120000,A,5314.1,N,00125.2,W,0,0,0101{yy},,,A"))
    assert isinstance(s, nmea.RMC) and s.date == dt.date(year, 1, 1)


def test_impossible_date_is_no_date() -> None:
    s = nmea.parse(sentence("GPRMC,120000,V,,,,,,,000000,,,N"))
    assert isinstance(s, nmea.RMC) and s.date is None and not s.valid and s.lat is None


def test_gns_gll_vtg_gsa_gsv_zda() -> None:
    gns = nmea.parse(sentence("GNGNS,043539.00,4333.190206,N,00127.618380,E,AAAAN,14,1.3,250.8,50.0,,,V"))
    assert isinstance(gns, nmea.GNS) and gns.modes == "AAAAN" and gns.sats == 14 and gns.alt == 250.8
    gll = nmea.parse(sentence("GPGLL,4916.45,N,12311.12,W,225444,A,A"))
    assert isinstance(gll, nmea.GLL) and gll.valid and gll.tod_ms == (22 * 3600 + 54 * 60 + 44) * 1000
    assert not nmea.parse(sentence("GPGLL,4916.45,N,12311.12,W,225444,A,N")).valid  # type: ignore[union-attr]
    vtg = nmea.parse(sentence("GPVTG,054.7,T,034.4,M,005.5,N,010.2,K,A"))
    assert vtg == nmea.VTG("GP", 54.7, 5.5 * KNOT_MS, True)
    old_vtg = nmea.parse(sentence("GPVTG,054.7,034.4,005.5,010.2"))  # NMEA 1.5: no unit letters
    assert old_vtg == nmea.VTG("GP", 54.7, 5.5 * KNOT_MS, True)
    gsa = nmea.parse(sentence("GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1"))
    assert gsa == nmea.GSA("GP", 3, 5, 2.5, 1.3, 2.1)
    gsv = nmea.parse(sentence("GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00"))
    assert gsv == nmea.GSV("GP", 11, False)
    assert nmea.parse(sentence("GPGSV,3,3,11,03,03,111,00,04,15,270,00,06,01,010,00")) == nmea.GSV("GP", 11, True)
    assert nmea.parse(sentence("GLGSV,1,1,02,65,03,111,00,66,15,270,00")) == nmea.GSV("GL", 2, True)
    zda = nmea.parse(sentence("GPZDA,201530.00,04,07,2002,-05,00"))
    assert zda == nmea.ZDA("GP", (20 * 3600 + 15 * 60 + 30) * 1000, dt.date(2002, 7, 4))


@pytest.mark.parametrize("talker", ["GP", "GN", "GL", "GA", "GB", "BD", "GQ", "QZ", "IN", "HE", "SN", "II"])
def test_every_talker(talker: str) -> None:
    s = nmea.parse(sentence(f"{talker}GGA,120000,5314.1,N,00125.2,W,1,08,0.9,90.0,M,,,,"))
    assert isinstance(s, nmea.GGA) and s.talker == talker


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("PGRMZ,246,f,3", nmea.Other("PGRM", "Z")),
        ("PSTMANTENNASTATUS,0,0,0,0", nmea.Other("PSTM", "ANTENNASTATUS")),
        ("PUBX,00,081350.00,4717.113210,N", nmea.Other("PUBX", "")),
        ("GPHDT,274.07,T", nmea.Other("GP", "HDT")),
        ("GYOACC,1,2,3", nmea.Other("GY", "OACC")),
        ("SNRSTAT,1", nmea.Other("SN", "RSTAT")),
    ],
)
def test_proprietary_and_uninterpreted_sentences_pass_over(body: str, expected: nmea.Other) -> None:
    assert nmea.parse(sentence(body)) == expected


@pytest.mark.parametrize(
    "body",
    [
        "GPGGA,1x5243,3401.9764,N,11744.8274,W,1,10,0.87,234.7,M,,,,",  # bad time
        "GPGGA,256000,3401.9764,N,11744.8274,W,1,10,0.87,234.7,M,,,,",  # hour 25
        "GPGGA,145243,34O1.9764,N,11744.8274,W,1,10,0.87,234.7,M,,,,",  # letter O
        "GPGGA,145243,3401.9764,Q,11744.8274,W,1,10,0.87,234.7,M,,,,",  # hemisphere Q
        "GPGGA,145243,3401.9764,N,11744.8274,W,x,10,0.87,234.7,M,,,,",  # quality x
        "GPRMC,145243,A,3401.9764,N,11744.8274,W,fast,0,030610,,,A",  # speed
        "GPRMC,145243,A,3401.9764,N,11744.8274,W,0,0,03061X,,,A",  # date
        "GP GGA,1",  # address with a space
        "G*,1",  # address
        "",
    ],
)
def test_malformed_sentences_raise_our_error(body: str) -> None:
    raw = b"$%s*%02X" % (body.encode(), nmea.checksum(body.encode()))
    with pytest.raises(nmea.MalformedSentenceError):
        nmea.parse(raw)


def test_non_ascii_is_malformed() -> None:
    body = "GPTXT,01,01,02,é".encode("latin-1")
    with pytest.raises(nmea.MalformedSentenceError):
        nmea.parse(b"$%s*%02X" % (body, nmea.checksum(body)))


def test_out_of_range_coordinates_decode_as_nan() -> None:
    # MTK receivers send latitude 8960.000000 (89 deg 60 min) before a fix:
    # not a position, but not a broken sentence either.
    s = nmea.parse(sentence("GPRMC,235946.005,V,8960.000000,N,00000.000000,E,0.000,0.00,050180,,,N"))
    assert isinstance(s, nmea.RMC) and s.lat != s.lat
    s = nmea.parse(sentence("GPGGA,120000,9100.0,N,18100.0,E,1,08,0.9,90.0,M,,,,"))
    assert isinstance(s, nmea.GGA) and s.lat != s.lat and s.lon != s.lon


def test_format_helpers() -> None:
    assert nmea.format_time(86_399_999) == "235959.999"
    assert nmea.format_time(3_723_040, 2) == "010203.04"
    assert nmea.format_time(0, 0) == "000000"
    assert nmea.format_date(dt.date(2019, 4, 6)) == "060419"
    assert nmea.format_latitude(-53.5) == ("5330.000000", "S")
    assert nmea.format_longitude(1.999999999, 4) == ("00200.0000", "E")  # minutes round up to 60
    assert nmea.format_sentence("GPGLL", ["1", "2"]) == b"$GPGLL,1,2*%02X\r\n" % nmea.checksum(b"GPGLL,1,2")
