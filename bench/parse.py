"""Throughput of the whole decode (framer + parse + assembly) against plain pynmea2.

Builds a synthetic 1 Hz GGA+RMC+GSA+VTG trace of EPOCHS epochs, then times,
in the same run and on the same lines:
  baseline: pynmea2.parse(line) for every line (what a naive agent would do)
  ours:     NmeaDecoder.feed() over the byte stream in 4 KiB reads, to fixes
and prints both rates and ours/baseline. Target: ratio >= 0.5.

    python bench/parse.py [EPOCHS]
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import time

import pynmea2

from agent.decoder import NmeaDecoder
from agent.formatter import format_fix
from common.fix import Fix


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


def best_of(runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    best = math.inf
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    data = synthetic_trace(epochs)
    lines = data.decode("ascii").splitlines()
    n = len(lines)

    def baseline() -> None:
        parse = pynmea2.parse
        for line in lines:
            parse(line)

    fixes: list[Fix] = []

    def ours() -> None:
        fixes.clear()
        decoder = NmeaDecoder()
        for i in range(0, len(data), 4096):
            fixes.extend(decoder.feed(data[i : i + 4096]))
        fixes.extend(decoder.finish())

    t_base = best_of(3, baseline)
    t_ours = best_of(3, ours)
    assert len(fixes) == epochs, (len(fixes), epochs)
    base_rate, our_rate = n / t_base, n / t_ours
    print(f"trace: {epochs} epochs, {n} sentences (GGA+RMC+GSA+VTG at 1 Hz), {len(data) / 1e6:.1f} MB")
    print(f"baseline pynmea2.parse per line: {base_rate:10,.0f} sentences/s")
    print(f"ours (framer+decode+assembly):   {our_rate:10,.0f} sentences/s -> {len(fixes)} fixes")
    print(f"ratio ours/baseline: {our_rate / base_rate:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
