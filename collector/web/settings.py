"""The collector config's ``[web]`` section: the public site served by the collector.

::

    [web]
    listen = "127.0.0.1:8080"          # HOST:PORT; [::1]:8080 for IPv6
    title = "Derbyshire Constabulary: active calls"
    timezone = "Europe/London"         # the days and hours of the trends
    #tile_url = "https://tiles.example.org/{z}/{x}/{y}.png"   # default: roads drawn from [eta] osm, offline
    #tile_attribution = "© OpenStreetMap contributors"
    data_licence = "Open Government Licence v3.0"
    data_licence_url = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"

The section's presence turns the site on (``enabled = false`` keeps it off);
it shows the public feed, so it needs ``[public]`` too. The map's background
is drawn from the OpenStreetMap extract of ``[eta] osm`` when there is one.
"""

from __future__ import annotations

import ipaddress
import zoneinfo
from dataclasses import dataclass
from typing import Final

from common.tomlconfig import Table

__all__ = ["DEFAULT_LISTEN", "WebSettings", "parse_listen", "web_settings"]

DEFAULT_LISTEN: Final = "127.0.0.1:8080"
DEFAULT_LICENCE: Final = "Open Government Licence v3.0"
DEFAULT_LICENCE_URL: Final = "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"


def parse_listen(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"``, ``"[::1]:8080"``, ``"localhost:8080"`` -> (host, port); ValueError otherwise."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"must be HOST:PORT (e.g. {DEFAULT_LISTEN}), got {text!r}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be 1-65535, got {port}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"an IPv6 host is written [::1], got {host!r}")
        host = host[1:-1]
        ipaddress.IPv6Address(host)
    return host, port


@dataclass(frozen=True, slots=True)
class WebSettings:
    enabled: bool = False
    listen: str = DEFAULT_LISTEN
    title: str = "Active calls"
    timezone: str = "UTC"
    tile_url: str | None = None
    tile_attribution: str = ""
    data_licence: str = DEFAULT_LICENCE
    data_licence_url: str = DEFAULT_LICENCE_URL

    @property
    def address(self) -> tuple[str, int]:
        return parse_listen(self.listen)


def web_settings(table: Table | None) -> WebSettings:
    """Read ``[web]`` (rejecting unknown keys); None: the site is off."""
    if table is None:
        return WebSettings()
    enabled = table.get_bool("enabled", True)
    listen = table.get_str("listen", DEFAULT_LISTEN)
    try:
        parse_listen(listen)
    except ValueError as exc:
        raise table.error("listen", str(exc)) from None
    timezone = table.get_str("timezone", "UTC")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        message = f"not a time zone this machine knows (e.g. Europe/London), got {timezone!r}"
        raise table.error("timezone", message) from None
    tile_url = table.get_str("tile_url", None)
    if tile_url is not None and (not tile_url.startswith(("https://", "http://")) or "{z}" not in tile_url):
        raise table.error("tile_url", f"must be an http(s) URL with {{z}}, {{x}} and {{y}}, got {tile_url!r}")
    settings = WebSettings(
        enabled=enabled,
        listen=listen,
        title=table.get_str("title", "Active calls"),
        timezone=timezone,
        tile_url=tile_url,
        tile_attribution=table.get_str("tile_attribution", "", non_empty=False),
        data_licence=table.get_str("data_licence", DEFAULT_LICENCE),
        data_licence_url=table.get_str("data_licence_url", DEFAULT_LICENCE_URL),
    )
    table.check_unknown()
    return settings
