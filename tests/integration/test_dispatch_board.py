"""The dispatcher's board in a real browser (Debian's chromium, driven by Playwright) against a
running collector over a real Mosquitto, with three cars reporting each second.

Screenshots go to the test's folder, and to ``$ACTIVECALLS_SCREENSHOTS`` when set
(``ACTIVECALLS_SCREENSHOTS=docs`` remakes the ones the docs show).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from common.wire import UnitState, encode_state
from tests.integration.collectorkit import TOPICS
from tests.integration.dispatchkit import ALICE_TOKEN, Board, start_board, stop_board

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    running = start_board(tmp_path_factory.mktemp("dispatch-board"))
    try:
        yield running
    finally:
        stop_board(running)


def _shot(page: Any, folder: Path, name: str, **kwargs: Any) -> None:
    page.screenshot(path=str(folder / name), **kwargs)
    target = os.environ.get("ACTIVECALLS_SCREENSHOTS")
    if target:
        shutil.copy(folder / name, Path(target) / name)


def _browser(p: Any) -> Any:
    return p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-quic",
                             "--disable-background-networking", "--disable-component-update"])  # fmt: skip


def _login(browser: Any, board: Board, width: int = 1400, height: int = 900) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(board.url)
    assert page.url.endswith("/login")
    page.fill("#token", ALICE_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#link[data-state=live]", timeout=10_000)
    return page, errors


def test_log_in_see_an_incident_ranked_assign_the_recommended_and_a_stopped_car_turn_stale(
    board: Board, tmp_path: Path
) -> None:
    with sync_playwright() as p:
        browser = _browser(p)
        page, errors = _login(browser, board)
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["ac-board"]["httpOnly"] and cookies["ac-board"]["sameSite"] == "Strict"

        # A CAD opens an incident: it appears with its ranked units within 2 s.
        started = time.monotonic()
        body = {"id": "CAD-B1", "type": "burglary", "priority": 1, "lat": 53.2355, "lon": -1.4262}
        assert board.request("POST", "/api/incidents", body)[0] == 201
        page.wait_for_selector('#incidents li[data-id="CAD-B1"]', timeout=2_000)
        page.wait_for_selector(
            '#candidates tr.recommended[data-unit="PC-1"]',
            timeout=max(100, 2_000 - 1000 * (time.monotonic() - started)),
        )
        assert time.monotonic() - started < 2.0
        rows = page.eval_on_selector_all("#candidates tr", "rows => rows.map(r => r.dataset.unit)")
        assert rows[0] == "PC-1" and set(rows) >= {"PC-1", "PC-2"}
        assert "PC-3" not in rows  # onscene: busy units are not candidates (collector.eta)
        assert "slower than PC-1" in page.inner_text('#candidates tr[data-unit="PC-2"] .why')
        assert "© OpenStreetMap contributors" in page.inner_text(".leaflet-control-attribution")
        page.wait_for_timeout(500)
        _shot(page, tmp_path, "dispatch-board.png")

        # One keystroke assigns the recommended unit; the recommendation moves on.
        page.keyboard.press("a")
        page.wait_for_selector('#candidates tr.recommended[data-unit="PC-2"]', timeout=10_000)
        assert "assigned already" in page.inner_text('#candidates tr[data-unit="PC-1"] .why')
        assert board.collector.call(lambda s: getattr(s.incidents.get("CAD-B1"), "units", None)) == ("PC-1",)

        # Duty set from the board.
        page.select_option('select.duty[data-unit="PC-1"]', "enroute")
        row = "document.querySelector('#candidates tr[data-unit=\"PC-1\"]')"
        page.wait_for_function(f"() => {row}.innerText.includes('enroute')", timeout=10_000)

        # PC-2's agent stops: its row turns stale (threshold 1 s x 2 + 2 s), and no longer recommended.
        board.stop_car("PC-2")
        page.wait_for_selector('#units tr.stale[data-unit="PC-2"]', timeout=15_000)
        page.wait_for_selector('#candidates tr.stale[data-unit="PC-2"]', timeout=15_000)
        # PC-3's agent drops its connection (its last will says offline): OFFLINE on its row.
        board.client.publish(TOPICS.state("PC-3"), encode_state(UnitState.OFFLINE), retain=True)
        page.wait_for_selector('#units tr.offline[data-unit="PC-3"] .flag.offline', timeout=5_000)
        page.wait_for_timeout(300)
        _shot(page, tmp_path, "dispatch-board-stale.png")

        # Close from the board.
        page.on("dialog", lambda d: d.accept())
        page.click("#close-incident")
        page.wait_for_selector('#incidents li[data-id="CAD-B1"]', state="detached", timeout=10_000)
        assert not errors, errors
        browser.close()


def test_open_an_incident_by_clicking_the_map_and_the_phone_layout(board: Board, tmp_path: Path) -> None:
    with sync_playwright() as p:
        browser = _browser(p)
        page, errors = _login(browser, board, 360, 780)
        page.click("#map", position={"x": 180, "y": 120})
        assert page.input_value("#open-form [name=lat]")
        page.fill("#open-form [name=type]", "concern for safety")
        page.click("#open-form button[type=submit]")
        page.wait_for_selector("#incidents li[data-id^=BRD-]", timeout=5_000)
        page.wait_for_selector("#candidates tr", timeout=5_000)
        _shot(page, tmp_path, "dispatch-board-phone.png", full_page=True)
        assert not errors, errors
        browser.close()
