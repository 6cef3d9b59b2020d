"""The public site: what the page weighs, and how fast its data is served at fleet scale.

A year of generated public history (100 calls a day) and the snapshots of a
500-car fleet (made by the real policy), served by the real public app
(aiohttp, on loopback, in a thread of its own) with the Chesterfield map layer.
Prints:

- page weight: every file Debian's chromium fetches to show the page ("Now")
  and then its trends, as sent (gzip), from the page's own requests;
- ``/calls.geojson`` and ``/units.geojson``: median and 99th percentile
  latency of sequential keep-alive GETs, against a bare aiohttp handler
  returning the same bytes in the same run (the ratio is the cost of ETags,
  gzip and the security middleware);
- ``/trends.json`` for the whole year: cold (computed) and warm (cached),
  against reading the year's rows alone; ``/open-data/calls.csv`` for a year, cold.

    python bench/public_site.py [CALLS_PER_DAY] [CARS] [REQUESTS]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

# Run as a script, this folder comes first on the path, and bench/collector.py would
# shadow the collector package: the repository goes in front of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web
from playwright.sync_api import sync_playwright

from collector.public import PublicPolicy, PublicState, UnitInput, serialize, snapshot
from collector.public.history_store import PublicHistoryReader, PublicHistoryWriter
from collector.web.basemap import basemap_bytes, places_of
from collector.web.http import WebServer
from collector.web.public import PublicSite, PublishedSnapshots, public_app
from collector.web.site import SiteSettings, site_assets
from common.fix import Fix
from common.paths import DEFAULT_OSM_EXTRACT, data_file
from common.wire import DutyStatus, Incident, IncidentStatus
from simulators.broker import free_port
from simulators.public_history import generate_history

SECRET = b"5f4dcc3b5aa765d61d8327deb882cf99"
REQUESTS = 2000


def fleet_snapshots(cars: int, now: dt.datetime) -> tuple[bytes, bytes]:
    """The units and calls documents of ``cars`` cars and 40 calls, from the policy, after its delays."""
    policy = PublicPolicy(unit_delay_s=60, call_delay_s=60, epsg=27700)
    statuses = [DutyStatus.AVAILABLE, DutyStatus.ENROUTE, DutyStatus.ONSCENE, DutyStatus.DISPATCHED]
    incidents = [
        Incident(f"INC-{k}", ["burglary", "theft", "rtc", "assault"][k % 4], 1 + k % 4,
                 53.2352 + 0.004 * math.sin(k), -1.4264 + 0.006 * math.cos(k), IncidentStatus.OPEN,
                 now - dt.timedelta(minutes=30 + k))
        for k in range(40)
    ]  # fmt: skip
    state, snap = PublicState(), None
    for tick in range(8):
        t = now + dt.timedelta(seconds=30 * tick)
        units = []
        for i in range(cars):
            angle = 2 * math.pi * i / cars
            fix = Fix(t - dt.timedelta(seconds=120), 53.2352 + 0.04 * math.sin(angle) * (i % 7) / 7,
                      -1.4264 + 0.06 * math.cos(angle) * (i % 5) / 5, mode=3)  # fmt: skip
            units.append(UnitInput(f"PC-{i:04d}", statuses[i % 4], (fix,)))
        snap, state = snapshot(policy, state, t, units, incidents, SECRET)
    assert snap is not None
    return serialize(snap.units), serialize(snap.calls)


class ServerThread:
    """An aiohttp app served from its own thread and loop (the client measures from another)."""

    def __init__(self, app: web.Application) -> None:
        self.port = free_port()
        self.server = WebServer(app, "127.0.0.1", self.port)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.start())
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


async def latencies(url: str, n: int) -> list[float]:
    samples = []
    async with aiohttp.ClientSession(headers={"Accept-Encoding": "gzip"}) as session:
        for _ in range(n):
            start = time.perf_counter()
            async with session.get(url) as response:
                await response.read()
                assert response.status == 200, (url, response.status)
            samples.append(time.perf_counter() - start)
    return samples


def ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"median {statistics.median(ordered) * 1000:6.2f} ms, p99 {ordered[int(len(ordered) * 0.99)] * 1000:6.2f} ms"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fetch(url: str) -> tuple[int, float]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        size = len(response.read())
    return size, time.perf_counter() - start


def page_weight(url: str) -> tuple[int, int, list[tuple[str, int]]]:
    """Bytes sent (gzip) for the page with its map and snapshots, then for its trends."""
    seen: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: seen.append(request.url))
        page.goto(url)
        page.wait_for_selector("#calls li", timeout=30_000)
        page.wait_for_timeout(1500)
        now = len(seen)
        page.click("a[data-view=trends]")
        page.wait_for_selector("#chart-response canvas", timeout=30_000)
        browser.close()
    sizes = [(u, fetch(u)[0]) for u in dict.fromkeys(seen)]
    first = set(dict.fromkeys(seen[:now]))
    return sum(s for u, s in sizes if u in first), sum(s for u, s in sizes if u not in first), sizes


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    calls_per_day = float(args[0]) if args else 100.0
    cars = int(args[1]) if len(args) > 1 else 500
    requests = int(args[2]) if len(args) > 2 else REQUESTS
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        writer = PublicHistoryWriter.open(folder / "history.sqlite")
        start = time.perf_counter()
        writer.add(generate_history(now.date() - dt.timedelta(days=365), 365, calls_per_day))
        writer.close()
        reader = PublicHistoryReader(folder / "history.sqlite")
        year_from, year_to = now - dt.timedelta(days=366), now + dt.timedelta(days=1)
        rows = len(reader.calls_sync(year_from, year_to))
        print(f"history: {rows:,} calls over 365 days ({calls_per_day:g} a day), generated in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        units, calls = fleet_snapshots(cars, now)
        print(f"snapshots: units.geojson {len(units) / 1024:.0f} KB ({cars} cars), calls.geojson "
              f"{len(calls) / 1024:.1f} KB ({len(json.loads(calls)['features'])} calls)")  # fmt: skip
        settings = SiteSettings("Bench", "Europe/London", 30, "OGL", "https://example.org/licence")
        layer = basemap_bytes(data_file(DEFAULT_OSM_EXTRACT), folder)
        snapshots = PublishedSnapshots(15)
        snapshots.put(units, calls)
        site = PublicSite(settings, site_assets(settings, layer), snapshots, reader, places_of(json.loads(layer)))
        server = ServerThread(public_app(site))

        async def bare(request: web.Request) -> web.Response:
            return web.Response(body=calls if request.match_info["name"] == "calls" else units,
                                content_type="application/geo+json")  # fmt: skip

        baseline_app = web.Application()
        baseline_app.add_routes([web.get("/{name}.geojson", bare)])
        baseline = ServerThread(baseline_app)
        try:
            now_bytes, trends_bytes, _ = page_weight(server.url)
            print(f"{'page weight':>22}: {now_bytes / 1024:.0f} KB to show the map and calls, "
                  f"+{trends_bytes / 1024:.0f} KB for the trends (gzip, as sent)")  # fmt: skip
            for name in ("calls", "units"):
                ours = asyncio.run(latencies(f"{server.url}{name}.geojson", requests))
                bare_samples = asyncio.run(latencies(f"{baseline.url}{name}.geojson", requests))
                ratio = statistics.median(ours) / statistics.median(bare_samples)
                label = f"/{name}.geojson"
                print(f"{label:>22}: {ms(ours)}  (bare handler: {ms(bare_samples)}; ratio {ratio:.2f})")
            read = min(timed(lambda: reader.calls_sync(year_from, year_to)) for _ in range(3))
            site._answers.clear()  # the page's visit computed the default year: measure a cold one
            query = f"?from={(now.date() - dt.timedelta(days=364)).isoformat()}&to={now.date().isoformat()}"
            size, cold = fetch(server.url + "trends.json" + query)
            warm = statistics.median(fetch(server.url + "trends.json" + query)[1] for _ in range(50))
            label = "/trends.json (a year)"
            print(f"{label:>22}: cold {cold * 1000:.0f} ms, warm {warm * 1000:.2f} ms, {size / 1024:.0f} KB gzip "
                  f"(reading the year's {rows:,} rows alone: {read * 1000:.0f} ms; "
                  f"cold/read {cold / read:.1f})")  # fmt: skip
            size, cold = fetch(server.url + "open-data/calls.csv" + query.replace("364", "365"))
            print(f"{'/open-data/calls.csv':>22}: a year cold {cold * 1000:.0f} ms, {size / 1024:.0f} KB gzip")
        finally:
            server.stop()
            baseline.stop()
            reader.close()


if __name__ == "__main__":
    main()
