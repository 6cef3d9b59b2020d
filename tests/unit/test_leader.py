"""Which collector does the once-duties: the rules, and the advisory lock on a real PostgreSQL."""

from __future__ import annotations

import asyncio

from collector.leader import ONCE_DUTIES, AdvisoryLeader, SoleLeader, lock_key, runs_here


def test_once_duties_run_only_in_the_leader_the_rest_everywhere() -> None:
    assert {"eta", "public", "retention"} == ONCE_DUTIES
    for duty in ONCE_DUTIES:
        assert runs_here(duty, leader=True) and not runs_here(duty, leader=False)
    for duty in ("stats", "dead-letters", "learn"):
        assert runs_here(duty, leader=False)
    assert SoleLeader.is_leader


def test_lock_keys_are_stable_per_fleet_and_fit_a_bigint() -> None:
    assert lock_key("derbyshire") == lock_key("derbyshire") != lock_key("notts")
    assert all(-(2**63) <= lock_key(f"f{i}") < 2**63 for i in range(100))


def test_one_holder_at_a_time_and_the_other_takes_over(pg_url: str) -> None:
    async def main() -> list[tuple[str, bool]]:
        changes: list[tuple[str, bool]] = []
        key = lock_key("test")
        a = AdvisoryLeader(pg_url, key, poll_s=0.1, on_change=lambda leader: changes.append(("a", leader)))
        b = AdvisoryLeader(pg_url, key, poll_s=0.1, on_change=lambda leader: changes.append(("b", leader)))
        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        task_a = asyncio.create_task(a.run(stop_a))
        while not a.is_leader:
            await asyncio.sleep(0.02)
        task_b = asyncio.create_task(b.run(stop_b))
        await asyncio.sleep(0.5)
        assert a.is_leader and not b.is_leader
        stop_a.set()  # a's session ends: the server lets the lock go
        await task_a
        for _ in range(100):
            if b.is_leader:
                break
            await asyncio.sleep(0.05)
        stop_b.set()
        await task_b
        return changes

    assert asyncio.run(main()) == [("a", True), ("a", False), ("b", True), ("b", False)]
