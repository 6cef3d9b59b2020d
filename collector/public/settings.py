"""The collector config's ``[public]`` section: the policy plus how the feed is published.

Reading TOML with file:line errors is :mod:`common.tomlconfig`; the policy's
own checks (ranges, categories, CRS) are :class:`PublicPolicy`'s, and a
:class:`PublicConfigError` it raises becomes a ConfigError naming the file,
the line and the key, so the limits are stated once::

    [public]
    secret_file = "public-secret"      # openssl rand -hex 32 | install -m 0640 -g activecalls /dev/stdin ...
    public_dir = "/var/www/activecalls"
    cell_m = 500
    epsg = 27700
    [public.categories]
    "Burglary Other" = "burglary"      # added to (or overriding) the built-in table

The section's presence turns the feed on (``enabled`` defaults to true when
``[public]`` is there); ``enabled = false`` keeps the settings but publishes
nothing. The pseudonym secret is read by :func:`read_secret` when the feed
starts, so a missing or short secret stops the service with one clear line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from collector.public.config import DEFAULT_CATEGORIES, PublicConfigError, PublicPolicy
from collector.public.policy import MAX_OBSERVATION_GAP_S
from collector.public.pseudonym import PseudonymSecretError, check_secret
from common.secrets import read_private_bytes
from common.tomlconfig import REQUIRED, ConfigError, Table

__all__ = [
    "DEFAULT_PUBLISH_EVERY_S",
    "HISTORY_FILE",
    "MAX_PUBLISH_EVERY_S",
    "PublicSettings",
    "default_state_path",
    "public_settings",
    "read_secret",
]

DEFAULT_PUBLISH_EVERY_S: Final = 30.0
HISTORY_FILE: Final = "public-history.sqlite"
# The policy forgets every unit's duty statuses after a gap of more than
# MAX_OBSERVATION_GAP_S between snapshots (it cannot know what happened in
# it), so a slower cadence would hide every unit for ever. Half of it leaves
# room for a slow tick.
MAX_PUBLISH_EVERY_S: Final = MAX_OBSERVATION_GAP_S / 2

# The policy's keys, read here with a type check only: PublicPolicy owns the ranges.
_INT_KEYS: Final = ("unit_delay_s", "call_delay_s", "linger_s", "stale_s", "epsg")
_FLOAT_KEYS: Final = ("cell_m", "hysteresis_m")
_POLICY_KEYS: Final = (
    *_INT_KEYS,
    *_FLOAT_KEYS,
    "centre",
    "units",
    "categories",
    "suppressed",
    "suppress_keywords",
    "unknown_category",
)
# "unit_delay_s must be ...", "centre: lat must ...", "categories.Foo Bar: a category ..."
_POLICY_MESSAGE: Final = re.compile(r"(?P<key>[a-z_]+)(?:\.(?P<sub>[^:]+))?(?::\s*|\s+)(?P<rest>.+)", re.DOTALL)


def default_state_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$STATE_DIRECTORY/public-state.json`` under systemd's ``StateDirectory=``,
    else ``/var/lib/activecalls-collector/public-state.json``."""
    env = os.environ if environ is None else environ
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state or "/var/lib/activecalls-collector") / "public-state.json"


@dataclass(frozen=True, slots=True)
class PublicSettings:
    """The ``[public]`` section: what the feed shows (``policy``) and where it goes."""

    enabled: bool = False
    policy: PublicPolicy = field(default_factory=PublicPolicy)
    publish_every_s: float = DEFAULT_PUBLISH_EVERY_S
    public_dir: Path | None = None  # units.geojson and calls.geojson are written here when set
    secret_file: Path | None = None  # required when enabled
    state_file: Path = field(default_factory=default_state_path)  # private: holds real unit ids
    history_file: Path | None = None  # public: every call published; None: beside state_file

    @property
    def history_path(self) -> Path:
        """``history_file``, by default ``public-history.sqlite`` beside the state file."""
        return self.history_file or self.state_file.with_name(HISTORY_FILE)


def _policy(t: Table) -> PublicPolicy:
    kwargs: dict[str, Any] = {}
    for key in _INT_KEYS:
        if (value := t.get_int(key, None)) is not None:
            kwargs[key] = value
    for key in _FLOAT_KEYS:
        if (value := t.get_float(key, None)) is not None:
            kwargs[key] = value
    if "centre" in t:  # [lat, lon]
        kwargs["centre"] = t.get_floats("centre", REQUIRED, count=2)
    if (units := t.get_str("units", None)) is not None:
        kwargs["units"] = units
    if "categories" in t:
        table = t.get_table("categories")
        # Added to the built-in table: an operator adding one CAD code must not
        # silently drop every other mapping.
        kwargs["categories"] = {**DEFAULT_CATEGORIES, **{k: table.get_str(k) for k in table.present_keys()}}
    for key in ("suppressed", "suppress_keywords"):
        if (names := t.get_list(key, None)) is not None:
            kwargs[key] = names
    if (unknown := t.get_str("unknown_category", None, non_empty=False)) is not None:
        kwargs["unknown_category"] = unknown
    try:
        return PublicPolicy(**kwargs)
    except PublicConfigError as exc:
        raise _located(t, str(exc)) from None


def _located(t: Table, message: str) -> ConfigError:
    """The policy's message, placed at the line of the key it names."""
    found = _POLICY_MESSAGE.fullmatch(message)
    if found is None or found["key"] not in _POLICY_KEYS:
        return ConfigError(message, path=t.path, key=f"[{'.'.join(t.section)}]")
    if found["sub"] is not None and found["key"] == "categories":
        return t.get_table("categories").error(found["sub"], found["rest"])
    rest = found["rest"] if found["sub"] is None else f"{found['sub']}: {found['rest']}"
    return t.error(found["key"], rest)


def public_settings(table: Table | None) -> PublicSettings:
    """Read the collector config's ``[public]`` table (rejecting unknown keys);
    None (no such table) is the feed switched off, with the default policy."""
    if table is None:
        return PublicSettings()
    enabled = table.get_bool("enabled", True)
    publish_every_s = table.get_float("publish_every_s", DEFAULT_PUBLISH_EVERY_S, low=1.0, high=MAX_PUBLISH_EVERY_S)
    public_dir = table.get_path("public_dir", None)
    secret_file = table.get_path("secret_file", REQUIRED if enabled else None)
    state_file = table.get_path("state_file", default_state_path())
    history_file = table.get_path("history_file", None)
    policy = _policy(table)
    table.check_unknown()
    return PublicSettings(enabled, policy, publish_every_s, public_dir, secret_file, state_file, history_file)


def read_secret(path: Path) -> bytes:
    """The pseudonym secret: the file's bytes without trailing whitespace (the
    newline ``openssl rand -hex 32`` leaves), checked private and long enough."""
    hint = f"create one with: openssl rand -hex 32 | sudo install -m 0640 -g activecalls /dev/stdin {path}"
    if not path.exists():
        raise ConfigError(f"the pseudonym secret file does not exist ({hint})", path=path)
    secret = read_private_bytes(path, "pseudonym secret file").rstrip()
    try:
        return check_secret(secret)
    except PseudonymSecretError as exc:
        raise ConfigError(str(exc), path=path) from None
