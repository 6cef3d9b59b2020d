"""HTTP plumbing shared by the collector's web servers (aiohttp); no routes of its own.

- :class:`Asset`: bytes with their type, ETag, gzip form and cache policy,
  answered by :func:`send` with ``304 Not Modified`` to a matching
  ``If-None-Match`` and gzip to a client that accepts it: what a CDN in front
  needs (``ETag``, ``Cache-Control``, ``Vary: Accept-Encoding``);
- :func:`hardened`: the middleware every app gets: only GET and HEAD (or the methods given),
  security headers, and any exception in a handler answered ``500`` with no
  detail (the log has it): the server never crashes, and never shows a
  traceback to a visitor;
- :class:`WebServer`: an app listening on ``HOST:PORT`` inside the caller's
  asyncio loop (the collector's), stopped cleanly.

Each server builds its own ``web.Application`` with its own routes: the public
site (:mod:`collector.web.public`) shares this module with any later private
one, and nothing else.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["Asset", "WebServer", "hardened", "plain_error", "security_headers", "send"]

log = logging.getLogger(__name__)

# Bodies smaller than this are sent as they are: gzip would save less than its headers.
_GZIP_FROM: Final = 512
_LARGE: Final = 256 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Asset:
    """A response body known in full: its ETag and gzip form are computed once."""

    body: bytes
    content_type: str
    cache_control: str
    etag: str = ""
    gzipped: bytes | None = field(default=None, repr=False)

    @classmethod
    def of(cls, body: bytes, content_type: str, cache_control: str) -> Asset:
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        compressible = len(body) >= _GZIP_FROM and not content_type.startswith("image/png")
        # Level 9 for the page's files (made once); 6 for large answers made per request
        # (a year of open data: a third of the time for 3% more bytes).
        level = 9 if len(body) < _LARGE else 6
        packed = gzip.compress(body, compresslevel=level, mtime=0) if compressible else None
        return cls(body, content_type, cache_control, etag, packed if packed and len(packed) < len(body) else None)

    @property
    def version(self) -> str:
        """A short content hash, for URLs that never change meaning (``app.js?v=...``)."""
        return self.etag.strip('"')[:10]


def _matches(header: str, etag: str) -> bool:
    # If-None-Match: "a", W/"b", *   (RFC 9110 13.1.2: weak comparison)
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or etag in candidates


def send(request: web.Request, asset: Asset, *, status: int = 200) -> web.Response:
    """The asset, or 304 when the client has it; gzipped when accepted."""
    headers = {"Cache-Control": asset.cache_control, "Vary": "Accept-Encoding"}
    if asset.etag:
        headers["ETag"] = asset.etag
        if status == 200 and _matches(request.headers.get("If-None-Match", ""), asset.etag):
            return web.Response(status=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", "").lower():
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    response = web.Response(status=status, body=body, headers=headers)
    response.content_type = asset.content_type.split(";")[0]
    if "charset=" in asset.content_type:
        response.charset = asset.content_type.split("charset=")[1]
    return response


def plain_error(status: int, message: str) -> web.Response:
    """A short text answer for a client's mistake (or our failure): one line, no detail of ours."""
    return web.Response(
        status=status, text=message + "\n", content_type="text/plain", headers={"Cache-Control": "no-store"}
    )


def security_headers(response: web.StreamResponse, content_security_policy: str) -> None:
    """What every answer carries (set before a streamed answer starts, by its handler)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")


def hardened(content_security_policy: str, methods: tuple[str, ...] = ("GET", "HEAD")) -> Middleware:
    """The middleware of every app: only ``methods`` (the public site: GET/HEAD), security
    headers, no tracebacks."""
    allowed = ", ".join(methods)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in methods:
            response: web.StreamResponse = plain_error(405, f"only {allowed}")
            response.headers["Allow"] = allowed
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status >= 400:
                    response = plain_error(exc.status, exc.reason)
                else:
                    raise
            except Exception:
                log.exception("web: %s %s failed", request.method, request.path_qs[:200])
                response = plain_error(500, "internal error")
        if not response.prepared:
            security_headers(response, content_security_policy)
        return response

    return middleware


class WebServer:
    """``app`` on ``host:port`` in the running loop: ``await start()``, ``await stop()``."""

    def __init__(
        self, app: web.Application, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        runner = web.AppRunner(app=self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, ssl_context=self.ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if self.port == 0:  # an ephemeral port (tests): find which
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            if sockets:
                self.port = sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.ssl_context else 'http'}://{host}:{self.port}/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
