"""The ``[public]`` config section: defaults, policy errors at their line, the secret file."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.public import DEFAULT_SUPPRESSED, PublicPolicy, UnitsMode
from collector.public.settings import MAX_PUBLISH_EVERY_S, default_state_path, public_settings, read_secret
from common.tomlconfig import ConfigError, parse_toml

CONFIG = Path("/etc/activecalls/collector.toml")


def settings(text: str):  # type: ignore[no-untyped-def]
    root = parse_toml(text, CONFIG)
    return public_settings(root.get_table("public") if "public" in root else None)


def error(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        settings(text)
    return str(err.value)


def test_no_section_means_off_with_the_policy_defaults() -> None:
    s = settings('fleet = "derbyshire"\n')
    assert not s.enabled and s.policy == PublicPolicy() and s.publish_every_s == 30.0
    assert s.public_dir is None and s.secret_file is None and s.state_file == default_state_path()


def test_a_section_turns_the_feed_on_and_needs_a_secret() -> None:
    missing = "/etc/activecalls/collector.toml:1: [public] secret_file: is required but missing"
    assert error("[public]\ncell_m = 250\n") == missing
    s = settings("[public]\nenabled = false\ncell_m = 250\n")
    assert not s.enabled and s.policy.cell_m == 250.0


def test_every_key_is_read_and_paths_are_relative_to_the_config() -> None:
    s = settings(
        """
[public]
secret_file = "public-secret"
public_dir = "/var/www/feed"
state_file = "state/public.json"
publish_every_s = 10
unit_delay_s = 600
call_delay_s = 300
cell_m = 1000
hysteresis_m = 100
epsg = 27700
centre = [53.2, -1.4]
units = "counts"
linger_s = 60
stale_s = 120
suppressed = ["sexual_offence"]
suppress_keywords = ["rape"]
unknown_category = ""
[public.categories]
"Burglary - Other" = "burglary"
theft = "property"
"""
    )
    assert s.enabled and s.publish_every_s == 10.0
    assert s.secret_file == Path("/etc/activecalls/public-secret")
    assert s.state_file == Path("/etc/activecalls/state/public.json") and s.public_dir == Path("/var/www/feed")
    p = s.policy
    assert (p.unit_delay_s, p.call_delay_s, p.cell_m, p.hysteresis, p.epsg) == (600, 300, 1000.0, 100.0, 27700)
    assert p.centre == (53.2, -1.4) and p.units is UnitsMode.COUNTS and (p.linger_s, p.stale_s) == (60, 120)
    assert p.suppressed == frozenset({"sexual_offence"}) and p.suppress_keywords == ("rape",)
    assert p.unknown_category is None
    # Entries are added to the built-in table, and override it.
    assert p.category("BURGLARY-OTHER") == "burglary" and p.category("theft") == "property"
    assert p.category("shoplifting") == "theft"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unit_delay_s = -1", ":4: [public] unit_delay_s: must be an integer from 0 to 604800, got -1"),
        ("unit_delay_s = 1.5", ":4: [public] unit_delay_s: must be an integer, got 1.5"),
        ("cell_m = 10", ":4: [public] cell_m: must be a number of metres from 50 to 50000, got 10.0"),
        ("hysteresis_m = 400", ":4: [public] hysteresis_m: must be at least 0 and less than half of cell_m"),
        ("epsg = 4326", ":4: [public] epsg: EPSG:4326 (WGS 84) is not a projected CRS in metres"),
        ("centre = [95, 0]", ":4: [public] centre: lat must be a number within +-84"),
        ("centre = [53]", ":4: [public] centre: must be a list of 2 numbers, got [53]"),
        ('units = "names"', ":4: [public] units: must be one of 'pseudonyms', 'counts', 'ids', got 'names'"),
        ('suppressed = ["Domestic Abuse"]', ":4: [public] suppressed: a category must be 1-32 of a-z 0-9 _"),
        ("suppressed = [1]", ":4: [public] suppressed: must be a list of strings, got 1 in it"),
        ('unknown_category = "Other!"', ":4: [public] unknown_category: a category must be"),
        ("publish_every_s = 600", f":4: [public] publish_every_s: must be within [1, {MAX_PUBLISH_EVERY_S:g}]"),
        ("cel_m = 500", ":4: [public] cel_m: unknown key in [public]"),
        ('[public.categories]\nrtc = "Road Traffic"', ":5: [public.categories] rtc: a category must be 1-32"),
        ("[public.categories]\nrtc = 3", ":5: [public.categories] rtc: must be a string, got 3"),
    ],
)
def test_mistakes_are_one_line_naming_file_line_and_key(text: str, message: str) -> None:
    got = error(f'fleet = "x"\n[public]\nsecret_file = "s"\n{text}\n')
    assert got.startswith(f"{CONFIG}{message}"), got
    assert "\n" not in got


def test_the_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("3f9c0e55b1d2a7c48e6f0a9b2c1d3e4f\n")
    with pytest.raises(ConfigError, match=r"pseudonym secret file is not private \(mode 0644: every user"):
        read_secret(secret)
    secret.chmod(0o600)
    assert read_secret(secret) == b"3f9c0e55b1d2a7c48e6f0a9b2c1d3e4f"  # the newline is not part of it
    with pytest.raises(ConfigError, match=rf"^{tmp_path}/absent: the pseudonym secret file does not exist "
                       rf"\(create one with: openssl rand -hex 32 \| sudo install -m 0640 -g activecalls /dev/stdin "
                       rf"{tmp_path}/absent\)$"):  # fmt: skip
        read_secret(tmp_path / "absent")
    secret.write_text("short\n")
    with pytest.raises(ConfigError, match=r"secret: the pseudonym secret must be at least 16 bytes"):
        read_secret(secret)
    secret.write_text("0" * 64)
    with pytest.raises(ConfigError, match="looks like a placeholder"):
        read_secret(secret)
    with pytest.raises(ConfigError, match="cannot read the pseudonym secret file"):
        read_secret(tmp_path)


def test_default_state_path_follows_systemd() -> None:
    assert default_state_path({"STATE_DIRECTORY": "/var/lib/x:/other"}) == Path("/var/lib/x/public-state.json")
    assert default_state_path({}) == Path("/var/lib/activecalls-collector/public-state.json")
    assert settings("").policy.suppressed >= DEFAULT_SUPPRESSED
