"""Acceptance run of the fleet load generator against a local Mosquitto.

Starts Mosquitto on a free loopback port, runs

    activecalls-sim fleet --units 500 --hz 1 --duration 60

as a separate process, prints its report (what it sent, what the broker
acknowledged, its own CPU time) and checks: at least 29,500 positions
acknowledged. Takes about 70 s.

    python bench/fleet.py [UNITS] [DURATION_S]
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulators.broker import start_broker


def main() -> int:
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    duration = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    target = round(units * duration * 29_500 / 30_000)  # 29,500 for the acceptance run
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_broker(Path(tmp) / "broker")
        try:
            command = [sys.executable, "-m", "simulators.cli", "fleet", "--host", broker.host, "--port",
                       str(broker.port), "--units", str(units), "--hz", "1", "--duration", str(duration)]  # fmt: skip
            print("$", " ".join(["activecalls-sim", *command[3:]]), flush=True)
            out = subprocess.run(command, capture_output=True, text=True, check=False)
        finally:
            broker.stop()
    print(out.stdout, end="")
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return 1
    acked = int(re.search(r"positions acknowledged: (\d+)", out.stdout).group(1))  # type: ignore[union-attr]
    print(f"acknowledged positions: {acked} (target >= {target}): {'OK' if acked >= target else 'FAIL'}")
    return 0 if acked >= target else 1


if __name__ == "__main__":
    sys.exit(main())
