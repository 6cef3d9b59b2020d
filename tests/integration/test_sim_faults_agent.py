"""Each fault kind, injected into a live pty stream, and the agent's receive path survives it.

"Survives" means: no exception escapes the reader, it keeps producing fixes
after the fault, and the fault shows in its counters where it should. The
reader is ``PtyReader`` (tests/integration/sim_helpers.py), whose decoder
counters show each fault precisely; test_sim_faults_agent_service.py runs the
same faults through the real ``activecalls-agent run``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.sim_helpers import PtyReader, sim_process

pytestmark = pytest.mark.integration

START = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
Check = Callable[[PtyReader], bool]

CASES: list[tuple[str, Check]] = [
    ("checksum=0.3", lambda r: r.decoder.stats.rejected_checksum > 5),
    ("drop=0.3", lambda r: r.decoder.stats.decoded < 4 * len(r.fixes)),
    ("garbage=0.3", lambda r: r.decoder.stats.framing.junk > 5),
    ("truncate=0.3", lambda r: r.decoder.stats.missing_checksum > 5),
    ("dup=0.3", lambda r: r.decoder.stats.decoded > 4 * len(r.fixes)),
    ("jump=0.2", lambda r: any(abs(a.lat - b.lat) > 0.002 for a, b in itertools.pairwise(r.fixes))),
    ("rollover", lambda r: all(f.time.year == 2006 for f in r.fixes)),
    ("stall=3@4", lambda r: any((b.time - a.time).total_seconds() >= 3 for a, b in itertools.pairwise(r.fixes))),
    ("unplug=1@4", lambda r: r.reopened >= 1),
]


@pytest.mark.parametrize(("spec", "shows"), CASES, ids=[c[0].split("=")[0].split("@")[0] for c in CASES])
def test_agent_survives(tmp_path: Path, spec: str, shows: Check) -> None:
    device = tmp_path / "gps0"
    # 5 Hz at speed 4: 20 epochs a second; 12 s of drive (3 s wall) cover the fault at 4 s and the recovery.
    args = ["drive", "--route", "a61-derby-road", "--pty", str(device), "--hz", "5", "--speed", "4",
            "--duration", "12", "--faults", spec, "--seed", "3", "--receiver", "none"]  # fmt: skip
    with sim_process(*args) as (process, _):
        reader = PtyReader(device).start()
        finished = process.wait(timeout=60)
        reader.stop()
    assert finished == 0
    assert reader.errors == []
    assert len(reader.fixes) > 20
    after = [f for f in reader.fixes if f.time.replace(year=2026) >= START + dt.timedelta(seconds=9)]
    assert after, "fixes keep coming after the fault"
    assert shows(reader), f"{spec}: the fault did not show: {reader.decoder.stats.as_dict()}"
