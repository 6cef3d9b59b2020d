"""The OSRM /table backend against a small fake osrm-routed on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from collector.eta import EtaEngine, RouteFailure, RouteRequest, RouteTable
from collector.fleet import FleetState
from collector.router import OsrmRouter, RouterError, route_all, route_in_thread
from common.fix import Fix
from common.wire import DutyStatus, EtaMethod, Incident, IncidentStatus, WireFix
from tests.conftest import free_port

pytestmark = pytest.mark.integration


@dataclass
class FakeOsrm:
    """Answers /table/v1/driving/... like osrm-routed: durations = 10 s per source
    index, distances = 100 m per source index; a source at lat 0 has no route."""

    url: str
    requests: list[str] = field(default_factory=list)
    mode: str = "ok"  # ok | toobig | garbage | slow | wrongshape


@pytest.fixture
def osrm() -> Iterator[FakeOsrm]:
    state = FakeOsrm(url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state.requests.append(self.path)
            if state.mode == "slow":
                time.sleep(1.0)  # past the client's timeout: it has gone
                return
            if state.mode == "toobig":
                return self._reply(400, {"code": "TooBig", "message": "Too many table coordinates"})
            if state.mode == "garbage":
                return self._reply(200, None, raw=b"<html>proxy error</html>")
            path, _, query = self.path.partition("?")
            coords = path.rsplit("/", 1)[-1].split(";")
            sources = [int(i) for i in urllib.parse.parse_qs(query)["sources"][0].split(";")]
            rows = []
            for i in sources:
                lat = float(coords[i].split(",")[1])
                rows.append(None if lat == 0.0 else i)
            durations = [[None if r is None else 10.0 * r] for r in rows]
            distances = [[None if r is None else 100.0 * r] for r in rows]
            if state.mode == "wrongshape":
                durations.append([1.0])  # one row more than sources
            self._reply(200, {"code": "Ok", "durations": durations, "distances": distances})

        def _reply(self, status: int, obj: Any, raw: bytes | None = None) -> None:
            body = raw if raw is not None else json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


REQUEST = RouteRequest("INC-1", ("A", "B", "C"), ((53.1, -1.1), (0.0, 2.0), (53.3, -1.3)), (53.2, -1.2))


def test_one_request_for_all_units_and_nulls_become_no_route(osrm: FakeOsrm) -> None:
    table = OsrmRouter(osrm.url).table(REQUEST)
    assert len(osrm.requests) == 1
    path, _, query = osrm.requests[0].partition("?")
    assert path == "/table/v1/driving/-1.200000,53.200000;-1.100000,53.100000;2.000000,0.000000;-1.300000,53.300000"
    assert urllib.parse.parse_qs(query) == {
        "sources": ["1;2;3"], "destinations": ["0"], "annotations": ["duration,distance"]
    }  # fmt: skip
    assert table.units == ("A", "B", "C") and table.incident_id == "INC-1"
    assert table.duration_s[0] == 10.0 and math.isnan(table.duration_s[1]) and table.duration_s[2] == 30.0
    assert table.distance_m[2] == 300.0


def test_large_requests_are_split_at_the_table_size_limit(osrm: FakeOsrm) -> None:
    sources = tuple((53.0 + i / 100, -1.0) for i in range(5))
    request = RouteRequest("INC-1", tuple(f"U{i}" for i in range(5)), sources, (53.2, -1.2))
    table = OsrmRouter(osrm.url, max_table_size=3).table(request)
    assert len(osrm.requests) == 3
    assert table.duration_s.tolist() == [10.0, 20.0, 10.0, 20.0, 10.0]


@pytest.mark.parametrize("mode", ["toobig", "garbage", "wrongshape"])
def test_bad_replies_are_router_errors(osrm: FakeOsrm, mode: str) -> None:
    osrm.mode = mode
    with pytest.raises(RouterError):
        OsrmRouter(osrm.url).table(REQUEST)


def test_timeouts_and_unreachable_servers_are_router_errors(osrm: FakeOsrm) -> None:
    osrm.mode = "slow"
    with pytest.raises(RouterError, match="timed out"):
        OsrmRouter(osrm.url, timeout_s=0.2).table(REQUEST)
    with pytest.raises(RouterError, match="refused"):
        OsrmRouter(f"http://127.0.0.1:{free_port()}", timeout_s=2.0).table(REQUEST)


def test_url_validation() -> None:
    for bad in ("localhost:5000", "ftp://x", "http://"):
        with pytest.raises(ValueError):
            OsrmRouter(bad)


def test_failures_fall_back_to_the_model_and_say_so(osrm: FakeOsrm) -> None:
    now = 1_800_000_000.0
    fleet = FleetState()
    time_ = dt.datetime.fromtimestamp(now - 1, dt.UTC)
    for i, unit in enumerate(("A", "B")):
        fleet.apply_fixes(unit, [WireFix(unit, 1, Fix(time_, 53.2 + (i + 1) / 100, -1.2))], now)
        fleet.apply_status(unit, DutyStatus.AVAILABLE, now)
    incident = Incident("INC-1", "x", 2, 53.2, -1.2, IncidentStatus.OPEN, time_)
    engine = EtaEngine()
    table = fleet.table(now)
    requests = engine.route_requests(table, [incident])
    outcomes = asyncio.run(route_in_thread(OsrmRouter(osrm.url), requests))
    assert isinstance(outcomes["INC-1"], RouteTable)
    (report,) = engine.reports(table, [incident], outcomes)
    assert [r.method for r in report.units] == [EtaMethod.ROUTER, EtaMethod.ROUTER]
    assert [r.eta_s for r in report.units] == [15.0 + 10.0, 15.0 + 20.0]  # turnout + the router's duration

    osrm.mode = "toobig"
    outcomes = route_all(OsrmRouter(osrm.url), requests)
    assert isinstance(outcomes["INC-1"], RouteFailure) and "TooBig" in outcomes["INC-1"].reason
    (report,) = engine.reports(table, [incident], outcomes)
    assert [r.method for r in report.units] == [EtaMethod.FALLBACK, EtaMethod.FALLBACK]
    assert report.recommended == "A"
