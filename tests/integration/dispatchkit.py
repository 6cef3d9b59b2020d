"""A collector with its dispatch listener over a real Mosquitto, for the API and browser tests.

Three cars near Chesterfield (PC-1 and PC-2 available, PC-3 onscene), each
driven by a thread publishing a fix a second, as agents would; a car's thread
can be stopped (its "agent stops"). Two tokens: ``cad`` (a system) and
``alice`` (an operator).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.paths import DEFAULT_OSM_EXTRACT, data_file
from common.wire import DutyStatus, UnitState, encode_state, encode_status
from simulators.broker import Broker, free_port, start_broker
from tests.integration.collectorkit import TOPICS, Client, ServiceThread, fix, load, wait_until, write_config

CAD_TOKEN = "cad-0123456789abcdef0123456789"
ALICE_TOKEN = "alice-0123456789abcdef01234567"
TOKENS = f"# name token\ncad {CAD_TOKEN}\nalice {ALICE_TOKEN}\n"
# Where each car circles; PC-1 is the nearest to the incidents the tests open.
CARS = {"PC-1": (53.2352, -1.4264), "PC-2": (53.2450, -1.4100), "PC-3": (53.2300, -1.4400)}
DUTY = {"PC-1": DutyStatus.AVAILABLE, "PC-2": DutyStatus.AVAILABLE, "PC-3": DutyStatus.ONSCENE}


@dataclass
class Board:
    url: str
    folder: Path
    broker: Broker
    collector: ServiceThread
    client: Client
    stops: dict[str, threading.Event] = field(default_factory=dict)
    threads: list[threading.Thread] = field(default_factory=list)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = CAD_TOKEN,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, head, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, head, raw = exc.code, dict(exc.headers), exc.read()
        try:
            return status, head, json.loads(raw)
        except ValueError:
            return status, head, raw.decode(errors="replace")

    def stop_car(self, unit: str) -> None:
        self.stops[unit].set()

    def events(self, token: str = CAD_TOKEN) -> Iterator[tuple[float, str, Any]]:
        """The SSE stream as (monotonic time received, event, data)."""
        host, port = self.url.split("//")[1].rstrip("/").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("GET", "/api/events", headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        assert response.status == 200, response.status
        event = ""
        try:
            while True:
                line = response.readline()
                if not line:
                    return
                text = line.decode().rstrip("\n")
                if text.startswith("event: "):
                    event = text[7:]
                elif text.startswith("data: "):
                    yield time.monotonic(), event, json.loads(text[6:])
        finally:
            connection.close()


def _drive(client: Client, unit: str, stop: threading.Event) -> None:
    lat0, lon0 = CARS[unit]
    seq = 0
    while not stop.wait(1.0 if seq else 0.0):
        seq += 1
        offset = 0.0005 * (seq % 10)
        client.fix(fix(unit, seq, lat0 + offset, lon0), wait=False)


def start_board(folder: Path, *, extra: str = "") -> Board:
    broker = start_broker(folder / "broker")
    collector: ServiceThread | None = None
    client: Client | None = None
    try:
        (folder / "tokens").write_text(TOKENS)
        port = free_port()
        config = load(write_config(folder, port=broker.port, extra=(
            f'[eta]\nosm = "{data_file(DEFAULT_OSM_EXTRACT)}"\nrefresh_s = 2\n'
            '[staleness]\nreport_interval_s = 1\ngrace_s = 2\nfactor = 2\n'
            f'[dispatch]\nlisten = "127.0.0.1:{port}"\ntokens_file = "tokens"\n{extra}'
        )))  # fmt: skip
        collector = ServiceThread(config).start(timeout=60)
        client = Client(broker.port, client_id="agents")
        board = Board(f"http://127.0.0.1:{port}/", folder, broker, collector, client)
        for unit, duty in DUTY.items():
            client.publish(TOPICS.status(unit), encode_status(duty), retain=True)
            client.publish(TOPICS.state(unit), encode_state(UnitState.ONLINE), retain=True)
            stop = threading.Event()
            thread = threading.Thread(target=_drive, args=(client, unit, stop), daemon=True)
            board.stops[unit], board.threads = stop, [*board.threads, thread]
            thread.start()
        wait_until(lambda: collector.call(lambda s: len(s.fleet)) == len(CARS), 30, "every car reported")
        return board
    except BaseException:
        if client is not None:
            client.close()
        if collector is not None:
            collector.stop()
        broker.stop()
        raise


def stop_board(board: Board) -> None:
    for stop in board.stops.values():
        stop.set()
    for thread in board.threads:
        thread.join(5)
    board.client.close()
    result = board.collector.stop()
    board.broker.stop()
    assert result == 0, result


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
