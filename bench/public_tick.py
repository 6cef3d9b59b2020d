"""What one public-feed tick costs the collector, at fleet scale.

Fills a real SQLite store (WAL, synchronous=FULL as in production) with
UNITS cars reporting every 5 s for MINUTES minutes, then runs the publisher's
tick every 30 s of simulated time as the service would, with files and the
state on disk, and prints the median and worst time of each part: reading
positions as they were (``Store.latest_at``), the policy (``snapshot``, on the
event loop), saving state and files (fsync, in a worker thread). Baseline in
the same run: reading the newest positions (``Store.latest``), the query the
collector's own views make.

    python bench/public_tick.py [UNITS] [MINUTES]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from collector.fleet import FleetState
from collector.incidents import IncidentBook
from collector.public import PublicPolicy, serialize
from collector.public.settings import PublicSettings
from collector.public.shell import PublicPublisher, live_source
from collector.store import Store, WriteBatch
from common.fix import Fix
from common.wire import DutyStatus, Topics, WireFix

T0 = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
SECRET = b"5f4dcc3b5aa765d61d8327deb882cf99"
FIX_S = 5
TICK_S = 30


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:6.1f} ms, max {max(samples) * 1000:6.1f} ms"


async def bench(units: int, minutes: int, directory: Path) -> None:
    rng = random.Random(1)
    store = await Store.open(directory / "collector.sqlite")
    fleet, book = FleetState(), IncidentBook()
    headings = [rng.uniform(0, 2 * math.pi) for _ in range(units)]
    start = time.perf_counter()
    for step in range(minutes * 60 // FIX_S):
        t = T0 + dt.timedelta(seconds=FIX_S * step)
        batch = WriteBatch()
        for i, heading in enumerate(headings):
            s = 10.0 * FIX_S * step
            lat = 53.2 + (i % 25) * 0.01 + s * math.cos(heading) / 111_320
            lon = -1.5 + (i // 25) * 0.015 + s * math.sin(heading) / 66_700
            batch.add_fixes([WireFix(f"PC-{i:04d}", step + 1, Fix(t, lat, lon, mode=3))], t.timestamp())
        await store.write(batch)
    for i in range(units):
        fleet.apply_status(f"PC-{i:04d}", DutyStatus.AVAILABLE, T0.timestamp())
    print(f"{units} units x {minutes} min at {FIX_S} s: {await store.count_fixes()} fixes "
          f"stored in {time.perf_counter() - start:.1f} s")  # fmt: skip

    policy = PublicPolicy()
    settings = PublicSettings(True, policy, TICK_S, directory / "www", None, directory / "state.json")
    source = live_source(store, fleet, book)
    publisher = PublicPublisher(settings, Topics("bench"), source, SECRET)
    read, newest, compute, total = [], [], [], []
    shown = 0
    for k in range(minutes * 60 // TICK_S + 1):
        now = T0 + dt.timedelta(seconds=TICK_S * k)
        t = time.perf_counter()
        await store.latest_at((now - dt.timedelta(seconds=policy.unit_delay_s)).timestamp())
        read.append(time.perf_counter() - t)
        t = time.perf_counter()
        await store.latest()
        newest.append(time.perf_counter() - t)
        t = time.perf_counter()
        snap, _ = await publisher.compute(now)
        compute.append(time.perf_counter() - t)
        t = time.perf_counter()
        await publisher.tick(now)
        total.append(time.perf_counter() - t)
        shown = max(shown, len(snap.units["features"]))
    await store.close()
    assert publisher.last is not None
    size = len(serialize(publisher.last.units))
    print(f"ticks: {len(total)}, up to {shown} units shown, units.geojson {size / 1024:.0f} KiB, "
          f"state {(directory / 'state.json').stat().st_size / 1024:.0f} KiB")  # fmt: skip
    print(f"  positions as of now - delay (Store.latest_at): {_ms(read)}")
    print(f"  newest positions (Store.latest), baseline:     {_ms(newest)}")
    print(f"  latest_at / latest: {statistics.median(read) / statistics.median(newest):.2f} x the baseline")
    print(f"  inputs + policy (compute):                     {_ms(compute)}")
    print(f"  whole tick (compute, state + files, fsync):    {_ms(total)}")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    units = int(args[0]) if args else 500
    minutes = int(args[1]) if len(args) > 1 else 30
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(bench(units, minutes, Path(directory)))


if __name__ == "__main__":
    main()
