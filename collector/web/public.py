"""The public site's routes: the page, the public snapshots, trends and open data.

What a handler here can reach is exactly what :func:`public_app` is given:

- :class:`PublishedSnapshots`: the bytes of the last units and calls
  documents the feed published (the same bytes as the retained messages and
  the files), handed over by the publisher after each tick;
- a :class:`~collector.public.history_store.PublicHistoryReader`: the public
  history file, opened read-only, which holds only published calls;
- the fixed files of :func:`~collector.web.site.site_assets`.

No handler sees the collector's database, its fleet or incidents, the
pseudonym secret or the feed's state: there is no path from a request to a
private fact, whatever the query string. The routes:

=================================  ===========================================
``/``                              the page
``/static/...``, ``/site.json``,   its files, the map layer, the data package
``/basemap.json``,
``/open-data/datapackage.json``
``/units.geojson``                 the public snapshots (503 before the first)
``/calls.geojson``
``/trends.json?from=&to=``         :func:`collector.web.trends.trends`, last 365 days by default
``/open-data/calls.csv?from=&to=`` the public history (last 31 days by default,
``/open-data/calls.geojson``       at most 366 per request)
=================================  ===========================================
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

from aiohttp import web

from collector.public.history_store import PublicHistoryReader
from collector.web.basemap import Place
from collector.web.http import Asset, hardened, plain_error, send
from collector.web.opendata import DateRange, OpenDataError, csv_chunks, date_range, geojson_chunks
from collector.web.site import PAGE_CACHE, SiteSettings
from collector.web.trends import trends

__all__ = [
    "DEFAULT_OPEN_DATA_DAYS",
    "DEFAULT_TREND_DAYS",
    "PublishedSnapshots",
    "PublicSite",
    "content_security_policy",
    "public_app",
]

DEFAULT_TREND_DAYS: Final = 365
DEFAULT_OPEN_DATA_DAYS: Final = 31
SNAPSHOT_NAMES: Final = ("units.geojson", "calls.geojson")
_CACHED_ANSWERS: Final = 16


class PublishedSnapshots:
    """The last published units and calls documents, as served assets."""

    def __init__(self, max_age_s: int) -> None:
        self._cache_control = f"public, max-age={max_age_s}"
        self.assets: dict[str, Asset] = {}

    def put(self, units: bytes, calls: bytes) -> None:
        """Called by the publisher after each tick with the bytes it published."""
        for name, data in zip(SNAPSHOT_NAMES, (units, calls)):
            current = self.assets.get(name)
            if current is None or current.body != data:
                self.assets[name] = Asset.of(data, "application/geo+json", self._cache_control)

    def load(self, public_dir: Path | None) -> None:
        """The files the feed wrote last (after a restart, until the first tick)."""
        if public_dir is None:
            return
        try:
            units, calls = ((public_dir / name).read_bytes() for name in SNAPSHOT_NAMES)
        except OSError:
            return
        self.put(units, calls)


def content_security_policy(tile_url: str | None) -> str:
    """Scripts, styles and data from the site itself; images also from the tile server, if any."""
    images = "'self' data:"
    if tile_url:
        origin = "/".join(tile_url.split("/")[:3]).replace("{s}.", "*.")
        images += f" {origin}"
    return (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {images}; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class PublicSite:
    """The handlers, over the three public sources only."""

    def __init__(
        self,
        settings: SiteSettings,
        assets: dict[str, Asset],
        snapshots: PublishedSnapshots,
        history: PublicHistoryReader,
        places: Sequence[Place] = (),
        today: Callable[[ZoneInfo], dt.date] | None = None,
    ) -> None:
        self.settings = settings
        self.assets = assets
        self.snapshots = snapshots
        self.history = history
        self.places = tuple(places)
        self.tz = ZoneInfo(settings.timezone)
        self._today = today or (lambda tz: dt.datetime.now(tz).date())
        self._answers: OrderedDict[tuple[object, ...], Asset] = OrderedDict()
        self._lock = asyncio.Lock()

    async def fixed(self, request: web.Request) -> web.Response:
        asset = self.assets.get(request.match_info.get("path", ""))
        if asset is None:
            return plain_error(404, "not found")
        return send(request, asset)

    async def snapshot(self, request: web.Request) -> web.Response:
        asset = self.snapshots.assets.get(request.match_info["name"])
        if asset is None:
            response = plain_error(503, "no snapshot published yet: try again in a minute")
            response.headers["Retry-After"] = "30"
            return response
        return send(request, asset)

    async def trends_json(self, request: web.Request) -> web.Response:
        return await self._answer(request, "trends", DEFAULT_TREND_DAYS)

    async def calls_csv(self, request: web.Request) -> web.Response:
        return await self._answer(request, "csv", DEFAULT_OPEN_DATA_DAYS)

    async def calls_geojson(self, request: web.Request) -> web.Response:
        return await self._answer(request, "geojson", DEFAULT_OPEN_DATA_DAYS)

    async def _answer(self, request: web.Request, kind: str, default_days: int) -> web.Response:
        query = request.query
        for key in ("from", "to"):
            if len(query.getall(key, [])) > 1:
                return plain_error(400, f"{key} given more than once")
        try:
            span = date_range(
                {k: query[k] for k in ("from", "to") if k in query}, self._today(self.tz), self.tz, default_days
            )
        except OpenDataError as exc:
            return plain_error(400, str(exc))
        version = await asyncio.to_thread(self.history.version_sync)
        answer_key: tuple[object, ...] = (kind, span.start, span.end, version)
        async with self._lock:  # one computation per key, however many ask at once
            asset = self._answers.get(answer_key)
            if asset is None:
                asset = await asyncio.to_thread(self._compute, kind, span)
                self._answers[answer_key] = asset
                while len(self._answers) > _CACHED_ANSWERS:
                    self._answers.popitem(last=False)
            else:
                self._answers.move_to_end(answer_key)
        response = send(request, asset)
        if kind != "trends" and response.status == 200:
            name = f"calls-{span.start}-to-{span.end}.{'csv' if kind == 'csv' else 'geojson'}"
            response.headers["Content-Disposition"] = f'inline; filename="{name}"'
        return response

    def _compute(self, kind: str, span: DateRange) -> Asset:
        calls = self.history.calls_sync(span.utc_from, span.utc_before)
        if kind == "trends":
            document = trends(calls, span.start, span.end, self.tz, self.places)
            body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
            return Asset.of(body, "application/json", PAGE_CACHE)
        if kind == "csv":
            return Asset.of(b"".join(csv_chunks(calls)), "text/csv; charset=utf-8", PAGE_CACHE)
        return Asset.of(b"".join(geojson_chunks(calls)), "application/geo+json", PAGE_CACHE)


def public_app(site: PublicSite) -> web.Application:
    """The public site's aiohttp application: its routes and nothing else."""
    app = web.Application(middlewares=[hardened(content_security_policy(site.settings.tile_url))])
    routes = [
        web.get("/", site.fixed),
        web.get("/{name:(units|calls)\\.geojson}", site.snapshot),
        web.get("/trends.json", site.trends_json),
        web.get("/open-data/calls.csv", site.calls_csv),
        web.get("/open-data/calls.geojson", site.calls_geojson),
        web.get(r"/{path:(static/[A-Za-z0-9_./-]+|site\.json|basemap\.json|open-data/datapackage\.json)}", site.fixed),
    ]
    app.add_routes(routes)
    return app
