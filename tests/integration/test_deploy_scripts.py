"""deploy/pki/make-lab-pki and deploy/mosquitto/render as an administrator runs them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.secure_broker import MAKE_LAB_PKI, RENDER

pytestmark = pytest.mark.integration


def script(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120)


def openssl(*argv: str | Path) -> str:
    done = subprocess.run(["openssl", *map(str, argv)], capture_output=True, text=True, check=True)
    return done.stdout


def digests(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "ca.srl"
    }


def one_error_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{Path(done.args[0]).name}: error: "), done.stderr
    for word in words:
        assert word in lines[0]


# --- make-lab-pki ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    directory = tmp_path_factory.mktemp("lab") / "pki"
    done = script(
        MAKE_LAB_PKI, "--dir", directory, "-n", "broker.lab", "-i", "10.0.0.5", "-i", "::1", "PC-101", "PC-102"
    )
    assert done.returncode == 0, done.stderr
    return directory, done


def test_the_lab_pki_warns_that_production_uses_the_forces_pki(
    lab: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, done = lab
    assert "LAB PKI" in done.stderr and "force's own PKI" in done.stderr
    assert "NOT FOR PRODUCTION" in openssl("x509", "-in", lab[0] / "ca.crt", "-noout", "-subject")


def test_unit_certificates_carry_the_unit_id_and_verify_as_clients(
    lab: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    pki, _ = lab
    for unit in ("PC-101", "PC-102"):
        assert f"CN = {unit}" in openssl("x509", "-in", pki / f"units/{unit}.crt", "-noout", "-subject")
        openssl("verify", "-CAfile", pki / "ca.crt", "-purpose", "sslclient", pki / f"units/{unit}.crt")
    for service in ("collector", "dispatch", "monitor"):
        openssl("verify", "-CAfile", pki / "ca.crt", "-purpose", "sslclient", pki / f"services/{service}.crt")


def test_the_server_certificate_names_the_broker(lab: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    pki, _ = lab
    openssl("verify", "-CAfile", pki / "ca.crt", "-purpose", "sslserver", pki / "server.crt")
    san = openssl("x509", "-in", pki / "server.crt", "-noout", "-ext", "subjectAltName")
    assert "DNS:broker.lab" in san and "IP Address:10.0.0.5" in san and "IP Address:0:0:0:0:0:0:0:1" in san


def test_private_keys_are_readable_by_their_owner_only(lab: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    pki, _ = lab
    for key in pki.rglob("*.key"):
        assert key.stat().st_mode & 0o077 == 0, key


def test_running_it_again_changes_nothing_and_adds_only_new_units(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert script(MAKE_LAB_PKI, "--dir", pki, "-n", "localhost", "PC-101").returncode == 0
    before = digests(pki)
    again = script(MAKE_LAB_PKI, "--dir", pki, "-n", "localhost", "PC-101")
    assert again.returncode == 0 and digests(pki) == before
    assert script(MAKE_LAB_PKI, "--dir", pki, "-n", "localhost", "PC-103").returncode == 0
    after = digests(pki)
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before) == {"units/PC-103.crt", "units/PC-103.key"}


def test_new_broker_names_reissue_the_server_certificate_with_the_same_key(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert script(MAKE_LAB_PKI, "--dir", pki, "-n", "old.lab").returncode == 0
    key, cert = (pki / "server.key").read_bytes(), (pki / "server.crt").read_bytes()
    done = script(MAKE_LAB_PKI, "--dir", pki, "-n", "new.lab")
    assert done.returncode == 0 and "re-issuing" in done.stderr
    assert (pki / "server.key").read_bytes() == key and (pki / "server.crt").read_bytes() != cert
    assert "DNS:new.lab" in openssl("x509", "-in", pki / "server.crt", "-noout", "-ext", "subjectAltName")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["bad/unit"], ["unit id 'bad/unit'"]),
        (["-" + "x" * 3], ["unknown option"]),
        (["collector"], ["'collector' is also a service name"]),
        (["--days", "soon"], ["--days"]),
        (["--server-ip", "broker.lab"], ["not an IPv4 or IPv6 address"]),
        (["--dir"], ["--dir needs a directory"]),
    ],
)
def test_mistakes_get_one_clear_line(tmp_path: Path, argv: list[str], words: list[str]) -> None:
    done = script(MAKE_LAB_PKI, *(["--dir", str(tmp_path / "pki")] if argv != ["--dir"] else []), *argv)
    one_error_line(done, *words)
    assert not (tmp_path / "pki").exists()  # nothing half-made


def test_a_ca_certificate_without_its_key_is_an_error_not_a_new_ca(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert script(MAKE_LAB_PKI, "--dir", pki).returncode == 0
    (pki / "ca.key").unlink()
    done = script(MAKE_LAB_PKI, "--dir", pki)
    assert done.returncode == 2 and "ca.crt exists without" in done.stderr
    assert not (pki / "ca.key").exists()


# --- render ------------------------------------------------------------------------------------


def test_render_writes_the_fleet_into_config_and_acls(
    tmp_path: Path, lab: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    done = script(RENDER, "--fleet", "derbyshire", "--etc", etc, "--lab-pki", lab[0])
    assert done.returncode == 0, done.stderr
    rendered = {p.relative_to(etc).as_posix(): p.read_text() for p in etc.rglob("*") if p.is_file()}
    assert set(rendered) == {
        "conf.d/activecalls.conf",
        "activecalls/vehicles.acl",
        "activecalls/services.acl",
        "activecalls-public/mosquitto.conf",
        "activecalls-public/dynamic-security.json",
        "activecalls-public/public-bridge.crt",
        "activecalls-public/public-bridge.key",
        "ca_certificates/activecalls-ca.crt",
        "certs/activecalls-server.crt",
        "certs/activecalls-server.key",
    }
    public = rendered["activecalls-public/mosquitto.conf"]
    assert "topic public/v1/derbyshire/# in 1" in public and "persistence false" in public
    assert "address 127.0.0.1:8884" in public and "listener 9001\n" in public
    assert re.search(r"^local_clientid public-bridge-[0-9a-f]{32}$", public, re.M)  # not guessable
    dynsec = json.loads(rendered["activecalls-public/dynamic-security.json"])
    assert {acl["topic"] for acl in dynsec["roles"][0]["acls"]} == {
        "public/v1/derbyshire/#", "public/v1/derbyshire/units", "public/v1/derbyshire/calls"}
    assert "user public-bridge\ntopic read public/v1/derbyshire/#" in rendered["activecalls/services.acl"]
    assert "pattern write ac/v1/derbyshire/units/%u/pos" in rendered["activecalls/vehicles.acl"]
    assert "topic readwrite public/v1/derbyshire/#" in rendered["activecalls/services.acl"]
    conf = rendered["conf.d/activecalls.conf"]
    assert "listener 8883 \n" not in conf and "listener 8883\n" in conf  # no trailing blank when unbound
    assert "max_queued_messages 2000000" in conf and f"acl_file {etc}/activecalls/vehicles.acl" in conf
    assert not [t for t in rendered.values() if re.search(r"@[A-Z_]+@", t)]  # every placeholder filled
    assert os.stat(etc / "certs/activecalls-server.key").st_mode & 0o007 == 0
    assert os.stat(etc / "activecalls-public/public-bridge.key").st_mode & 0o007 == 0
    again = script(RENDER, "--fleet", "derbyshire", "--etc", etc, "--lab-pki", lab[0])
    assert again.returncode == 0
    # Rendering again changes nothing, the bridge's client id included.
    assert {p.relative_to(etc).as_posix(): p.read_text() for p in etc.rglob("*") if p.is_file()} == rendered
    (etc / "activecalls/public.acl").write_text("topic read public/#\n")  # left by an older render
    assert "removed" in script(RENDER, "--fleet", "derbyshire", "--etc", etc).stdout
    assert not (etc / "activecalls/public.acl").exists()


def test_render_warns_when_the_certificates_are_not_installed(tmp_path: Path) -> None:
    done = script(RENDER, "--fleet", "derbyshire", "--etc", tmp_path)
    assert done.returncode == 0
    assert "activecalls-server.key is missing" in done.stderr


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([], ["--fleet is required"]),
        (["--fleet", "ac/v1"], ["fleet id 'ac/v1'"]),
        (["--fleet", "f", "--vehicle-port", "70000"], ["--vehicle-port"]),
        (["--fleet", "f", "--service-port", "8883"], ["ports must differ"]),
        (["--fleet", "f", "--public-bind", "broker.lab"], ["--public-bind"]),
        (["--fleet", "f", "--public-socket", "relative.sock"], ["--public-socket"]),
        (["--fleet", "f", "--bridge-host", "a b"], ["--bridge-host"]),
        (["--fleet", "f", "--dynsec-plugin", "/nonexistent.so"], ["dynamic security plugin"]),
        (["--fleet", "f", "--lab-pki", "/nonexistent"], ["make-lab-pki"]),
        (["--fleet", "f", "--colour", "blue"], ["unknown argument"]),
    ],
)
def test_render_mistakes_get_one_clear_line(tmp_path: Path, argv: list[str], words: list[str]) -> None:
    one_error_line(script(RENDER, "--etc", tmp_path, *argv), *words)
    assert list(tmp_path.iterdir()) == []
