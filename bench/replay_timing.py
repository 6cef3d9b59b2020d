"""Replay timing through a real pty: the acceptance check on a 60 s excerpt.

Replays the first 61 epochs (60 s) of tests/data/gpsd/ublox-neo-m9n-nmea.log
through ``activecalls-sim replay --pty`` at --speed 1 and --speed 10, reads
the pty with the agent's decoder, and compares the spacing of fixes as they
arrive with the spacing of their times in the log.

Targets: median |error| <= 50 ms at speed 1; <= 10 % of the log's spacing at
speed 10. Takes about 70 s.

    python bench/replay_timing.py [LOG] [EPOCHS]
"""

from __future__ import annotations

import itertools
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import GPSD_CORPUS
from tests.integration.sim_helpers import sim_process
from tests.integration.test_sim_replay_pty import read_to_end


def main() -> int:
    log = Path(sys.argv[1]) if len(sys.argv) > 1 else GPSD_CORPUS / "ublox-neo-m9n-nmea.log"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 61
    ok = True
    with __import__("tempfile").TemporaryDirectory() as tmp:
        device = str(Path(tmp) / "gps0")
        for speed in (1, 10):
            with sim_process("replay", str(log), "--pty", device, "--speed", str(speed), "--count", str(count)):
                fixes, arrivals = read_to_end(device, timeout=count / speed + 30)
            want = [(b.time - a.time).total_seconds() for a, b in itertools.pairwise(fixes)]
            got = [(b - a) * speed for a, b in itertools.pairwise(arrivals)]
            errors = [abs(g - w) for g, w in zip(got, want)]
            median = statistics.median(errors)
            if speed == 1:
                passed = median <= 0.050
                target = "<= 50 ms"
            else:
                passed = median <= 0.10 * statistics.median(want)
                target = f"<= 10 % of {statistics.median(want):.3f} s"
            ok &= passed
            span = (fixes[-1].time - fixes[0].time).total_seconds()
            print(f"speed {speed:>2}: {len(fixes)} fixes over {span:.0f} s of log; spacing error (log time) "
                  f"median {median * 1000:.1f} ms, max {max(errors) * 1000:.1f} ms; target {target}: "
                  f"{'OK' if passed else 'FAIL'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
