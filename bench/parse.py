"""``activecalls-agent parse`` as a user runs it, against plain pynmea2 and gpsd's gpsdecode.

Writes a synthetic 1 Hz GGA+RMC+GSA+VTG trace of EPOCHS epochs to a file, then
times whole processes on it (start-up, reading, decoding and writing output
to a file all included), best of RUNS, interleaved so load affects each alike:

  baseline:  python -c 'for line in file: pynmea2.parse(line)'  (no output)
  ours:      activecalls-agent parse TRACE > out.jsonl
  gpsdecode: gpsdecode -j < TRACE > out.json   (gpsd's C decoder, if installed)

and prints the rates, ours/baseline (target >= 0.5) and ours/gpsdecode.
The same three are then timed on the gpsd regression logs in tests/data/gpsd
(all concatenated: what real receivers send, comments, binary and all).

    python bench/parse.py [EPOCHS] [RUNS]
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from agent.formatter import format_fix
from common.fix import Fix

ROOT = Path(__file__).resolve().parents[1]
AGENT = Path(sys.executable).with_name("activecalls-agent")
# Every line through pynmea2.parse, errors passed over (real logs have comments and garbage).
BASELINE = """\
import sys, pynmea2
parse, error = pynmea2.parse, pynmea2.ParseError
for line in open(sys.argv[1], errors="replace"):
    try:
        parse(line)
    except error:
        pass
"""


def synthetic_trace(epochs: int) -> bytes:
    start = dt.datetime(2026, 11, 28, 8, 0, 0, tzinfo=dt.UTC)
    parts: list[bytes] = []
    for i in range(epochs):
        angle = i / 600.0
        fix = Fix(
            start + dt.timedelta(seconds=i),
            53.235 + 0.01 * math.sin(angle),
            -1.421 + 0.015 * math.cos(angle),
            alt=90.0 + (i % 20) / 10,
            speed=13.4,
            track=(math.degrees(angle) + 90.0) % 360.0,
            mode=3,
            hdop=0.9,
            sats=9,
        )
        parts.extend(format_fix(fix, sentences=("GGA", "RMC", "GSA", "VTG")))
    return b"".join(parts)


def run_once(argv: Sequence[str], stdin: Path | None, stdout: Path) -> float:
    with open(stdout, "wb") as out, open(stdin or "/dev/null", "rb") as inp:
        t0 = time.perf_counter()
        subprocess.run(argv, stdin=inp, stdout=out, check=True)
        return time.perf_counter() - t0


def compare(trace: Path, runs: int, work: Path) -> dict[str, float]:
    """Best-of-``runs`` seconds for each command on ``trace``."""
    commands: dict[str, tuple[list[str], Path | None]] = {
        "baseline": ([sys.executable, "-c", BASELINE, str(trace)], None),
        "ours": ([str(AGENT), "parse", str(trace)], None),
    }
    gpsdecode = shutil.which("gpsdecode")
    if gpsdecode:
        commands["gpsdecode"] = ([gpsdecode, "-j"], trace)
    best = dict.fromkeys(commands, math.inf)
    for _ in range(runs):
        for name, (argv, stdin) in commands.items():
            best[name] = min(best[name], run_once(argv, stdin, work / f"{name}.out"))
    return best


def count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def report(title: str, lines: int, best: dict[str, float], work: Path) -> None:
    fixes = count_lines(work / "ours.out")
    print(title)
    labels = {
        "baseline": "baseline pynmea2.parse per line:",
        "ours": "activecalls-agent parse:",
        "gpsdecode": "gpsdecode -j:",
    }
    for name, seconds in best.items():
        tail = f" -> {fixes} fixes" if name == "ours" else ""
        print(f"  {labels[name]:33} {seconds:6.2f} s  {lines / seconds:10,.0f} lines/s{tail}")
    print(f"  ratio ours/baseline: {best['baseline'] / best['ours']:.2f} (target >= 0.5)")
    if "gpsdecode" in best:
        print(f"  ratio ours/gpsdecode: {best['gpsdecode'] / best['ours']:.2f}")
    else:
        print("  gpsdecode not installed (apt-get install gpsd-clients): not compared")


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        work = Path(tmp)
        trace = work / "trace.nmea"
        trace.write_bytes(synthetic_trace(epochs))
        lines = epochs * 4
        best = compare(trace, runs, work)
        fixes = count_lines(work / "ours.out")
        assert fixes == epochs, (fixes, epochs)
        title = f"synthetic trace: {epochs} epochs, {lines} sentences (GGA+RMC+GSA+VTG at 1 Hz)"
        report(f"{title}, whole processes, best of {runs}", lines, best, work)

        logs = sorted((ROOT / "tests" / "data" / "gpsd").glob("*.log"))
        real = work / "gpsd-logs.nmea"
        real.write_bytes(b"".join(p.read_bytes() for p in logs) * 10)
        real_lines = real.read_bytes().count(b"\n")
        best = compare(real, runs, work)
        title = f"gpsd regression logs: {len(logs)} logs x 10, {real_lines} lines"
        report(f"{title}, whole processes, best of {runs}", real_lines, best, work)


if __name__ == "__main__":
    main()
