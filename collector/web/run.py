"""Start the public site inside the collector's loop, beside its public feed.

The collector service calls :func:`start_public_site` once its publisher
exists (``[web]`` and ``[public]`` both on) and ``await site.stop()`` when it
stops. From the publisher it takes one thing: a listener for the bytes each
snapshot published. Everything else the site reads is public by construction
(the history file, read-only; the OpenStreetMap layer; its own files).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

from collector.config import CollectorConfig
from collector.public.history_store import PublicHistoryReader
from collector.public.shell import PublicPublisher
from collector.web.basemap import BasemapError, basemap_bytes, places_of
from collector.web.http import WebServer
from collector.web.public import PublicSite, PublishedSnapshots, public_app
from collector.web.site import SiteSettings, site_assets
from common.tomlconfig import ConfigError

__all__ = ["RunningSite", "load_basemap", "site_settings", "start_public_site"]

log = logging.getLogger(__name__)


def site_settings(config: CollectorConfig, *, static: bool = False) -> SiteSettings:
    web = config.web
    return SiteSettings(
        title=web.title,
        timezone=web.timezone,
        refresh_s=max(5, round(config.public.publish_every_s)),
        licence=web.data_licence,
        licence_url=web.data_licence_url,
        tile_url=web.tile_url,
        tile_attribution=web.tile_attribution,
        static=static,
    )


async def load_basemap(config: CollectorConfig) -> bytes | None:
    """The map layer of ``[eta] osm`` (cached beside the public state), or None without one."""
    if config.eta.osm is None:
        return None
    try:
        return await asyncio.to_thread(basemap_bytes, config.eta.osm, config.public.state_file.parent)
    except BasemapError as exc:
        log.error("public site: %s; the map has no background", exc)
        return None


@dataclass
class RunningSite:
    server: WebServer
    history: PublicHistoryReader

    @property
    def url(self) -> str:
        return self.server.url

    async def stop(self) -> None:
        await self.server.stop()
        self.history.close()


async def start_public_site(config: CollectorConfig, publisher: PublicPublisher) -> RunningSite:
    """Build the site, start listening on ``[web] listen``; ConfigError when it cannot (address taken)."""
    settings = site_settings(config)
    basemap = await load_basemap(config)
    snapshots = PublishedSnapshots(max_age_s=max(1, settings.refresh_s // 2))
    snapshots.load(config.public.public_dir)
    publisher.listeners.append(snapshots.put)
    history = PublicHistoryReader(config.public.history_path)
    places = places_of(json.loads(basemap)) if basemap is not None else []
    site = PublicSite(settings, site_assets(settings, basemap), snapshots, history, places)
    host, port = config.web.address
    server = WebServer(public_app(site), host, port)
    try:
        await server.start()
    except OSError as exc:
        history.close()
        raise ConfigError(f"[web] listen = {config.web.listen!r}: cannot listen: {exc.strerror or exc}",
                          path=config.path) from None  # fmt: skip
    except BaseException:
        history.close()
        raise
    log.info("public site on %s", server.url)
    return RunningSite(server, history)
