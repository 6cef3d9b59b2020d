"""systemd/99-activecalls-gps.rules: syntax, and which devices get /dev/gps0.

udev's own reader judges the file too: `udevadm verify` (systemd >= 254), or
before that `udevadm test` in a private mount namespace (see udev_complaints).
The parser here follows udev's grammar for the keys the file uses (udev(7)):
comma-separated KEY[{attr}] OP "value" tokens, one rule per line, match keys
with == / !=, assignment keys with = / += / :=. The matcher
applies udev's rule that all ATTRS{} of one rule must match on ONE device of
the parent chain (idVendor lives on the USB device, bInterfaceNumber on the
interface), which is the classic way such a rule silently never fires.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "systemd" / "99-activecalls-gps.rules"

TOKEN = re.compile(
    r'\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[A-Za-z0-9_]+)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"]*)"\s*'
)
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "KERNEL", "ATTRS", "ENV"}
ASSIGN_KEYS = {"SYMLINK", "GROUP", "MODE", "ENV", "GOTO", "LABEL", "TAG"}
WITH_ATTRIBUTE = {"ATTRS", "ENV"}


class RulesSyntaxError(Exception):
    pass


@dataclass(frozen=True)
class Token:
    key: str
    attr: str | None
    op: str
    value: str

    @property
    def is_match(self) -> bool:
        return self.op in ("==", "!=")


@dataclass
class Rule:
    line: int
    tokens: list[Token]


def parse(text: str) -> list[Rule]:
    rules: list[Rule] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            raise RulesSyntaxError(f"line {number}: continuation lines are not used in this file")
        tokens: list[Token] = []
        for part in split_tokens(line, number):
            m = TOKEN.fullmatch(part)
            if m is None:
                raise RulesSyntaxError(f'line {number}: {part!r} is not KEY[{{attr}}]OP"value"')
            token = Token(m["key"], m["attr"], m["op"], m["value"])
            check_token(token, number)
            tokens.append(token)
        rules.append(Rule(number, tokens))
    return rules


def split_tokens(line: str, number: int) -> list[str]:
    """Split on commas outside double quotes."""
    parts, current, quoted = [], "", False
    for char in line:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    if quoted:
        raise RulesSyntaxError(f"line {number}: unterminated quote")
    parts.append(current)
    if any(not p.strip() for p in parts):
        raise RulesSyntaxError(f"line {number}: empty token (stray comma)")
    return parts


def check_token(token: Token, number: int) -> None:
    where = f"line {number}: {token.key}"
    if (token.key in WITH_ATTRIBUTE) != (token.attr is not None):
        raise RulesSyntaxError(f"{where} {'needs' if token.key in WITH_ATTRIBUTE else 'takes no'} {{attribute}}")
    if token.is_match and token.key not in MATCH_KEYS:
        raise RulesSyntaxError(f"{where} is not a match key")
    if not token.is_match and token.key not in ASSIGN_KEYS:
        raise RulesSyntaxError(f"{where} cannot be assigned")
    if token.key == "MODE" and not re.fullmatch(r"0[0-7]{3}", token.value):
        raise RulesSyntaxError(f"{where} must be four octal digits")
    if token.key in ("SYMLINK", "GOTO", "LABEL") and not re.fullmatch(r"[A-Za-z0-9_./-]+", token.value):
        raise RulesSyntaxError(f"{where} value {token.value!r}")
    if (
        token.key == "ATTRS"
        and token.attr in ("idVendor", "idProduct")
        and not re.fullmatch(r"[0-9a-f]{4}", token.value)
    ):
        raise RulesSyntaxError(f"{where}{{{token.attr}}} must be 4 lower-case hex digits as sysfs prints it")


def check_gotos(rules: list[Rule]) -> None:
    for index, rule in enumerate(rules):
        for token in rule.tokens:
            if token.key == "GOTO":
                later = [t.value for r in rules[index + 1 :] for t in r.tokens if t.key == "LABEL"]
                if token.value not in later:
                    raise RulesSyntaxError(f"line {rule.line}: GOTO {token.value} has no LABEL after it")


@dataclass
class Device:
    """A tty device as udev sees it: its own properties and its parents' sysfs
    attributes, nearest first (tty, usb interface, usb device)."""

    kernel: str
    subsystem: str = "tty"
    action: str = "add"
    parents: list[dict[str, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    symlinks: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    group: str | None = None
    mode: str | None = None


def apply(rules: list[Rule], device: Device) -> Outcome:
    """Run the rules on one device event, as udev would for these keys."""
    outcome = Outcome()
    env = dict(device.env)
    skip_to: str | None = None
    for rule in rules:
        labels = [t.value for t in rule.tokens if t.key == "LABEL"]
        if skip_to is not None:
            if skip_to in labels:
                skip_to = None
            continue
        if not matches(rule, device, env):
            continue
        for token in rule.tokens:
            if token.is_match:
                continue
            if token.key == "SYMLINK":
                outcome.symlinks.append(token.value)
            elif token.key == "ENV":
                assert token.attr is not None
                env[token.attr] = outcome.env[token.attr] = token.value
            elif token.key == "GROUP":
                outcome.group = token.value
            elif token.key == "MODE":
                outcome.mode = token.value
            elif token.key == "GOTO":
                skip_to = token.value
        if skip_to is not None and skip_to in labels:
            skip_to = None
    return outcome


def matches(rule: Rule, device: Device, env: dict[str, str]) -> bool:
    simple = {"ACTION": device.action, "SUBSYSTEM": device.subsystem, "KERNEL": device.kernel}
    attrs = [t for t in rule.tokens if t.key == "ATTRS"]
    for token in rule.tokens:
        if not token.is_match or token.key == "ATTRS":
            continue
        actual = env.get(token.attr or "", "") if token.key == "ENV" else simple[token.key]
        if fnmatch.fnmatchcase(actual, token.value) != (token.op == "=="):
            return False
    # All ATTRS of one rule on a single device of the chain.
    return not attrs or any(
        all(fnmatch.fnmatchcase(parent.get(t.attr or "", ""), t.value) == (t.op == "==") for t in attrs)
        for parent in device.parents
    )


def usb_tty(kernel: str, vendor: str, product: str, *, serial: str = "", interface: str = "00") -> Device:
    return Device(
        kernel,
        parents=[
            {},  # the tty itself
            {"bInterfaceNumber": interface},
            {"idVendor": vendor, "idProduct": product, "serial": serial},
        ],
        env={"ID_USB_INTERFACE_NUM": interface},  # set by 60-serial.rules' usb_id
    )


def uncommented(text: str) -> str:
    """The file with its commented-out example rules switched on."""
    return re.sub(r"^#((?:ATTRS|KERNEL)\S)", r"\1", text, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    parsed = parse(RULES.read_text())
    check_gotos(parsed)
    return parsed


@pytest.mark.parametrize("product", ["01a7", "01a8", "01a9"])
def test_ublox_receivers_become_gps0(rules: list[Rule], product: str) -> None:
    outcome = apply(rules, usb_tty("ttyACM1", "1546", product))
    assert outcome.symlinks == ["gps0"]
    assert (outcome.group, outcome.mode) == ("dialout", "0660")
    assert outcome.env == {"ID_MM_DEVICE_IGNORE": "1"}


def test_mediatek_cdc_receiver_becomes_gps0(rules: list[Rule]) -> None:
    assert apply(rules, usb_tty("ttyACM0", "0e8d", "3329")).symlinks == ["gps0"]


@pytest.mark.parametrize(
    "device",
    [
        usb_tty("ttyUSB0", "067b", "2303"),  # PL2303: shared id, off by default
        usb_tty("ttyUSB0", "10c4", "ea60", serial="0001"),  # CP210x: off by default
        usb_tty("ttyUSB1", "2c7c", "0125", interface="01"),  # modem GNSS: off by default
        usb_tty("ttyACM0", "2341", "0043"),  # an Arduino
        Device("ttyS0"),  # a UART
        Device("event3", subsystem="input", parents=[{"idVendor": "1546", "idProduct": "01a8"}]),
        Device("ttyACM0", action="remove", parents=[{"idVendor": "1546", "idProduct": "01a8"}]),
    ],
)
def test_other_devices_are_left_alone(rules: list[Rule], device: Device) -> None:
    assert apply(rules, device) == Outcome()


def test_the_commented_examples_are_valid_rules_that_match_only_their_device() -> None:
    examples = parse(uncommented(RULES.read_text()))
    assert len(examples) > len(parse(RULES.read_text())) + 4
    assert apply(examples, usb_tty("ttyUSB0", "067b", "2303")).symlinks == ["gps0"]
    assert apply(examples, usb_tty("ttyUSB0", "10c4", "ea60", serial="0001")).symlinks == ["gps0"]
    assert apply(examples, usb_tty("ttyUSB0", "10c4", "ea60", serial="9999")).symlinks == []
    assert apply(examples, usb_tty("ttyUSB0", "0403", "6001", serial="A9001WL3")).symlinks == ["gps0"]
    assert apply(examples, usb_tty("ttyUSB1", "2c7c", "0125", interface="01")).symlinks == ["gps0"]
    assert apply(examples, usb_tty("ttyUSB2", "2c7c", "0125", interface="02")).symlinks == []
    assert apply(examples, Device("ttyAMA0")).symlinks == ["gps0"]


def test_the_parser_rejects_what_udev_would() -> None:
    for bad in (
        'ATTRS{idVendor}="1546", SYMLINK+="gps0"',  # assignment where a match is meant: udev errors
        'ATTRS{idVendor}=="1546" SYMLINK+="gps0"',  # missing comma
        'ATTRS{idVendor}=="1546", SYMLINK+="gps0',  # unterminated quote
        'ATTRS{idVendor}=="1546A", SYMLINK+="gps0"',
        'ATTRS{idVendor}=="1546", MODE="660"',
        'SYMLINK=="gps0"',
        'GOTO="nowhere"',
    ):
        with pytest.raises(RulesSyntaxError):
            check_gotos(parse(bad))


def test_attributes_of_two_parents_never_match_together() -> None:
    """Why the modem example uses ENV{ID_USB_INTERFACE_NUM}, not bInterfaceNumber."""
    rule = parse('ATTRS{idVendor}=="2c7c", ATTRS{bInterfaceNumber}=="01", SYMLINK+="gps0"')
    assert apply(rule, usb_tty("ttyUSB1", "2c7c", "0125", interface="01")).symlinks == []


def udev_complaints(udevadm: str, rules: Path) -> list[str]:
    """What udev's own rule reader says about ``rules``: ``udevadm verify`` where it
    exists (systemd >= 254), else ``udevadm test`` with the file as the only extra
    rule, in a private mount namespace with a tmpfs on /run, so nothing of the
    machine's is touched. The lines that name the file, besides its reading."""
    help_text = subprocess.run([udevadm, "--help"], capture_output=True, text=True, check=False).stdout
    if "verify" in help_text:
        done = subprocess.run([udevadm, "verify", str(rules)], capture_output=True, text=True, check=False)
        return [] if done.returncode == 0 else (done.stdout + done.stderr).splitlines()
    device = next(iter(sorted(Path("/sys/class/tty").iterdir())))
    script = (
        'mount -t tmpfs activecalls-udev-test /run && mkdir -p /run/udev/rules.d && cp "$1" /run/udev/rules.d/ '
        '&& "$2" test --action=add "$3"'
    )
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", str(rules), udevadm, str(device)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    output = (done.stdout + done.stderr).splitlines()
    assert f"Reading rules file: /run/udev/rules.d/{rules.name}" in output, output[-20:]
    return [line for line in output if rules.name in line and not line.startswith("Reading rules file")]


def test_udev_reads_the_file_without_complaint(tmp_path: Path) -> None:
    udevadm = shutil.which("udevadm")
    if udevadm is None:
        pytest.fail("udevadm is not installed (package udev): run scripts/setup")
    help_text = subprocess.run([udevadm, "--help"], capture_output=True, text=True, check=False).stdout
    if "verify" not in help_text and (os.geteuid() != 0 or shutil.which("unshare") is None):
        pytest.skip("udevadm < 254 has no 'verify', and 'udevadm test' in a mount namespace needs root")
    assert udev_complaints(udevadm, RULES) == []
    # The check can fail: a misspelt key and a GOTO to nowhere are reported.
    broken = tmp_path / RULES.name
    broken.write_text(RULES.read_text() + 'SUBSYSTEM=="tty", SYMLNK+="gps9"\nKERNEL=="tty*", GOTO="nowhere"\n')
    complaints = udev_complaints(udevadm, broken)
    assert any("SYMLNK" in line for line in complaints) and any("nowhere" in line for line in complaints), complaints
