"""Secret files as ssh treats keys: who may read them, the fix in the message, one password reader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from common.mqtt import is_loopback, mqtt_settings
from common.secrets import check_private, exposure, read_password
from common.tomlconfig import ConfigError, parse_toml

# Group ids no machine has, so that they print as numbers.
ME, MY_GROUP, SERVICE, OTHER = 1000, 4_101_000, 4_100_999, 4_100_100


@pytest.mark.parametrize(
    ("mode", "uid", "gid", "problems"),
    [
        (0o600, ME, OTHER, []),
        (0o400, 0, OTHER, []),  # root's file: fine
        (0o640, 0, SERVICE, []),  # the installed form: root:activecalls 0640
        (0o640, ME, MY_GROUP, []),  # a developer's own group
        (0o640, 0, OTHER, ["group 4100100 can read it"]),
        (0o644, 0, SERVICE, ["every user on this machine can read it"]),
        (0o601, ME, MY_GROUP, ["every user on this machine can get at it"]),
        (0o660, ME, SERVICE, ["group 4100999 can change it"]),
        (0o600, 4242, MY_GROUP, ["user 4242 owns it and could replace it"]),
    ],
)
def test_who_may_read_a_secret(mode: int, uid: int, gid: int, problems: list[str]) -> None:
    found = exposure(mode, uid, gid, euid=ME, service_gids={MY_GROUP, SERVICE})
    assert found == problems


def test_a_loose_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("s3cret\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError) as error:
        read_password(path)
    message = str(error.value)
    assert message.startswith(f"{path}: the MQTT password file is not private (mode 0644: every user")
    assert f"sudo chown root:activecalls {path} && sudo chmod 0640 {path}" in message and "\n" not in message
    path.chmod(0o600)
    assert read_password(path) == "s3cret"
    check_private(path, "key")


@pytest.mark.parametrize(
    ("content", "result"),
    [
        (b"s3cret\n", "s3cret"),
        (b"s3cret", "s3cret"),
        (b"s3cret\r\n", "s3cret"),
        (b"with spaces inside \n\n", "with spaces inside "),
        (b"", "empty"),
        (b"\nsecond", "empty"),
        (b"one\ntwo\n", "more than one line"),
        (b"\xff\n", "not UTF-8"),
    ],
)
def test_one_password_reader_first_line_only(tmp_path: Path, content: bytes, result: str) -> None:
    path = tmp_path / "password"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)
    if result in ("empty", "more than one line", "not UTF-8"):
        with pytest.raises(ConfigError, match=result):
            read_password(path)
    else:
        assert read_password(path) == result


def test_a_password_never_crosses_a_network_in_clear() -> None:
    def settings(host: str, tls: str = "") -> object:
        text = f'[mqtt]\nhost = "{host}"\nusername = "u"\npassword_file = "p"\n{tls}'
        return mqtt_settings(parse_toml(text, Path("/etc/activecalls/agent.toml")).get_table("mqtt"),
                             default_client_id="x")  # fmt: skip

    for host in ("localhost", "127.0.0.1", "127.9.9.9", "::1"):
        assert is_loopback(host)
        settings(host)
    with pytest.raises(ConfigError, match=r"agent.toml:4: \[mqtt\] password_file: the password would cross the "
                       r"network to broker.lab in clear: set tls = true"):  # fmt: skip
        settings("broker.lab")
    settings("broker.lab", "tls = true\n")
