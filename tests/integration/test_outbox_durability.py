"""The outbox under SIGKILL: a real writer process killed at random moments, in a loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.outbox import Outbox, OutboxCorruptError, OutboxError
from common.fix import Fix

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _read_lines(proc_out: bytes) -> tuple[dict[int, str], set[int], set[int]]:
    """(fixes committed, fixes whose deletion committed, fixes whose deletion began)."""
    put: dict[int, str] = {}
    acked: set[int] = set()
    acking: set[int] = set()
    for line in proc_out.decode().splitlines():
        if not line.endswith("}") and line.startswith("put"):
            continue  # torn last line: the kill came mid-write
        word, _, rest = line.partition(" ")
        if word == "put":
            seq, _, text = rest.partition(" ")
            put[int(seq)] = text
        elif word == "ack" and rest:
            acked.update(int(s) for s in rest.split())
        elif word == "acking" and rest:
            acking.update(int(s) for s in rest.split() if s.isdigit())
    return put, acked, acking


def test_sigkill_loop_never_corrupts_loses_or_resurrects(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    rng = random.Random(7)
    all_put: dict[int, str] = {}
    all_acked: set[int] = set()
    all_acking: set[int] = set()
    for round_ in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.outbox_writer", str(path), str(round_)],
            stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert proc.stdout is not None
        # Wait for the first commit, then kill at a random moment of the writing.
        first = proc.stdout.readline()
        assert first.startswith(b"put "), first
        time.sleep(rng.uniform(0.05, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # Not communicate(): with a timeout it reads the pipe's fd directly and would miss
        # what readline() above already buffered.
        rest = proc.stdout.read()
        proc.stdout.close()
        put, acked, acking = _read_lines(first + rest)
        assert put, "the writer committed nothing"
        assert not set(put) & set(all_put), "a seq was given out twice"
        all_put.update(put)
        all_acked |= acked
        all_acking |= acking

        async def inspect() -> tuple[str, dict[int, Fix], int]:
            outbox = await Outbox.open(path)
            try:
                return (
                    await outbox.integrity_check(),
                    dict(await outbox.after(0, 10_000_000)),
                    outbox.last_seq,
                )
            finally:
                await outbox.close()

        verdict, stored, last_seq = asyncio.run(inspect())
        assert verdict == "ok"
        assert not set(stored) & all_acked, "an acknowledged fix reappeared"
        # A fix whose deletion began (PUBACK received) may or may not be there; any other must be.
        unacked = set(all_put) - all_acking
        assert unacked <= set(stored), f"unacknowledged fixes vanished: {sorted(unacked - set(stored))[:5]}"
        for seq in unacked:
            assert stored[seq] == Fix.from_json(all_put[seq]), f"seq {seq} changed content"
        assert last_seq >= max(all_put)


def test_newer_schema_is_refused_rather_than_dropped(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "outbox.sqlite"

    async def make() -> None:
        outbox = await Outbox.open(path)
        await outbox.put([Fix.from_json('{"time":"2026-01-01T00:00:00.000Z","lat":1.0,"lon":2.0}')])
        await outbox.close()

    asyncio.run(make())
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(OutboxCorruptError, match="newer than this agent"):
        asyncio.run(Outbox.open(path))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM fixes").fetchone() == (1,)


def test_garbage_file_and_missing_file_are_clear_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "outbox.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxCorruptError, match="not a usable outbox"):
        asyncio.run(Outbox.open(garbage))
    assert garbage.read_bytes().startswith(b"this is not")  # left alone for a human to look at
    with pytest.raises(OutboxError, match="no outbox there"):
        asyncio.run(Outbox.open(tmp_path / "absent.sqlite", readonly=True))


def test_concurrent_puts_acks_and_reads_do_not_collide(tmp_path: Path) -> None:
    """The agent's writer, ack flusher and backlog drain share one outbox."""
    from tests.agentkit import drive

    async def go() -> None:
        outbox = await Outbox.open(tmp_path / "outbox.sqlite")
        track = drive(400)
        try:
            first = await outbox.put(track[:100])

            async def writer() -> None:
                for i in range(100, 400, 10):
                    await outbox.put(track[i : i + 10])

            async def acker() -> None:
                for i in range(0, 100, 5):
                    await outbox.ack([s for s, _f in first[i : i + 5]])

            async def reader() -> None:
                for _ in range(30):
                    await outbox.after(0, 50)
                    await outbox.stats()

            await asyncio.gather(writer(), acker(), reader())
            assert outbox.count == 300 and outbox.last_seq == 400
            assert [s for s, _f in await outbox.after(0, 1000)] == list(range(101, 401))
        finally:
            await outbox.close()

    asyncio.run(go())


def test_a_write_cancelled_at_any_moment_keeps_outbox_and_counters_together(tmp_path: Path) -> None:
    """Shutdown cancels the writer wherever it is, even while its COMMIT runs in
    aiosqlite's thread: what it wrote must stay consistent with the seq counter,
    so the next put (the shutdown's own) neither fails nor reuses a seq."""
    rng = random.Random(11)
    when = Fix(dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC), 53.2, -1.4)

    async def go() -> None:
        outbox = await Outbox.open(tmp_path / "outbox.sqlite")
        try:
            for round_ in range(150):
                batch = [when] * rng.randint(1, 50)
                task = asyncio.create_task(outbox.put(batch))
                await asyncio.sleep(rng.uniform(0, 0.004))
                task.cancel()
                if rng.random() < 0.5:
                    ack = asyncio.create_task(outbox.ack(range(1, outbox.last_seq + 1)))
                    await asyncio.sleep(rng.uniform(0, 0.002))
                    ack.cancel()
                entries = await outbox.put([when])  # the shutdown's put: must not fail
                stats = await outbox.stats()
                assert entries[0][0] == outbox.last_seq, round_
                assert stats.backlog == outbox.count, round_
        finally:
            await outbox.close()
        reopened = await Outbox.open(tmp_path / "outbox.sqlite")
        try:
            assert reopened.last_seq == outbox.last_seq and reopened.count == outbox.count
        finally:
            await reopened.close()

    asyncio.run(go())
