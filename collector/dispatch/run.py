"""Start the dispatch listener inside the collector's loop (``[dispatch]``), beside the public site.

The service calls :func:`start_dispatch` from ``start()`` and ``await
running.stop()`` when it stops. The board reads the service's live state
(fleet, incidents, the ETA reports published) and acts through its broker
session: no second connection, no second copy of the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from collector.dispatch.app import DispatchApp, dispatch_app
from collector.dispatch.auth import LoginLimiter, Sessions
from collector.dispatch.desk import Desk
from collector.dispatch.events import EventHub
from collector.dispatch.gate import Gate, TokensFile
from collector.dispatch.metrics import DispatchMetrics
from collector.web.http import Asset, WebServer
from collector.web.run import load_basemap
from collector.web.site import IMMUTABLE, static_assets
from common.tomlconfig import ConfigError

if TYPE_CHECKING:
    from collector.service import CollectorService

__all__ = ["RunningDispatch", "start_dispatch"]

log = logging.getLogger("collector.dispatch")


@dataclass
class RunningDispatch:
    server: WebServer
    hub: EventHub
    gate: Gate
    task: asyncio.Task[None]
    stopping: asyncio.Event

    @property
    def url(self) -> str:
        return self.server.url

    async def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.server.stop()


def _tls(service: CollectorService) -> ssl.SSLContext | None:
    settings = service.config.dispatch
    if settings.cert_file is None or settings.key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"[dispatch] cert_file/key_file ({settings.cert_file}, {settings.key_file}): "
                          f"cannot load: {exc}", path=service.config.path) from None  # fmt: skip
    return context


async def start_dispatch(service: CollectorService) -> RunningDispatch:
    """Listen on ``[dispatch] listen``; ConfigError when it cannot (address taken, certificate unreadable)."""
    settings = service.config.dispatch
    assert settings.tokens_file is not None  # the config refuses [dispatch] without one
    context = _tls(service)
    tokens = TokensFile(settings.tokens_file)
    gate = Gate(tokens, Sessions(settings.session_s), LoginLimiter(), secure=context is not None, clock=service.clock)
    hub = EventHub(service.fleet, service.incidents, service.eta, clock=service.clock)
    metrics = DispatchMetrics(service, hub, service.clock)
    gate.on_failure = metrics.logins_failed.inc
    service.eta.listeners.append(metrics.eta_published)
    assets = static_assets()
    basemap = await load_basemap(service.config)
    if basemap is not None:
        assets["basemap.json"] = Asset.of(basemap, "application/json", IMMUTABLE)
    desk = Desk(service.session, service.topics, service.incidents, clock=service.clock)
    app = DispatchApp(service, gate, desk, hub, metrics, assets)
    host, port = settings.address
    server = WebServer(dispatch_app(app), host, port, ssl_context=context)
    try:
        await server.start()
    except OSError as exc:
        raise ConfigError(f"[dispatch] listen = {settings.listen!r}: cannot listen: {exc.strerror or exc}",
                          path=service.config.path) from None  # fmt: skip
    stopping = asyncio.Event()
    task = asyncio.create_task(hub.run(stopping), name="dispatch-events")
    log.info("dispatch board on %s (%d tokens)", server.url, len(tokens.book.digests))
    return RunningDispatch(server, hub, gate, task, stopping)
