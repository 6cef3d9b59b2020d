"""``[web]`` and ``[eta] osm`` in the collector's config: read, checked, one line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_config
from collector.web.public import content_security_policy
from collector.web.settings import parse_listen
from common.tomlconfig import ConfigError

BASE = 'fleet = "f"\n[public]\nsecret_file = "secret"\n'


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(text)
    return path


def test_the_site_is_off_without_a_web_section_and_on_with_one(tmp_path: Path) -> None:
    assert not load_config(config(tmp_path, BASE)).web.enabled
    loaded = load_config(config(tmp_path, BASE + '[web]\ntimezone = "Europe/London"\n[eta]\nosm = "area.osm.pbf"\n'))
    assert loaded.web.enabled and loaded.web.address == ("127.0.0.1", 8080)
    assert loaded.eta.osm == tmp_path / "area.osm.pbf"  # relative to the config file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[web]\nlisten = "8080"\n', r"collector.toml:\d+: \[web\] listen: must be HOST:PORT"),
        ('[web]\nlisten = "127.0.0.1:99999"\n', "port must be 1-65535"),
        ('[web]\ntimezone = "Mars/Olympus"\n', "timezone: not a time zone"),
        ('[web]\ntile_url = "tiles.example/{z}/{x}/{y}.png"\n', "tile_url: must be an http"),
        ('[web]\ncolour = "blue"\n', "colour"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(config(tmp_path, BASE + text))


def test_the_site_needs_the_public_feed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs \\[public\\]"):
        load_config(config(tmp_path, 'fleet = "f"\n[web]\n'))


def test_listen_addresses() -> None:
    assert parse_listen("[::1]:8080") == ("::1", 8080)
    assert parse_listen("localhost:80") == ("localhost", 80)
    with pytest.raises(ValueError):
        parse_listen("[::1:8080")


def test_the_tile_server_is_the_only_other_origin_the_page_may_load_from() -> None:
    assert "img-src 'self' data:;" in content_security_policy(None)
    policy = content_security_policy("https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    assert "img-src 'self' data: https://*.tiles.example.org;" in policy and "script-src 'self';" in policy
