"""The CAD API against a running collector over a real Mosquitto: tokens, idempotent create,
errors naming their field, the OpenAPI document (validated, and matched against the routes),
the event stream's latency, health and metrics."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import queue
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from collector.dispatch.app import ROUTES
from common.wire import decode_incident
from tests.integration.collectorkit import TOPICS, Client, fix, wait_until
from tests.integration.dispatchkit import ALICE_TOKEN, CAD_TOKEN, TOKENS, Board, start_board, stop_board

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEW = {"id": "CAD-100", "type": "burglary", "priority": 2, "lat": 53.2360, "lon": -1.4250}


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    running = start_board(tmp_path_factory.mktemp("dispatch-api"))
    try:
        yield running
    finally:
        stop_board(running)


@pytest.fixture
def incidents_seen(board: Board) -> Iterator[queue.Queue[tuple[str, bytes]]]:
    """Every incident message the broker delivers while the test runs."""
    watcher = Client(board.broker.port, client_id=f"watcher-{time.monotonic_ns()}")
    seen: queue.Queue[tuple[str, bytes]] = queue.Queue()
    watcher.client.on_message = lambda _c, _u, m: seen.put((m.topic, bytes(m.payload))) if not m.retain else None
    watcher.subscribe(TOPICS.incidents_filter)
    try:
        yield seen
    finally:
        watcher.close()


def _drain(seen: queue.Queue[tuple[str, bytes]], wait_s: float = 1.0) -> list[tuple[str, bytes]]:
    time.sleep(wait_s)
    out = []
    while not seen.empty():
        out.append(seen.get_nowait())
    return out


def _reset_limiter(board: Board) -> None:
    def reset(service: object) -> None:
        running = service.dispatch  # type: ignore[attr-defined]
        running.gate.limiter._clients.clear()
        running.gate.limiter._all = None

    board.collector.call(reset)


def test_missing_wrong_and_revoked_tokens_get_401_and_change_nothing(
    board: Board, incidents_seen: queue.Queue[tuple[str, bytes]]
) -> None:
    body = {**NEW, "id": "CAD-401"}
    for token in (None, "not-a-token-of-the-file-at-all"):
        status, head, answer = board.request("POST", "/api/incidents", body, token=token)
        assert status == 401 and "Bearer" in head["WWW-Authenticate"] and answer["error"]
    status, _, _ = board.request("GET", "/api/units", token=None)
    assert status == 401
    status, _, answer = board.request("POST", "/api/incidents", body, token=None, headers={"Cookie": "ac-board=forged"})
    assert status == 401

    # Revoked: alice's line leaves the file; the running collector reads it again.
    assert board.request("GET", "/api/units", token=ALICE_TOKEN)[0] == 200
    stream = board.events(ALICE_TOKEN)
    assert next(stream)[1] == "snapshot"
    (board.folder / "tokens").write_text(TOKENS.replace(f"alice {ALICE_TOKEN}\n", ""))
    revoked = time.monotonic()
    for _ in stream:  # alice's open event stream ends too
        assert time.monotonic() - revoked < 5
    assert time.monotonic() - revoked < 5
    status, _, _ = board.request("POST", "/api/incidents", body, token=ALICE_TOKEN)
    assert status == 401
    assert board.collector.call(lambda s: s.incidents.get("CAD-401")) is None
    assert not [t for t, _ in _drain(incidents_seen) if t.endswith("/CAD-401")]
    (board.folder / "tokens").write_text(TOKENS)
    time.sleep(1.2)
    _reset_limiter(board)
    assert board.request("GET", "/api/units", token=ALICE_TOKEN)[0] == 200


def test_failed_tokens_are_rate_limited_and_logged(board: Board, caplog: pytest.LogCaptureFixture) -> None:
    _reset_limiter(board)
    statuses = [board.request("GET", "/api/units", token=f"guess-{n:030d}")[0] for n in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    status, head, _ = board.request("GET", "/api/units", token=CAD_TOKEN)
    assert status == 429 and int(head["Retry-After"]) >= 1  # the address waits, whatever it sends
    assert any("refused from 127.0.0.1" in r.getMessage() for r in caplog.records)
    _reset_limiter(board)
    assert board.request("GET", "/api/units", token=CAD_TOKEN)[0] == 200


def test_an_incident_created_twice_with_the_same_cad_id_exists_once(
    board: Board, incidents_seen: queue.Queue[tuple[str, bytes]]
) -> None:
    body = {**NEW, "id": "CAD-200"}
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _n: board.request("POST", "/api/incidents", body), range(6)))
    assert sorted(a[0] for a in answers) == [200] * 5 + [201]
    assert all(a[2]["incident"]["id"] == "CAD-200" for a in answers)
    opened = {a[2]["incident"]["opened"] for a in answers}
    assert len(opened) == 1, opened  # every answer names the one incident published
    wait_until(lambda: board.collector.call(lambda s: s.incidents.get("CAD-200")) is not None, 10, "taken in")
    again = board.request("POST", "/api/incidents", body)
    assert again[0] == 200 and again[2]["created"] is False
    published = [p for t, p in _drain(incidents_seen) if t == TOPICS.incident("CAD-200")]
    assert len(published) == 1 and decode_incident(published[0]).type == "burglary"
    # Another call under the open id is refused, naming the field.
    status, _, answer = board.request("POST", "/api/incidents", {**body, "priority": 1})
    assert status == 409 and answer["field"] == "id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW, "priority": 7}, "priority"),
        ({**NEW, "lat": 91}, "lat"),
        ({**NEW, "lon": "west"}, "lon"),
        ({k: v for k, v in NEW.items() if k != "type"}, "type"),
        ({**NEW, "id": "bad id!"}, "id"),
        ({**NEW, "units": ["PC-1", "PC-1"]}, "units"),
        ({**NEW, "colour": "red"}, "colour"),
        ({**NEW, "opened": "yesterday"}, "opened"),
    ],
)
def test_a_bad_field_is_named_and_nothing_is_published(
    board: Board, incidents_seen: queue.Queue[tuple[str, bytes]], body: dict[str, object], field: str
) -> None:
    body = {**body, "id": body.get("id", "CAD-300")} if field != "id" else body
    status, _, answer = board.request("POST", "/api/incidents", body)
    assert status == 400 and answer["field"] == field, answer
    assert field in answer["error"]
    assert not _drain(incidents_seen, 0.3)


def test_update_assign_status_and_close_publish_on_the_wire_topics(board: Board) -> None:
    assert board.request("POST", "/api/incidents", {**NEW, "id": "CAD-400"})[0] == 201
    status, _, answer = board.request("PATCH", "/api/incidents/CAD-400", {"priority": 1})
    assert status == 200 and answer["incident"]["priority"] == 1
    assert board.request("PATCH", "/api/incidents/CAD-400", {"priority": "high"})[2]["field"] == "priority"
    assert board.request("POST", "/api/incidents/CAD-400/assign", {"unit": "PC-2"})[0] == 200
    wait_until(
        lambda: board.collector.call(lambda s: getattr(s.incidents.get("CAD-400"), "units", None)) == ("PC-2",),
        10,
        "assigned",
    )
    assert board.collector.call(lambda s: getattr(s.incidents.get("CAD-400"), "priority", None)) == 1
    assert board.request("PUT", "/api/units/PC-2/status", {"status": "enroute"})[0] == 200
    assert board.request("PUT", "/api/units/PC-2/status", {"status": "lunch"})[2]["field"] == "status"
    wait_until(lambda: board.collector.call(lambda s: str(s.fleet.view("PC-2", time.time()).duty)) == "enroute",
               10, "duty")  # fmt: skip
    assert board.request("POST", "/api/incidents/CAD-400/close")[0] == 200
    wait_until(
        lambda: board.collector.call(lambda s: str(getattr(s.incidents.get("CAD-400"), "status", None))) == "closed",
        10,
        "closed",
    )
    assert board.request("POST", "/api/incidents/CAD-404/close")[0] == 404
    assert board.request("PUT", "/api/units/PC-2/status", {"status": "available"})[0] == 200


def test_the_openapi_document_validates_and_matches_the_routes(board: Board) -> None:
    status, _, document = board.request("GET", "/api/openapi.json")
    assert status == 200
    validate(document)
    documented = {(m.upper(), p) for p, item in document["paths"].items() for m in item if m != "parameters"}
    assert documented == {(m, p) for m, p, _ in ROUTES}

    def served(service: object) -> set[tuple[str, str]]:
        app = service.dispatch.server.app  # type: ignore[attr-defined]
        routes = [r for r in app.router.routes() if r.resource is not None and r.method != "HEAD"]
        return {(r.method, r.resource.canonical) for r in routes if r.resource.canonical.startswith("/api/")}

    assert board.collector.call(served) == documented


def test_the_event_stream_delivers_an_eta_within_1_s_of_its_publish(board: Board) -> None:
    assert board.request("POST", "/api/incidents", {**NEW, "id": "CAD-500"})[0] in (200, 201)
    watcher = Client(board.broker.port, client_id="eta-watcher")
    watcher.subscribe(TOPICS.eta("CAD-500"))
    events: queue.Queue[tuple[float, str, dict[str, object]]] = queue.Queue()
    stream = board.events()

    def read() -> None:
        for item in stream:
            events.put(item)

    threading.Thread(target=read, daemon=True).start()
    first = events.get(timeout=10)
    assert first[1] == "snapshot"
    try:
        while not watcher.received.empty():  # the retained report, from before the stream
            watcher.received.get_nowait()
        on_broker: dict[str, float] = {}
        on_stream: dict[str, float] = {}
        deadline = time.monotonic() + 8
        n = 0
        while time.monotonic() < deadline:  # a car moves each 0.5 s: new reports, on the broker and the stream
            n += 1
            board.client.fix(fix("PC-1", 100_000 + n, 53.2300 + 0.001 * (n % 7), -1.4300), wait=False)
            with contextlib.suppress(TimeoutError):
                at, report = watcher.next_eta(0.5, lambda r: r.incident == "CAD-500")
                on_broker[report.to_dict()["computed"]] = at
            while not events.empty():
                at, event, data = events.get_nowait()
                if event == "eta" and data["incident"] == "CAD-500":
                    on_stream[str(data["computed"])] = at
        time.sleep(1.0)
        while not events.empty():
            at, event, data = events.get_nowait()
            if event == "eta" and data["incident"] == "CAD-500":
                on_stream[str(data["computed"])] = at
        lags = [on_stream[c] - at for c, at in on_broker.items() if c in on_stream]
        assert len(lags) >= 3 and len(lags) >= len(on_broker) - 1, (on_broker, on_stream)
        assert max(lags) < 1.0, lags
    finally:
        watcher.close()


def test_healthz_and_metrics(board: Board) -> None:
    status, _, text = board.request("GET", "/healthz", token=None)
    assert status == 200 and text.startswith("ready")
    assert board.request("GET", "/metrics", token=None)[0] == 401
    status, head, text = board.request("GET", "/metrics")
    assert status == 200 and head["Content-Type"].startswith("text/plain")
    for name in ("activecalls_messages_total", "activecalls_positions_stored_total", "activecalls_units_stale",
                 "activecalls_eta_recompute_seconds_count", "activecalls_fix_to_eta_seconds_bucket",
                 'activecalls_web_requests_total{status="200"}', "activecalls_queue_depth{queue=\"store_acks\"}",
                 "activecalls_public_snapshots_published_total", "activecalls_units_connected"):  # fmt: skip
        assert name in text, name


def test_the_board_page_needs_a_login(board: Board, tmp_path: Path) -> None:
    status, _, text = board.request("GET", "/", token=None)
    assert status == 200 and "Your login token" in text  # urllib followed the redirect to /login
    status, _, _ = board.request("POST", "/login", b"token=wrong-token-wrong-token", token=None,
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert status == 401
    _reset_limiter(board)


def test_with_a_certificate_it_serves_https_and_the_cookie_is_secure(tmp_path: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(tmp_path / "board.key"), "-out", str(tmp_path / "board.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    secure = start_board(
        tmp_path / "tls", extra=f'cert_file = "{tmp_path / "board.crt"}"\nkey_file = "{tmp_path / "board.key"}"\n'
    )
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "board.crt"))
        url = secure.url.replace("http://", "https://")
        request = urllib.request.Request(url + "login", data=f"token={ALICE_TOKEN}".encode(), method="POST")
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect())
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(request, timeout=10)
        assert answer.value.code == 303
        cookie = answer.value.headers["Set-Cookie"]
        assert cookie.startswith("__Host-ac-board=") and "Secure" in cookie and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie and "Path=/" in cookie
        api = urllib.request.Request(url + "api/units", headers={"Authorization": f"Bearer {CAD_TOKEN}"})
        with urllib.request.urlopen(api, context=context, timeout=10) as response:
            assert response.status == 200 and "units" in json.loads(response.read())
        with pytest.raises(OSError):  # plain HTTP is not served (a reset, or an answer that is no HTTP)
            urllib.request.urlopen(secure.url + "healthz", timeout=5)
    finally:
        stop_board(secure)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
