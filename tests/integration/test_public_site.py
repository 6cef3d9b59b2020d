"""The public site in a real browser (Debian's chromium, driven by Playwright) against
a running collector fed by a simulated fleet and calls over a real Mosquitto.

One collector for the module (a clock 60 times faster than real time, so the
feed's delays pass in seconds; the page and its server are real), its public
history seeded with a generated year so the trends have data, and a thread
driving eight cars around Chesterfield. Three calls come from CAD: a
burglary (attended), a road collision and a domestic abuse call, which must
appear nowhere. Every response the page receives is checked for anything
private; each test saves screenshots under its temporary folder.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.sync_api import sync_playwright

from collector.public import call_token
from collector.public.history_store import PublicHistoryWriter
from common.fix import Fix
from common.paths import DEFAULT_OSM_EXTRACT, data_file
from common.wire import DutyStatus, Incident, IncidentStatus, WireFix, encode_fix, encode_incident, encode_status
from simulators.broker import Broker, free_port, start_broker, wait_for_port
from simulators.public_history import generate_history
from tests.integration.collectorkit import TOPICS, Client, ServiceThread, load, wait_until, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


SPEED = 60.0
SECRET = b"9f86d081884c7d659a2feaa0c55ad015"
CHROMIUM = "/usr/bin/chromium"
UNITS = [f"PC-{n:02d}" for n in range(1, 9)]
# (id, CAD type, priority, lat, lon): the domestic one is far from the others, so no public call shares its cell.
CALLS = (
    ("INC-1", "Burglary Dwelling", 1, 53.2337, -1.4560),
    ("INC-2", "Road Traffic Collision", 2, 53.2240, -1.4030),
    ("INC-3", "Domestic Abuse", 1, 53.2610, -1.4400),
)
LATE_CALL = ("INC-4", "Shoplifting", 3, 53.2352, -1.4264)
SUPPRESSED = "INC-3"
# What no response of the public site may contain.
PRIVATE = [*UNITS, "INC-", "Domestic", "domestic_abuse", "Burglary Dwelling", "speed", "track", "heading",
           call_token(SECRET, SUPPRESSED)]  # fmt: skip


class FastClock:
    def __init__(self, start: float) -> None:
        self.start = start
        self.origin = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self.origin) * SPEED

    def utc(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self(), dt.UTC)


@dataclass
class Site:
    url: str
    folder: Path
    clock: FastClock
    dispatch: Client
    collector: ServiceThread
    started: dt.datetime
    stop_cars: threading.Event = field(default_factory=threading.Event)

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def document(self, name: str) -> dict[str, Any]:
        status, _, body = self.get(name)
        assert status == 200, (name, status, body[:200])
        return json.loads(body)  # type: ignore[no-any-return]

    def open_call(self, incident_id: str, kind: str, priority: int, lat: float, lon: float,
                  units: tuple[str, ...] = ()) -> None:  # fmt: skip
        call = Incident(incident_id, kind, priority, lat, lon, IncidentStatus.OPEN, self.clock.utc(), units)
        self.dispatch.publish(TOPICS.incident(incident_id), encode_incident(call), retain=True)


def _drive(site: Site) -> None:
    """Eight cars circling the town centre, a fix each every 12 simulated seconds."""
    seq = 0
    while not site.stop_cars.wait(0.2):
        seq += 1
        now = site.clock.utc()
        for k, unit in enumerate(UNITS):
            angle = seq * 0.01 + k
            lat = 53.2352 + 0.012 * (k % 3 - 1) + 0.002 * math.sin(angle)
            lon = -1.4264 + 0.02 * (k % 4 - 1.5)
            fix = Fix(now.replace(microsecond=0), lat, lon, speed=11.0, track=90.0, mode=3)
            site.dispatch.publish(TOPICS.pos(unit), encode_fix(WireFix(unit, seq, fix)), retain=True, wait=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("public-site")
    broker: Broker = start_broker(folder / "broker")
    collector: ServiceThread | None = None
    dispatch: Client | None = None
    running: Site | None = None
    try:
        (folder / "secret").write_bytes(SECRET)
        start = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        # A year of history before now, as the feed would have recorded it.
        history = PublicHistoryWriter.open(folder / "public-history.sqlite")
        history.add(generate_history(start.date() - dt.timedelta(days=365), 365, 40, seed=7))
        history.close()
        port = free_port()
        config = load(write_config(folder, port=broker.port, extra=(
            f'[eta]\nosm = "{data_file(DEFAULT_OSM_EXTRACT)}"\n'
            '[public]\nsecret_file = "secret"\npublic_dir = "www"\nstate_file = "public-state.json"\n'
            "publish_every_s = 1\nunit_delay_s = 120\ncall_delay_s = 60\nepsg = 27700\n"
            f'[web]\nlisten = "127.0.0.1:{port}"\ntitle = "Derbyshire: active calls"\ntimezone = "Europe/London"\n'
        )))  # fmt: skip
        clock = FastClock(start.timestamp())
        collector = ServiceThread(config, clock=clock).start()
        dispatch = Client(broker.port, client_id="dispatch")
        running = Site(f"http://127.0.0.1:{port}/", folder, clock, dispatch, collector, start)
        for n, unit in enumerate(UNITS):
            status = DutyStatus.UNAVAILABLE if n == 7 else DutyStatus.AVAILABLE
            dispatch.publish(TOPICS.status(unit), encode_status(status), retain=True)
        cars = threading.Thread(target=_drive, args=(running,), daemon=True)
        cars.start()
        for incident_id, kind, priority, lat, lon in CALLS:
            running.open_call(incident_id, kind, priority, lat, lon)
        time.sleep(1.5)  # open for a while, then officers are sent and arrive
        running.open_call(*CALLS[0], units=("PC-01",))
        running.open_call(*CALLS[2], units=("PC-02",))
        dispatch.publish(TOPICS.status("PC-01"), encode_status(DutyStatus.ONSCENE), retain=True)
        dispatch.publish(TOPICS.status("PC-02"), encode_status(DutyStatus.ONSCENE), retain=True)

        def ready() -> bool:
            status, _, body = running.get("calls.geojson")
            if status != 200:
                return False
            shown = json.loads(body)["features"]
            return len(shown) == 2 and any(f["properties"]["status"] == "attending" for f in shown)

        wait_until(ready, 60, "the public feed showing both public calls, one attended")
        yield running
    finally:
        if running is not None:
            running.stop_cars.set()
        if dispatch is not None:
            dispatch.close()
        if collector is not None:
            assert collector.stop() == 0
        broker.stop()


@dataclass
class Recorder:
    """Every response the page received, with its body, checked for anything private."""

    origin: str
    seen: list[tuple[str, int, bytes]] = field(default_factory=list)

    def __call__(self, response: Any) -> None:
        try:
            body = response.body()
        except Exception:  # a redirect or an aborted request has no body
            body = b""
        self.seen.append((response.url, response.status, body))

    def check(self) -> None:
        assert self.seen, "the page made no request"
        for url, status, body in self.seen:
            assert url.startswith(self.origin), f"the page asked another origin: {url}"
            assert status < 400, f"{url}: {status}"
            if "/static/vendor/" in url:
                continue  # the libraries' own code (uPlot's source contains the word "track")
            for word in PRIVATE:
                assert word.encode() not in body, f"{url} contains {word!r}"


def _browser(p: Any) -> Any:
    return p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-quic",
                             "--disable-background-networking", "--disable-component-update"])  # fmt: skip


def _page(browser: Any, site: Site, width: int, height: int) -> tuple[Any, Recorder, list[str]]:
    """A page whose every response is recorded, and whose script errors are collected."""
    page = browser.new_page(viewport={"width": width, "height": height})
    recorder = Recorder(site.url.rstrip("/"))
    page.on("response", recorder)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return page, recorder, errors


def test_every_published_call_is_listed_and_mapped_and_the_suppressed_one_nowhere(site: Site, tmp_path: Path) -> None:
    with sync_playwright() as p:
        browser = _browser(p)
        page, recorder, errors = _page(browser, site, 1280, 900)
        page.goto(site.url)
        calls = site.document("calls.geojson")
        tokens = {f["properties"]["call"] for f in calls["features"]}
        for token in tokens:
            page.wait_for_selector(f'#calls li[data-call="{token}"]', timeout=15_000)
            page.wait_for_selector(f'path.call-marker[data-call="{token}"]', state="attached", timeout=15_000)
        statement = page.inner_text("#statement")
        assert f"appear {calls['delay_s'] // 60} minute" in statement and f"{calls['cell_m']} m square" in statement
        units = site.document("units.geojson")
        assert f"as they were {units['delay_s'] // 60} minutes ago" in statement
        assert page.locator("path.unit-marker").count() == len(units["features"]) > 0
        assert "© OpenStreetMap contributors" in page.inner_text(".leaflet-control-attribution")
        attended = [f for f in calls["features"] if f["properties"]["status"] == "attending"]
        first = attended[0]["properties"]["call"]
        assert "officers attending" in page.inner_text(f'li[data-call="{first}"]')
        page.screenshot(path=str(tmp_path / "now-desktop.png"), full_page=True)

        # A call opened now appears without reloading (the page polls the snapshots).
        site.open_call(*LATE_CALL)
        late = call_token(SECRET, LATE_CALL[0])
        page.wait_for_selector(f'#calls li[data-call="{late}"]', timeout=30_000)
        shown = set(page.eval_on_selector_all("#calls li", "items => items.map(i => i.dataset.call)"))
        assert shown == tokens | {late}
        assert call_token(SECRET, SUPPRESSED) not in page.content()

        # Keyboard: a call in the list opens its place on the map.
        page.focus(f'li[data-call="{late}"] button')
        page.keyboard.press("Enter")
        page.wait_for_selector(".leaflet-popup-content", timeout=5_000)
        assert "Theft" in page.inner_text(".leaflet-popup-content")
        page.screenshot(path=str(tmp_path / "now-popup.png"))
        assert not errors, errors
        browser.close()
    recorder.check()
    assert any(url.endswith("/basemap.json") or "/basemap.json?" in url for url, _, _ in recorder.seen)


def test_the_page_works_on_a_360_px_phone(site: Site, tmp_path: Path) -> None:
    with sync_playwright() as p:
        browser = _browser(p)
        page, recorder, errors = _page(browser, site, 360, 740)
        page.goto(site.url)
        page.wait_for_selector("#calls li", timeout=15_000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, "the page scrolls sideways"
        for selector in ("#statement", "#map", "#calls"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, selector
        page.screenshot(path=str(tmp_path / "now-phone.png"), full_page=True)
        page.click("a[data-view=trends]")
        page.wait_for_selector("#chart-response canvas", timeout=20_000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, "the trends scroll sideways"
        page.screenshot(path=str(tmp_path / "trends-phone.png"), full_page=True)
        assert not errors, errors
        browser.close()
    recorder.check()


def test_trends_charts_have_data_and_a_table_alternative(site: Site, tmp_path: Path) -> None:
    with sync_playwright() as p:
        browser = _browser(p)
        page, recorder, errors = _page(browser, site, 1280, 900)
        page.goto(site.url)
        page.wait_for_selector("#calls li", timeout=15_000)
        # Keyboard only: from the top of the page to the Trends link.
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.dataset.view") == "trends":
                break
        focused = page.evaluate("document.activeElement.dataset.view")
        assert focused == "trends", "the Trends link is not reachable by Tab"
        page.keyboard.press("Enter")
        charts = ("chart-daily", "chart-hours", "chart-areas", "chart-response")
        for chart in charts:
            page.wait_for_selector(f"#{chart} canvas", timeout=20_000)
            label = page.get_attribute(f"#{chart} .plot", "aria-label") or ""
            assert "calls" in label.lower() or "minutes" in label.lower(), (chart, label)
            caption = page.inner_text(f"#{chart} figcaption")
            assert "What it cannot tell you" in caption
        trends = json.loads(next(body for url, _, body in recorder.seen if "/trends.json" in url))
        assert trends["calls"] > 1000 and trends["categories"]
        medians = [m for m in trends["response"]["by_priority"]["emergency"]["median"] if m is not None]
        assert medians, "no weekly median of emergency response times"
        page.focus("#chart-areas summary")
        page.keyboard.press("Enter")
        rows = page.locator("#chart-areas tbody tr")
        rows.first.wait_for(timeout=5_000)  # the table is built when opened
        assert rows.count() == len(trends["areas"]["names"]) > 3
        assert "Chesterfield" in page.inner_text("#chart-areas tbody")
        page.screenshot(path=str(tmp_path / "trends-desktop.png"), full_page=True)
        assert not errors, errors
        browser.close()
    recorder.check()


def test_open_data_has_the_published_calls_only(site: Site, tmp_path: Path) -> None:
    day = site.started.date()
    query = f"?from={day - dt.timedelta(days=1)}&to={day + dt.timedelta(days=1)}"
    status, headers, body = site.get("open-data/calls.csv" + query)
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    lines = body.decode().splitlines()
    assert lines[0] == "call,opened,category,priority,lat,lon,first_attending,closed,response_min"
    published = {call_token(SECRET, c[0]) for c in CALLS[:2]}
    assert published <= {line.split(",")[0] for line in lines[1:]}
    for word in PRIVATE:
        assert word not in body.decode()
    status, _, body = site.get("open-data/calls.geojson" + query)
    assert status == 200
    features = json.loads(body)["features"]
    assert published <= {f["properties"]["call"] for f in features}
    with sync_playwright() as p:
        browser = _browser(p)
        page, recorder, errors = _page(browser, site, 1280, 900)
        page.goto(site.url + "#open-data")
        page.wait_for_selector("#dictionary tbody tr", timeout=15_000)
        assert page.locator("#dictionary tbody tr").count() == 9
        assert "Licence: Open Government Licence v3.0" in page.inner_text("#licence")
        page.screenshot(path=str(tmp_path / "open-data.png"), full_page=True)
        assert not errors, errors
        browser.close()
    recorder.check()


def test_the_exported_static_site_works_behind_a_plain_web_server(site: Site, tmp_path: Path) -> None:
    """``public export-site`` into the feed's folder, served by Python's http.server: same page, same calls."""
    config = site.folder / "collector.toml"
    export = subprocess.run([sys.executable, "-m", "collector.cli", "public", "export-site", "--config", str(config)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert export.returncode == 0 and "wrote" in export.stdout, export.stderr
    www = site.folder / "www"
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(www)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for_port("127.0.0.1", port)
        static = replace(site, url=f"http://127.0.0.1:{port}/")
        tokens = {f["properties"]["call"] for f in static.document("calls.geojson")["features"]}
        with sync_playwright() as p:
            browser = _browser(p)
            page, recorder, errors = _page(browser, static, 1280, 900)
            page.goto(static.url)
            for token in tokens:
                page.wait_for_selector(f'#calls li[data-call="{token}"]', timeout=15_000)
            page.click("a[data-view=trends]")
            page.wait_for_selector("#chart-response canvas", timeout=20_000)
            page.click("a[data-view=open-data]")
            assert page.locator("#download a[href='open-data/calls.csv']").count() == 1
            page.screenshot(path=str(tmp_path / "static-open-data.png"), full_page=True)
            assert not errors, errors
            browser.close()
        recorder.check()
    finally:
        server.terminate()
        server.wait(10)


PATHS = ["", "units.geojson", "calls.geojson", "trends.json", "open-data/calls.csv", "open-data/calls.geojson",
         "site.json", "basemap.json", "open-data/datapackage.json", "static/app.js", "nothing", "static/../secret",
         "public-state.json", "collector.sqlite", "public-history.sqlite"]  # fmt: skip
query_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(PATHS),
    params=st.lists(
        st.tuples(st.sampled_from(["from", "to", "unit", "id", "all", "private", "v", "x"]), query_text), max_size=4
    ),
)  # fmt: skip
def test_no_query_reaches_anything_private(site: Site, path: str, params: list[tuple[str, str]]) -> None:
    query = urllib.parse.urlencode(params)
    status, headers, body = site.get(path + ("?" + query if query else ""))
    assert status in (200, 400, 404), (path, query, status, body[:200])
    if "/vendor/" not in path:
        for word in PRIVATE:
            assert word.encode() not in body, (path, query, word)
    assert not re.search(rb"Traceback|File \"", body)
    if path in ("trends.json", "open-data/calls.csv", "open-data/calls.geojson") and status == 400:
        assert body.count(b"\n") == 1 and headers.get("Cache-Control") == "no-store"


def test_snapshots_revalidate_with_etags(site: Site) -> None:
    status, headers, _ = site.get("calls.geojson")
    assert status == 200 and headers["ETag"] and "public" in headers["Cache-Control"]
    request = urllib.request.Request(site.url + "calls.geojson", headers={"If-None-Match": headers["ETag"]})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            code = response.status  # a new snapshot was published in between
    except urllib.error.HTTPError as exc:
        code = exc.code
    assert code in (200, 304)
    gz = urllib.request.Request(site.url + "static/app.js", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(gz, timeout=10) as response:
        assert response.headers["Content-Encoding"] == "gzip" and "immutable" in response.headers["Cache-Control"]
