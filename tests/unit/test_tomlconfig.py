"""Config files: every error names the file, the line and the key, in one line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from common.tomlconfig import REQUIRED, ConfigError, load_toml, parse_toml

TEXT = """\
# a comment
unit = "PC-1"

[gps]
port = "/dev/ttyACM0"
baud = "fast"   # wrong type
when = 2025-01-01

[mqtt]
  port = 70000
"tls" = true
nested.key = 1
"""


def table():  # type: ignore[no-untyped-def]
    return parse_toml(TEXT, Path("/etc/x.toml"))


def test_wrong_type_names_file_line_and_key() -> None:
    gps = table().get_table("gps")
    with pytest.raises(ConfigError) as err:
        gps.get_int("baud", 9600)
    assert str(err.value) == "/etc/x.toml:6: [gps] baud: must be an integer, got 'fast'"
    assert err.value.line == 6 and err.value.key == "[gps] baud"


def test_out_of_range_and_indented_keys() -> None:
    mqtt = table().get_table("mqtt")
    with pytest.raises(ConfigError, match=r"^/etc/x.toml:10: \[mqtt\] port: must be within \[1, 65535\], got 70000$"):
        mqtt.get_int("port", 1883, low=1, high=65535)


def test_unknown_keys_are_rejected_with_their_line() -> None:
    mqtt = table().get_table("mqtt")
    mqtt.get_bool("tls", False)
    mqtt.get_int("port", 1883)
    with pytest.raises(ConfigError, match=r"^/etc/x.toml:12: \[mqtt\] nested: unknown key in \[mqtt\]$"):
        mqtt.check_unknown()
    root = table()
    root.get_str("unit")
    with pytest.raises(ConfigError, match=r":4: gps: unknown key at the top level"):
        root.check_unknown()


def test_defaults_required_and_typed_values() -> None:
    root = table()
    gps = root.get_table("gps")
    assert gps.get_date("when", None) == dt.date(2025, 1, 1)
    assert gps.get_float("no_data_s", 5.0) == 5.0
    assert root.get_table("absent").get_int("x", 3) == 3
    with pytest.raises(ConfigError, match=r"^/etc/x.toml: fleet: is required but missing$"):
        root.get_str("fleet", REQUIRED)
    with pytest.raises(ConfigError, match="must be true or false, got 1"):
        parse_toml("a = 1", Path("y.toml")).get_bool("a", False)
    with pytest.raises(ConfigError, match="must be a date written as YYYY-MM-DD"):
        parse_toml('a = "2025-01-01"', Path("y.toml")).get_date("a", None)


def test_paths_are_relative_to_the_config_file() -> None:
    t = parse_toml('ca = "certs/ca.pem"\nabs = "/x/y"', Path("/etc/activecalls/agent.toml"))
    assert t.get_path("ca", None) == Path("/etc/activecalls/certs/ca.pem")
    assert t.get_path("abs", None) == Path("/x/y")
    assert t.get_path("none", None) is None


def test_syntax_errors_and_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('unit = "a"\nfleet = \n')
    with pytest.raises(ConfigError, match=rf"^{bad}:2: not valid TOML: Invalid value$"):
        load_toml(bad)
    with pytest.raises(ConfigError, match="no such file"):
        load_toml(tmp_path / "absent.toml")


def test_lists_of_strings_and_free_form_keys() -> None:
    text = 'names = ["a", "b"]\nxy = [53]\nbad = ["a", 1]\nnot = "a"\n[map]\n"Two Words" = "x"\n'
    t = parse_toml(text, Path("/z.toml"))
    assert t.get_list("names") == ["a", "b"]
    assert t.get_list("absent", None) is None
    with pytest.raises(ConfigError, match=r"^/z.toml:3: bad: must be a list of strings, got 1 in it$"):
        t.get_list("bad")
    with pytest.raises(ConfigError, match=r"^/z.toml:4: not: must be a list of strings, got 'a'$"):
        t.get_list("not")
    assert t.get_table("map").present_keys() == ["Two Words"]
