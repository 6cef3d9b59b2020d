"""The store writer's group commits: the policy alone, then the writer on a real SQLite store."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from collector.counters import ServiceCounters
from collector.store import Store
from collector.writer import GroupCommit, StoreWriter
from common.fix import Fix
from common.wire import WireFix


def test_gathering_waits_out_the_window_unless_full_or_stopping() -> None:
    policy = GroupCommit(window_s=0.004, max_messages=3)
    assert policy.wait_s(1, 0.0) == 0.004
    assert abs(policy.wait_s(2, 0.003) - 0.001) < 1e-12
    assert policy.wait_s(2, 0.005) == 0.0
    assert policy.wait_s(3, 0.0) == 0.0  # full: commit now
    assert policy.wait_s(1, 0.0, stopping=True) == 0.0


class _Acks:
    """Stands in for the MQTT connection: records what was acknowledged, and when."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.acked: list[int] = []

    def ack_many(self, deliveries: list[tuple[int, int]]) -> None:
        self.acked.extend(mid for mid, _qos in deliveries)


def test_a_burst_is_one_commit_and_acks_follow_it(tmp_path: Path) -> None:
    async def main() -> tuple[int, int, list[int], int]:
        counters = ServiceCounters()
        writer = StoreWriter(counters, GroupCommit(window_s=0.05, max_messages=10_000))
        stopping = asyncio.Event()
        async with await Store.open(tmp_path / "c.sqlite") as store:
            acks = _Acks(store)
            task = asyncio.create_task(writer.run(store, stopping))
            when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
            for seq in range(1, 201):  # one "delivery" per loop round, as paho hands them over
                writer.batch.add_fixes([WireFix("A", seq, Fix(when, 53.0, -1.0))], 1.9e9)
                writer.hold_ack(acks, seq, 1)  # type: ignore[arg-type]
                assert acks.acked == []  # nothing acknowledged before its commit
                await asyncio.sleep(0)
            while len(acks.acked) < 200:
                await asyncio.sleep(0.01)
            stored = await store.count_fixes()
            stopping.set()
            await task
            return counters.batches, stored, acks.acked, counters.fixes_stored

    batches, stored, acked, counted = asyncio.run(main())
    assert stored == counted == 200 and acked == list(range(1, 201))
    assert batches == 1  # 200 messages within the window: one transaction


def test_max_messages_commits_before_the_window_ends(tmp_path: Path) -> None:
    async def main() -> tuple[int, float]:
        counters = ServiceCounters()
        writer = StoreWriter(counters, GroupCommit(window_s=30.0, max_messages=5))
        stopping = asyncio.Event()
        async with await Store.open(tmp_path / "c.sqlite") as store:
            acks: Any = _Acks(store)
            task = asyncio.create_task(writer.run(store, stopping))
            loop = asyncio.get_running_loop()
            started = loop.time()
            for mid in range(5):
                writer.hold_ack(acks, mid, 1)
                await asyncio.sleep(0)
            while len(acks.acked) < 5:
                await asyncio.sleep(0.01)
            took = loop.time() - started
            stopping.set()
            await task
            return counters.batches, took

    batches, took = asyncio.run(main())
    assert batches == 0 and took < 10.0  # an empty batch is not written; acked long before 30 s
