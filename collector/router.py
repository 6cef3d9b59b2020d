"""Road routers for ETAs: the interface, and an OSRM ``/table`` backend.

A router answers a :class:`~collector.eta.RouteRequest` (many units to one
incident) with a :class:`~collector.eta.RouteTable`, or raises
:class:`RouterError`. It is blocking I/O, so the service runs it in a worker
thread (:func:`route_in_thread`); the ETA engine stays pure and only sees the
answers. When a router fails, :func:`route_all` turns that into a
:class:`~collector.eta.RouteFailure` and the engine falls back to the model,
saying so (``method: "fallback"``).

OSRM's table service, one GET per incident
(http://project-osrm.org/docs/v5.24.0/api/#table-service)::

    GET {base}/table/v1/{profile}/{lon,lat};{lon,lat};...?sources=1;2;..&destinations=0&annotations=duration,distance
    200 {"code": "Ok", "durations": [[s], ...], "distances": [[m], ...]}   (null: no route)

osrm-routed refuses tables of more than ``--max-table-size`` coordinates (100
by default), so requests with more units are split into that many per GET.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from collector.config import RouterSettings
from collector.eta import RouteFailure, RouteOutcome, RouteRequest, RouteTable
from common.errors import ActiveCallsError

__all__ = ["BatchRouter", "OsrmRouter", "Router", "RouterError", "configured_router", "route_all", "route_in_thread"]


class RouterError(ActiveCallsError):
    """The router could not answer (unreachable, timeout, error reply, bad reply)."""


class Router(Protocol):
    def table(self, request: RouteRequest) -> RouteTable:
        """Travel from every source of ``request`` to its destination; raises RouterError."""
        ...


@runtime_checkable
class BatchRouter(Protocol):
    """A router that answers all of a round's requests at once (the embedded road router:
    it snaps every unit once, not once per incident)."""

    def table(self, request: RouteRequest) -> RouteTable: ...

    def tables(self, requests: Sequence[RouteRequest]) -> dict[str, RouteTable]: ...


class OsrmRouter:
    """Client of an osrm-routed ``/table`` service (stdlib HTTP, blocking)."""

    def __init__(
        self, base_url: str, *, profile: str = "driving", timeout_s: float = 2.0, max_table_size: int = 100
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"OSRM URL must be http(s)://host[:port][/path], got {base_url!r}")
        if max_table_size < 2:
            raise ValueError("max_table_size must be at least 2 (one source and the destination)")
        self.base_url = base_url.rstrip("/")
        self.profile = urllib.parse.quote(profile, safe="")
        self.timeout_s = timeout_s
        self.max_table_size = max_table_size

    def url(self, sources: Sequence[tuple[float, float]], destination: tuple[float, float]) -> str:
        points = [destination, *sources]
        coordinates = ";".join(f"{lon:.6f},{lat:.6f}" for lat, lon in points)
        source_list = ";".join(str(i) for i in range(1, len(points)))
        query = f"sources={source_list}&destinations=0&annotations=duration,distance"
        return f"{self.base_url}/table/v1/{self.profile}/{coordinates}?{query}"

    def table(self, request: RouteRequest) -> RouteTable:
        per_request = self.max_table_size - 1
        durations: list[float] = []
        distances: list[float] = []
        for start in range(0, len(request.sources), per_request):
            chunk = request.sources[start : start + per_request]
            reply = self._get(self.url(chunk, request.destination))
            chunk_durations, chunk_distances = _parse_table(reply, len(chunk))
            durations += chunk_durations
            distances += chunk_distances
        return RouteTable(request.incident_id, request.units, np.array(durations), np.array(distances))

    def _get(self, url: str) -> Any:
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                body = response.read(16 * 1024 * 1024)
        except urllib.error.HTTPError as exc:
            # OSRM explains refusals in a JSON body: {"code": "TooBig", "message": ...}
            detail = exc.read(2048).decode("utf-8", "replace")
            raise RouterError(f"OSRM answered HTTP {exc.code}: {detail[:200]}") from None
        except (OSError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
            raise RouterError(f"OSRM request failed: {exc}") from None
        try:
            return json.loads(body)
        except ValueError as exc:
            raise RouterError(f"OSRM reply is not JSON: {exc}") from None


def _parse_table(reply: Any, sources: int) -> tuple[list[float], list[float]]:
    if not isinstance(reply, dict) or reply.get("code") != "Ok":
        code = reply.get("code") if isinstance(reply, dict) else None
        raise RouterError(f"OSRM refused the table: {code!r}")
    columns = []
    for key in ("durations", "distances"):
        matrix = reply.get(key)
        if not isinstance(matrix, list) or len(matrix) != sources:
            raise RouterError(f"OSRM reply lacks a {sources} x 1 '{key}' matrix")
        column = []
        for row in matrix:
            if not isinstance(row, list) or len(row) != 1:
                raise RouterError(f"OSRM reply has a malformed '{key}' row")
            value = row[0]
            if value is None:
                column.append(math.nan)  # no route from this source
            elif isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < math.inf:
                column.append(float(value))
            else:
                raise RouterError(f"OSRM reply has a bad '{key}' value {value!r}")
        columns.append(column)
    return columns[0], columns[1]


def route_all(router: Router, requests: Sequence[RouteRequest]) -> dict[str, RouteOutcome]:
    """Ask ``router`` about every request; a failure becomes a RouteFailure."""
    outcomes: dict[str, RouteOutcome] = {}
    if isinstance(router, BatchRouter) and requests:
        try:
            outcomes.update(router.tables(requests))
        except RouterError as exc:
            outcomes.update((r.incident_id, RouteFailure(r.incident_id, str(exc))) for r in requests)
        return outcomes
    for request in requests:
        try:
            outcomes[request.incident_id] = router.table(request)
        except RouterError as exc:
            outcomes[request.incident_id] = RouteFailure(request.incident_id, str(exc))
    return outcomes


async def route_in_thread(router: Router, requests: Sequence[RouteRequest]) -> dict[str, RouteOutcome]:
    """:func:`route_all` in a worker thread, so the event loop keeps ingesting."""
    return await asyncio.to_thread(route_all, router, requests)


def configured_router(settings: RouterSettings, osm: Path | None) -> Router | None:
    """The router a configuration asks for: OSRM when ``[router] osrm_url`` is set,
    else the embedded road router on the ``[eta] osm`` extract (read now: raises
    RoadGraphError, one line, if it cannot be), else None (the model alone)."""
    if settings.osrm_url:
        return OsrmRouter(
            settings.osrm_url, profile=settings.profile, timeout_s=settings.timeout_s,
            max_table_size=settings.max_table_size,
        )  # fmt: skip
    if osm is not None:
        from collector.roads.router import RoadRouter  # scipy and pyosmium: only when roads are configured

        return RoadRouter.from_osm(osm)
    return None


def router_candidates(router: Router | None) -> int | None:
    """How many candidates per incident to ask ``router`` about beyond the assigned units:
    None (the policy's ``router_units``) for OSRM, every one for a batch router."""
    return 1_000_000 if isinstance(router, BatchRouter) else None
