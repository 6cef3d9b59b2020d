"""Receiver profiles: the shipped ones load; every mistake is one line naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.receiver.profile import Family, ProfileError, find_profile, list_profiles, load_profile

REPO = Path(__file__).resolve().parents[2]
GOOD = """family = "mtk"
description = "test"
rate_hz = 5
sentences = ["GGA", "RMC", "GSA"]
baud = 38400
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return str(path)


def test_shipped_profiles_load_and_cover_the_families() -> None:
    profiles = list_profiles()
    assert {"ublox-m8", "ublox-m9", "mtk-l76"} <= set(profiles)
    assert all(path.parent == REPO / "firmware-config" for path in profiles.values())
    loaded = {name: load_profile(name) for name in profiles}
    assert {p.family for p in loaded.values()} == set(Family)
    for profile in loaded.values():
        assert {"GGA", "RMC", "GSA"} <= set(profile.sentences) and 1 <= profile.rate_hz <= 10
    m8 = loaded["ublox-m8"]
    assert (m8.interval_ms, m8.baud, m8.dynamic_model, m8.save) == (200, 38400, "automotive", True)
    assert m8.turned_off == ("GLL", "GSV", "VTG")
    assert loaded["mtk-l76"].sbas is True


def test_environment_directory_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ublox-m8.toml").write_text(GOOD)
    monkeypatch.setenv("ACTIVECALLS_FIRMWARE_CONFIG", str(tmp_path))
    assert find_profile("ublox-m8") == tmp_path / "ublox-m8.toml"
    assert load_profile("ublox-m8").family is Family.MTK


def test_a_path_is_a_profile_too(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, GOOD))
    assert profile.name == "p" and profile.rate_hz == 5


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (("rate_hz = 5", "rate_hz = 20"), 3, ["rate_hz", "within [1, 10]", "20"]),
        (("rate_hz = 5", 'rate_hz = "5"'), 3, ["rate_hz", "integer"]),
        (('family = "mtk"', 'family = "sirf"'), 1, ["family", "'ublox8'", "'sirf'"]),
        (('"GGA", "RMC", "GSA"', '"GGA", "RMC"'), 4, ["sentences", "missing GSA"]),
        (('"GGA", "RMC", "GSA"', '"GGA", "RMC", "GSA", "GNS"'), 4, ["'GNS' cannot be selected on a mtk"]),
        (('"GGA", "RMC", "GSA"', '"GGA", "RMC", "GSA", "GGA"'), 4, ["twice"]),
        (('"GGA", "RMC", "GSA"', ""), 4, ["sentences", "must list"]),
        (('["GGA", "RMC", "GSA"]', '"GGA,RMC,GSA"'), 4, ["sentences", "must be a list of strings"]),
        (("baud = 38400", "baud = 12345"), 5, ["baud", "must be one of"]),
        (("baud = 38400", "baud = 9600"), 3, ["rate_hz", "bytes/s", "more than 9600 baud"]),
        (("baud = 38400", ""), 3, ["rate_hz", "the default when no baud is set", "set baud = 19200 or more"]),
        (("baud = 38400", 'dynamic_model = "automotive"\nbaud = 38400'), 5, ["dynamic_model", "only u-blox"]),
        (("baud = 38400", "save = true\nbaud = 38400"), 5, ["save", "u-blox setting"]),
        (("baud = 38400", "bawd = 38400"), 5, ["bawd", "unknown key"]),
        (("rate_hz = 5", "rate_hz = "), 3, ["not valid TOML"]),
    ],
)
def test_mistakes_are_one_line(tmp_path: Path, change: tuple[str, str], line: int, words: list[str]) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: "), message
    for word in words:
        assert word in message, message


def test_ublox_sbas_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace('"mtk"', '"ublox8"').replace("baud = 38400", "sbas = true")
    with pytest.raises(ProfileError, match="sbas: is a MediaTek setting"):
        load_profile(write(tmp_path, text))


def test_unknown_name_lists_the_known(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"no receiver profile named 'ublox-m7' \(known: .*ublox-m8"):
        load_profile("ublox-m7")
    with pytest.raises(ProfileError, match="no such file"):
        load_profile(str(tmp_path / "absent.toml"))
