"""The dispatch listener's routes: the board's pages, the CAD JSON API, the event stream, health and metrics.

=====================================  ==============================================
``GET /healthz``                       ready or not, with the reason (no login)
``GET /login``, ``POST /login``        the login form; a token -> the session cookie
``POST /logout``                       ends the board login
``GET /``                              the board (a login, else to /login)
``GET /static/...``, ``/basemap.json`` its files, the public site's map layer
``GET /metrics``                       Prometheus text (a token or a login)
``/api/...``                           the CAD API: :mod:`collector.dispatch.openapi`
=====================================  ==============================================

Every answer but the first three needs a caller (:class:`~collector.dispatch.gate.Gate`);
a refused request changes nothing. Handlers only parse (the pure
:mod:`collector.dispatch.requests`), act (:class:`~collector.dispatch.desk.Desk`)
and answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from collector.dispatch.board import eta_json, incident_json, incidents_json, unit_json
from collector.dispatch.desk import Desk
from collector.dispatch.events import EventHub
from collector.dispatch.gate import Caller, Gate
from collector.dispatch.metrics import DispatchMetrics, health
from collector.dispatch.openapi import openapi_document
from collector.dispatch.requests import (
    ApiError,
    parse_body,
    parse_create,
    parse_status,
    parse_unit,
    parse_update,
)
from collector.web.http import Asset, hardened, plain_error, security_headers, send
from collector.web.site import IMMUTABLE
from common.wire import WireError, validate_id

if TYPE_CHECKING:
    from collector.service import CollectorService

__all__ = ["DispatchApp", "dispatch_app"]

log = logging.getLogger("collector.dispatch")

CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEARTBEAT_S: Final = 15.0
REVOKED_CHECK_S: Final = 1.0  # a stream whose token is revoked ends within this (or its next event)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PATHS: Final = frozenset({"/healthz", "/login", "/static/board.css", "/static/favicon.svg"})
PAGE_HEADERS: Final = {"Cache-Control": "no-store"}
CALLER: Final = web.RequestKey("caller", Caller)


def _page(name: str) -> str:
    return (resources.files("collector.dispatch") / "static" / name).read_text()


def _board_assets() -> dict[str, Asset]:
    root = resources.files("collector.dispatch") / "static"
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
    return {f"static/{f.name}": Asset.of(f.read_bytes(), types[f.name[f.name.rfind("."):]], IMMUTABLE)
            for f in root.iterdir() if f.name.endswith((".js", ".css"))}  # fmt: skip


class DispatchApp:
    def __init__(
        self,
        service: CollectorService,
        gate: Gate,
        desk: Desk,
        hub: EventHub,
        metrics: DispatchMetrics,
        assets: dict[str, Asset],
    ) -> None:
        self.service = service
        self.gate = gate
        self.desk = desk
        self.hub = hub
        self.metrics = metrics
        self.assets = {**assets, **_board_assets()}
        self.title = service.config.web.title
        self.openapi = Asset.of(json.dumps(openapi_document(), indent=1).encode(), "application/json", "no-cache")

    # -- middleware: who is asking, and counting the answers ------------------------------

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response: web.StreamResponse
        if request.path in OPEN_PATHS or request.path.startswith("/static/vendor/"):
            response = await handler(request)
        else:
            caller = self.gate.caller(request)
            if isinstance(caller, web.Response):
                if request.path == "/" and caller.status == 401 and request.method == "GET":
                    response = _see_other("/login")
                else:
                    response = caller
            else:
                request[CALLER] = caller
                response = await handler(request)
        self.metrics.requests.labels(str(response.status)).inc()
        return response

    @staticmethod
    def who(request: web.Request) -> Caller:
        return request[CALLER]

    # -- pages --------------------------------------------------------------------------------

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return self._login_form("")
        wait = self.gate.limited(request)
        if wait > 0:
            return self._login_form(f"Too many failed logins: try again in {wait:.0f} s.", status=429)
        origin = request.headers.get("Origin")
        if origin not in (None, "null") and origin.rstrip("/") != f"{request.scheme}://{request.host}":
            return self._login_form("Log in from the board's own page.", status=403)
        form = await request.post()
        token = form.get("token")
        found = self.gate.login(request, token.strip() if isinstance(token, str) else "")
        if found is None:
            return self._login_form("That token is not valid.", status=401)
        session_id, _ = found
        response = _see_other("/")
        self.gate.set_cookie(response, session_id)
        return response

    def _login_form(self, message: str, status: int = 200) -> web.Response:
        text = _page("login.html").replace("{{title}}", html.escape(self.title))
        text = text.replace("{{message}}", html.escape(message)).replace("{{css}}", self._url("static/board.css"))
        return web.Response(text=text, status=status, content_type="text/html", headers=PAGE_HEADERS)

    async def logout(self, request: web.Request) -> web.StreamResponse:
        found = self.gate.session_of(request)
        if found is not None:
            self.gate.sessions.close(found[0])
            log.info("%s: logged out", found[1].name)
        response = _see_other("/login")
        response.del_cookie(self.gate.cookie, path="/")
        return response

    def _url(self, key: str) -> str:
        asset = self.assets.get(key)
        return key if asset is None else f"{key}?v={asset.version}"

    async def board(self, request: web.Request) -> web.StreamResponse:
        caller = self.who(request)
        if caller.session is None:
            return plain_error(400, "the board is for a browser login; the API is under /api/")
        text = _page("board.html")
        for key in ("static/board.css", "static/board.js", "static/vendor/leaflet/leaflet.js",
                    "static/vendor/leaflet/leaflet.css", "static/basemap.js"):  # fmt: skip
            text = text.replace("{{" + key + "}}", self._url(key))
        basemap = self.assets.get("basemap.json")
        text = (
            text.replace("{{title}}", html.escape(self.title))
            .replace("{{csrf}}", html.escape(caller.session.csrf))
            .replace("{{operator}}", html.escape(caller.name))
            .replace("{{basemap}}", "" if basemap is None else f"basemap.json?v={basemap.version}")
        )
        return web.Response(text=text, content_type="text/html", headers=PAGE_HEADERS)

    async def fixed(self, request: web.Request) -> web.StreamResponse:
        asset = self.assets.get(request.match_info["path"])
        if asset is None:
            return plain_error(404, "not found")
        return send(request, asset)

    # -- operations ---------------------------------------------------------------------------

    async def healthz(self, _request: web.Request) -> web.StreamResponse:
        ready, reason = health(self.service)
        return web.Response(text=reason + "\n", status=200 if ready else 503, headers=PAGE_HEADERS)

    async def metrics_text(self, _request: web.Request) -> web.StreamResponse:
        content_type = "text/plain; version=0.0.4; charset=utf-8"
        return web.Response(body=self.metrics.text(), headers={"Content-Type": content_type, **PAGE_HEADERS})

    # -- the API: reading ----------------------------------------------------------------------

    async def openapi_json(self, request: web.Request) -> web.StreamResponse:
        return send(request, self.openapi)

    async def units(self, _request: web.Request) -> web.StreamResponse:
        now = self.service.clock()
        return _json({"now": now, "units": [unit_json(v) for v in self.service.fleet.views(now)]})

    async def incidents(self, request: web.Request) -> web.StreamResponse:
        closed = request.query.get("closed") in ("1", "true")
        return _json({"incidents": incidents_json(self.service.incidents, include_closed=closed)})

    async def incident(self, request: web.Request) -> web.StreamResponse:
        incident_id = _path_id(request, "incident", "id")
        entry = self.service.incidents.entry(incident_id)
        if entry is None:
            raise ApiError(404, "id", f"no incident {incident_id}")
        report = self.service.eta.published.get(incident_id)
        return _json({"incident": incident_json(entry), "eta": None if report is None else eta_json(report)})

    async def etas(self, _request: web.Request) -> web.StreamResponse:
        return _json({"etas": [eta_json(r) for r in self.service.eta.published.values()]})

    async def eta(self, request: web.Request) -> web.StreamResponse:
        incident_id = _path_id(request, "incident", "id")
        report = self.service.eta.published.get(incident_id)
        if report is None:
            raise ApiError(404, "id", f"no ETA report for incident {incident_id} (not open, or not computed yet)")
        return _json(eta_json(report))

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})  # fmt: skip
        security_headers(response, CSP)
        response.force_close()  # a stream that ends (revoked, dropped) ends its connection too
        queue = self.hub.subscribe()
        try:
            await response.prepare(request)
            await response.write(b"retry: 2000\n\n" + self.hub.snapshot())
            caller, quiet = self.who(request), 0.0
            while True:
                try:
                    chunk = await asyncio.wait_for(queue.get(), REVOKED_CHECK_S)
                    quiet = 0.0
                except TimeoutError:
                    quiet += REVOKED_CHECK_S
                    chunk = b""
                if chunk is None or not self.gate.still_valid(caller):
                    break  # the collector stops, the client fell behind, or its token was revoked
                if quiet >= HEARTBEAT_S:
                    chunk, quiet = b": keep-alive\n\n", 0.0
                if chunk:
                    await response.write(chunk)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.hub.unsubscribe(queue)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    # -- the API: acting -------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.StreamResponse:
        incident = parse_create(parse_body(await request.read()), self.desk.now_utc(self.service.clock))
        decision = await self.desk.create(self.who(request).name, incident)
        body = {"incident": decision.incident.to_dict(), "created": decision.created}
        headers = {"Location": f"/api/incidents/{decision.incident.id}"}
        return _json(body, status=201 if decision.created else 200, headers=headers)

    async def update(self, request: web.Request) -> web.StreamResponse:
        incident_id = _path_id(request, "incident", "id")
        incident = parse_update(parse_body(await request.read()), self.desk.current(incident_id), incident_id)
        return _json({"incident": (await self.desk.update(self.who(request).name, incident)).to_dict()})

    async def assign(self, request: web.Request) -> web.StreamResponse:
        incident_id = _path_id(request, "incident", "id")
        unit = parse_unit(parse_body(await request.read()))
        incident = await self.desk.assign(self.who(request).name, incident_id, unit)
        return _json({"incident": incident.to_dict()})

    async def close(self, request: web.Request) -> web.StreamResponse:
        incident_id = _path_id(request, "incident", "id")
        incident = await self.desk.close(self.who(request).name, incident_id)
        return _json({"incident": incident.to_dict()})

    async def set_status(self, request: web.Request) -> web.StreamResponse:
        unit = _path_id(request, "unit", "unit")
        status = parse_status(parse_body(await request.read()))
        await self.desk.set_status(self.who(request).name, unit, status)
        return _json({"unit": unit, "status": status.value})


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """An ApiError is the JSON answer naming its field."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _json(exc.to_dict(), status=exc.status)


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **PAGE_HEADERS})


