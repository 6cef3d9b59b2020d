"""``activecalls-agent receiver apply/detect`` end to end: a real process, a real pty, the
simulator's receiver emulation answering (MediaTek and u-blox) and then sending at the new
rate and with the new sentences, which the command measures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.agentkit import agent_command
from tests.integration.sim_helpers import sim_process

pytestmark = pytest.mark.integration


def receiver(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*agent_command(), "receiver", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@pytest.mark.parametrize(
    ("family", "profile", "steps", "banner"),
    [("mtk", "mtk-l76", 5, "MediaTek PA6H"), ("ublox8", "ublox-m8", 10, "u-blox NEO-M8N-0"),
     ("ublox9", "ublox-m9", 4, "u-blox NEO-M9N-00B")],
)  # fmt: skip
def test_apply_then_detect(tmp_path: Path, family: str, profile: str, steps: int, banner: str) -> None:
    device = tmp_path / "gps0"
    with sim_process("drive", "--pty", str(device), "--receiver", family, "--start", "now", "--seed", "3", "-v") as (
        sim,
        _,
    ):
        done = receiver("apply", profile, "--port", device, "--timeout", "0.5")
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith(f"{device}: {banner}") and lines[0].endswith("at 9600 baud")
        step_lines = lines[1 : 1 + steps]
        assert all(line.startswith("✓ ") for line in step_lines), done.stdout
        assert any("baud 38400" in line and "now at 38400 baud" in line for line in step_lines)
        assert lines[1 + steps].startswith("✓ verify rate") and "5.0 Hz measured" in lines[1 + steps]
        assert " ".join(lines[2 + steps].split()) == "✓ verify sentences GGA, GSA, RMC; off: " + (
            "GLL, VTG, GSV" if family == "mtk" else "GLL, GSV, VTG")  # fmt: skip
        assert lines[-1].startswith(f"done: {steps} steps acknowledged, output verified")
        assert done.stderr == ""
        found = receiver("detect", "--port", device, "--baud", "38400", "--seconds", "1.5")
        assert found.returncode == 0, found.stderr
        assert f"family {family}" in found.stdout and "outputs GGA, GSA, RMC at 5.0 Hz" in found.stdout
    assert sim.returncode == 0


def test_plain_nmea_is_detected_and_refused(tmp_path: Path) -> None:
    device = tmp_path / "gps0"
    with sim_process("drive", "--pty", str(device), "--receiver", "none", "--start", "now", "--hz", "2"):
        found = receiver("detect", "--port", device, "--seconds", "2")
        assert found.returncode == 0, found.stderr
        assert "generic NMEA" in found.stdout and "family nmea" in found.stdout
        assert "outputs GGA, GSA, RMC, VTG at 2.0 Hz" in found.stdout
        refused = receiver("apply", "mtk-l76", "--port", device)
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            "activecalls-agent receiver apply: error: the receiver is generic NMEA (answers neither UBX nor $PMTK):"
            " it cannot be configured"
        ]


def test_user_mistakes_are_one_line_exit_2(tmp_path: Path) -> None:
    for args, words in [
        (("apply", "ublox-m7", "--port", tmp_path / "gps0"), "no receiver profile named 'ublox-m7'"),
        (("apply", "mtk-l76", "--port", tmp_path / "gps0"), f"cannot open {tmp_path / 'gps0'}: no such device"),
        (("detect", "--port", "socket://"), "cannot open socket://"),
    ]:
        done = receiver(*args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], done.stderr
