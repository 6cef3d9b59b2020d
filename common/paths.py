"""Where a service keeps its state: systemd's ``StateDirectory=`` or a fallback."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["state_file"]


def state_file(name: str, fallback_dir: str, environ: Mapping[str, str] | None = None) -> Path:
    """``$STATE_DIRECTORY/<name>`` under systemd's ``StateDirectory=``, else ``<fallback_dir>/<name>``."""
    env = os.environ if environ is None else environ
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state or fallback_dir) / name
