"""Where a service keeps its state: systemd's ``StateDirectory=`` or a fallback."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DEFAULT_OSM_EXTRACT", "data_file", "state_file"]

_SOURCE_TREE = Path(__file__).resolve().parents[1]


def state_file(name: str, fallback_dir: str, environ: Mapping[str, str] | None = None) -> Path:
    """``$STATE_DIRECTORY/<name>`` under systemd's ``StateDirectory=``, else ``<fallback_dir>/<name>``."""
    env = os.environ if environ is None else environ
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state or fallback_dir) / name


def data_file(relative: str) -> Path:
    """A file the project ships under ``data/``: from the source tree (a checkout or an
    editable install), else the installed copy in ``<prefix>/share/activecalls/``."""
    in_tree = _SOURCE_TREE / "data" / relative
    if in_tree.exists():
        return in_tree
    return Path(sys.prefix) / "share" / "activecalls" / relative


# The force area of the examples, the demo and the tests (data/osm/README.md: ODbL).
DEFAULT_OSM_EXTRACT = "osm/chesterfield-s40.osm.pbf"
