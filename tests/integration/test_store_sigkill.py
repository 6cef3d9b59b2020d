"""A process writing the store is killed with SIGKILL at random moments: every batch
it acknowledged is there after a restart, and nothing is counted twice."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

# Writes batches of 50 fixes of unit U, each batch overlapping the previous one by
# 10 fixes (duplicates, as a resent backlog); prints the last seq of each batch
# once the write returned: that is the acknowledgement.
WRITER = r"""
import asyncio, datetime as dt, sys
from common.fix import Fix
from common.wire import WireFix
from collector.store import Store, WriteBatch

async def main(path, first):
    store = await Store.open(path)
    seq = first
    while True:
        batch = WriteBatch()
        fixes = [WireFix("U", s, Fix(dt.datetime.fromtimestamp(1.8e9 + s, dt.UTC), 53.0, -1.0))
                 for s in range(max(1, seq - 10), seq + 50)]
        batch.add_fixes(fixes, 1.8e9)
        await store.write(batch)
        print(seq + 49, flush=True)
        seq += 50

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def run_until_killed(path: Path, first: int, acks_wanted: int, rng: random.Random) -> int:
    """Start the writer, SIGKILL it at a random moment after ``acks_wanted``
    acknowledgements; return the last acknowledged seq."""
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(first)], stdout=subprocess.PIPE, text=True)
    acked = first - 1
    try:
        assert process.stdout is not None
        for _ in range(acks_wanted):
            line = process.stdout.readline()
            assert line, "writer died on its own"
            acked = int(line)
        time.sleep(rng.uniform(0, 0.02))  # somewhere inside a later batch
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        # Lines written before the kill are acknowledgements too.
        for line in process.stdout:
            if line.endswith("\n"):
                acked = int(line)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    return acked


def test_sigkill_loses_nothing_acknowledged_and_counts_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "collector.db"
    rng = random.Random(20261128)
    first = 1
    for _ in range(4):
        acked = run_until_killed(path, first, rng.randint(1, 15), rng)
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            count, low, high = db.execute("SELECT count(*), min(seq), max(seq) FROM fixes").fetchone()
            latest = db.execute("SELECT seq FROM latest WHERE unit = 'U'").fetchone()[0]
        assert low == 1 and high >= acked  # everything acknowledged is there
        assert count == high  # batches are atomic: no holes, no seq twice
        assert latest == high  # the newest position was kept in the same transaction
        first = acked + 1  # restart where the acknowledgements ended; overlap resends duplicates