def _json(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers={**PAGE_HEADERS, **(headers or {})},
                             dumps=lambda v: json.dumps(v, separators=(",", ":")))  # fmt: skip


def _path_id(request: web.Request, kind: str, name: str) -> str:
    try:
        return validate_id(kind, request.match_info[name])
    except WireError as exc:
        raise ApiError(400, name, f"{name}: {exc}") from None


ROUTES: Final = (
    ("GET", "/api/openapi.json", "openapi_json"),
    ("GET", "/api/units", "units"),
    ("PUT", "/api/units/{unit}/status", "set_status"),
    ("GET", "/api/incidents", "incidents"),
    ("POST", "/api/incidents", "create"),
    ("GET", "/api/incidents/{id}", "incident"),
    ("PATCH", "/api/incidents/{id}", "update"),
    ("POST", "/api/incidents/{id}/assign", "assign"),
    ("POST", "/api/incidents/{id}/close", "close"),
    ("GET", "/api/incidents/{id}/eta", "eta"),
    ("GET", "/api/etas", "etas"),
    ("GET", "/api/events", "events"),
)


def dispatch_app(site: DispatchApp) -> web.Application:
    app = web.Application(
        middlewares=[hardened(CSP, ("GET", "HEAD", "POST", "PUT", "PATCH")), site.guard, api_errors],
        client_max_size=64 * 1024,
    )
    app.router.add_get("/healthz", site.healthz)
    app.router.add_get("/login", site.login_page)
    app.router.add_post("/login", site.login_page)
    app.router.add_post("/logout", site.logout)
    app.router.add_get("/", site.board)
    app.router.add_get("/metrics", site.metrics_text)
    app.router.add_get(r"/{path:(static/[A-Za-z0-9_./-]+|basemap\.json)}", site.fixed)
    for method, path, name in ROUTES:
        app.router.add_route(method, path, getattr(site, name))
    return app
