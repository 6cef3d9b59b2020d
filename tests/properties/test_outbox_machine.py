"""The outbox against a plain in-memory model (as Hypothesis's own
test_database_agreement): put, ack, reopen and thinning, on a real SQLite file."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agent.outbox import Outbox
from common.fix import Fix
from tests.strategies import fixes

MAX_FIXES = 24


class OutboxAgreement(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="outbox-machine-"))
        self.path = self.folder / "outbox.sqlite"
        self.keep_every = 2
        self.outbox = self._open()
        self.model: dict[int, Fix] = {}
        self.last_seq = 0
        self.dropped = 0

    def _open(self) -> Outbox:
        return self.loop.run_until_complete(Outbox.open(self.path, max_fixes=MAX_FIXES, keep_every=self.keep_every))

    def _run(self, coroutine):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coroutine)

    @rule(batch=st.lists(fixes(), min_size=1, max_size=12))
    def put(self, batch: list[Fix]) -> None:
        entries = self._run(self.outbox.put(batch))
        assert [f for _s, f in entries] == batch
        assert [s for s, _f in entries] == list(range(self.last_seq + 1, self.last_seq + 1 + len(batch)))
        for seq, fix in entries:
            self.model[seq] = fix
        self.last_seq += len(batch)
        if len(self.model) > MAX_FIXES:
            # The documented rule, written plainly: keep every keep_every-th of the oldest half.
            window = sorted(self.model)[: len(self.model) // 2]
            for i, seq in enumerate(window):
                if i % self.keep_every:
                    del self.model[seq]
                    self.dropped += 1

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        present = sorted(self.model)
        chosen = data.draw(st.lists(st.sampled_from(present), unique=True, max_size=len(present)))
        gone = data.draw(st.lists(st.integers(1, self.last_seq + 5), max_size=3))  # thinned or never there
        self._run(self.outbox.ack(chosen + [s for s in gone if s not in self.model]))
        for seq in chosen:
            del self.model[seq]

    @rule()
    def reopen(self) -> None:
        self._run(self.outbox.close())
        self.outbox = self._open()

    @rule(after=st.integers(0, 60), limit=st.integers(1, 30))
    def read_after(self, after: int, limit: int) -> None:
        expected = [(s, self.model[s]) for s in sorted(self.model) if s > after][:limit]
        assert self._run(self.outbox.after(after, limit)) == expected

    @invariant()
    def agrees(self) -> None:
        assert self.outbox.count == len(self.model)
        assert self.outbox.last_seq == self.last_seq
        assert self.outbox.dropped == self.dropped
        newest = self._run(self.outbox.newest())
        assert newest == (max(self.model), self.model[max(self.model)]) if self.model else newest is None

    def teardown(self) -> None:
        stats = self._run(self.outbox.stats())
        assert stats.backlog == len(self.model) and stats.last_seq == self.last_seq
        assert self._run(self.outbox.integrity_check()) == "ok"
        self._run(self.outbox.close())
        self.loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)


OutboxAgreement.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
TestOutboxAgreement = OutboxAgreement.TestCase
