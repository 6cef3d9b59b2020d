"""The public site's fixed files: the page, its scripts and styles, the vendored
libraries, ``site.json``, the map layer and the data package, as :class:`Asset` values.

The same files are served by the collector (:mod:`collector.web.public`) and
written by ``public export-site`` for any web server or CDN: the page uses
relative URLs only, and references its scripts with a content hash
(``static/app.js?v=3f2a...``) so they can be cached for a year while the page
itself is revalidated.

Everything here ships inside the Python package (``collector/web/static``):
an install needs no build step, no npm and no network.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from collector.web.http import Asset
from collector.web.opendata import FIELDS, datapackage

__all__ = ["IMMUTABLE", "SiteSettings", "STATIC_TYPES", "site_assets", "static_assets"]

IMMUTABLE: Final = "public, max-age=31536000, immutable"
PAGE_CACHE: Final = "public, max-age=300"
STATIC_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".md": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE
}
_PLACEHOLDER: Final = re.compile(r"\{\{(static|data):([A-Za-z0-9_./-]+)\}\}")


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """What the page is told about itself (``site.json``): nothing from the private side."""

    title: str
    timezone: str
    refresh_s: int  # how often the page polls the snapshots
    licence: str
    licence_url: str
    tile_url: str | None = None
    tile_attribution: str = ""
    static: bool = False  # exported files: open data for fixed ranges only, no ?from=&to=

    def to_json(self, basemap_url: str | None) -> dict[str, Any]:
        return {
            "v": 1,
            "title": self.title,
            "timezone": self.timezone,
            "refresh_s": self.refresh_s,
            "licence": {"name": self.licence, "url": self.licence_url},
            "tiles": None if self.tile_url is None else {"url": self.tile_url, "attribution": self.tile_attribution},
            "basemap": basemap_url,
            "static": self.static,
            "fields": [{"name": f.name, "type": f.type, "description": f.description} for f in FIELDS],
        }


def _static_files() -> dict[str, bytes]:
    """Every file under collector/web/static, by its path relative to it (``vendor/leaflet/leaflet.js``)."""
    root = resources.files("collector.web") / "static"
    found: dict[str, bytes] = {}

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, name + "/")
            elif child.name != "index.html" and not child.name.startswith("."):
                found[name] = child.read_bytes()

    walk(root, "")
    return found


def _type(name: str) -> str:
    suffix = name[name.rfind(".") :] if "." in name.rsplit("/", 1)[-1] else ""
    return STATIC_TYPES.get(suffix, "application/octet-stream")


def static_assets() -> dict[str, Asset]:
    """Every file under collector/web/static but the page, by URL path (``static/vendor/leaflet/leaflet.js``)."""
    return {f"static/{name}": Asset.of(data, _type(name), IMMUTABLE) for name, data in _static_files().items()}


def site_assets(settings: SiteSettings, basemap: bytes | None) -> dict[str, Asset]:
    """The fixed files by URL path (without the leading ``/``; the page is ``""``)."""
    assets = static_assets()
    basemap_url = None
    if basemap is not None:
        assets["basemap.json"] = layer = Asset.of(basemap, "application/json", IMMUTABLE)
        basemap_url = f"basemap.json?v={layer.version}"
    site = json.dumps(settings.to_json(basemap_url), separators=(",", ":"), ensure_ascii=False).encode()
    assets["site.json"] = Asset.of(site, "application/json", PAGE_CACHE)
    package = datapackage(settings.title, settings.licence, settings.licence_url)
    package_bytes = json.dumps(package, indent=1, ensure_ascii=False).encode()
    assets["open-data/datapackage.json"] = Asset.of(package_bytes, "application/json", PAGE_CACHE)

    def versioned(match: re.Match[str]) -> str:
        kind, name = match.groups()
        key = f"static/{name}" if kind == "static" else name
        asset = assets.get(key)
        if asset is None:
            return key  # basemap.json without an extract: the page asks site.json first
        return f"{key}?v={asset.version}"

    template = (resources.files("collector.web") / "static" / "index.html").read_text()
    page = _PLACEHOLDER.sub(versioned, template.replace("{{title}}", _html_escape(settings.title)))
    assets[""] = Asset.of(page.encode(), "text/html; charset=utf-8", PAGE_CACHE)
    return assets


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
