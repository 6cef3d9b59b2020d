"""A process that writes to an outbox as the agent does, and says what it committed.

    python -m tests.integration.outbox_writer PATH SEED

Prints, after each transaction returned (so it is durable):
``put <seq> <fix json>`` for every fix stored, ``ack <seq> <seq> ...`` for fixes deleted;
and before each ack, ``acking <seq> ...`` (the broker's PUBACK arrived: these may go at any time).
The SIGKILL test kills it at random moments and checks the file against these lines.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from tests.agentkit import drive


async def main(path: Path, seed: int) -> None:
    from agent.outbox import Outbox

    rng = random.Random(seed)
    outbox = await Outbox.open(path, max_fixes=1_000_000)
    pending: list[int] = [s for s, _f in await outbox.after(0, 1_000_000)]
    track = drive(100_000, start=drive(1)[0].time.replace(year=2027 + seed % 50))
    i = 0
    out = sys.stdout
    while True:
        n = rng.randint(1, 40)
        entries = await outbox.put(track[i : i + n])
        i += n
        out.write("".join(f"put {s} {f.to_json()}\n" for s, f in entries))
        out.flush()
        pending.extend(s for s, _f in entries)
        if pending and rng.random() < 0.7:
            k = rng.randint(1, min(len(pending), 300))  # one line under PIPE_BUF: written whole or not at all
            acked, pending = pending[:k], pending[k:]
            out.write("acking " + " ".join(map(str, acked)) + "\n")
            out.flush()
            await outbox.ack(acked)
            out.write("ack " + " ".join(map(str, acked)) + "\n")
            out.flush()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
