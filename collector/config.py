"""The collector's configuration: ``/etc/activecalls/collector.toml`` -> :class:`CollectorConfig`.

Only the schema lives here: reading TOML with one-line errors naming the file,
line and key is :mod:`common.tomlconfig`, the ``[mqtt]`` table is
:func:`common.mqtt.mqtt_settings` (the same keys and errors as the agent's).
``deploy/collector.example.toml`` documents every key.

The ``[public]`` table is the public feed's (:mod:`collector.public.settings`:
the policy and how it is published) and ``[web]`` the public site's
(:mod:`collector.web.settings`), ``[dispatch]`` the dispatcher's board and CAD
API (:mod:`collector.dispatch.settings`); read here, so their mistakes are found with
the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from collector.dispatch.settings import DispatchSettings, dispatch_settings
from collector.eta import DEFAULT_PROFILES, EtaPolicy, SpeedProfile, TravelModel
from collector.fleet import StalenessPolicy
from collector.public.settings import PublicSettings, public_settings
from collector.web.settings import WebSettings, web_settings
from common.mqtt import MqttSettings, mqtt_settings
from common.paths import state_file
from common.tomlconfig import ConfigError, Table, load_toml
from common.wire import MAX_FIX_AGE_S, MAX_FIX_AHEAD_S, FixTimeBounds, WireError, validate_id

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "CliSettings",
    "CollectorConfig",
    "ConfigError",
    "EtaSettings",
    "IngestSettings",
    "RouterSettings",
    "StoreSettings",
    "default_db_path",
    "load_config",
]

DEFAULT_CONFIG_PATH: Final = Path("/etc/activecalls/collector.toml")


def default_db_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$STATE_DIRECTORY/collector.sqlite`` under systemd's ``StateDirectory=``,
    else ``/var/lib/activecalls-collector/collector.sqlite``."""
    return state_file("collector.sqlite", "/var/lib/activecalls-collector", environ)


@dataclass(frozen=True, slots=True)
class IngestSettings:
    # The broker keeps our session (subscriptions, queued messages) this long while we are away.
    session_expiry_s: int = 7 * 24 * 3600
    # MQTT 5 shared subscription group: several collectors split the ingest ($share/<group>/...).
    shared_group: str | None = None
    # The fleet-view connection's own client certificate, in a shared group on a broker that
    # makes a certificate's CN the client id (the rendered one, EMQX's peer_cert_as_clientid):
    # with the service's certificate it would take over the service's own session.
    view_cert_file: Path | None = None
    view_key_file: Path | None = None
    # Unacknowledged messages the broker may send at once (acks wait for the database commit).
    receive_maximum: int = 2000
    # A fix dated further ahead of its receipt, or further back, is refused (docs/wire.md).
    fix_time: FixTimeBounds = field(default_factory=FixTimeBounds)


@dataclass(frozen=True, slots=True)
class CliSettings:
    """How ``activecalls-collector``'s commands log in to the broker: never as
    the service. On a broker that makes a certificate's CN the client id (the
    rendered one), the service's certificate would take over the running
    collector's session, so with mTLS the command line has its own
    (``collector-cli``); with a username and password it may have its own too."""

    cert_file: Path | None = None
    key_file: Path | None = None
    username: str | None = None
    password_file: Path | None = None


@dataclass(frozen=True, slots=True)
class StoreSettings:
    path: Path = field(default_factory=default_db_path)
    synchronous: str = "FULL"
    url: str | None = None  # postgresql://...: the PostgreSQL store instead of the SQLite file
    retention_days: float = 90.0
    prune_every_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class EtaSettings:
    model: TravelModel = field(default_factory=TravelModel)
    policy: EtaPolicy = field(default_factory=EtaPolicy)
    min_interval_s: float = 0.05  # at most one recompute of an incident per this, when units move
    refresh_s: float = 10.0  # every incident at least this often (fix ages grow)
    eta_tolerance_s: float = 5.0  # republish only when an ETA moved more than this (or anything else changed)
    keep_closed_s: float = 3600.0  # closed incidents are forgotten from memory after this
    osm: Path | None = None  # the force's OpenStreetMap extract: ETAs on its roads, the public map's background


@dataclass(frozen=True, slots=True)
class RouterSettings:
    osrm_url: str | None = None
    profile: str = "driving"
    timeout_s: float = 2.0
    max_table_size: int = 100


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    fleet: str
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    staleness: StalenessPolicy = field(default_factory=StalenessPolicy)
    eta: EtaSettings = field(default_factory=EtaSettings)
    router: RouterSettings = field(default_factory=RouterSettings)
    public: PublicSettings = field(default_factory=PublicSettings)  # off unless [public] is there
    cli: CliSettings = field(default_factory=CliSettings)
    path: Path | None = None
    web: WebSettings = field(default_factory=WebSettings)  # off unless [web] is there
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)  # off unless [dispatch] is there


def _ingest(t: Table, mqtt: MqttSettings) -> IngestSettings:
    group = t.get_str("shared_group", None)
    if group is not None and any(c in group for c in "/+#"):
        raise t.error("shared_group", f"must not contain '/', '+' or '#', got {group!r}")
    view_cert, view_key = t.get_path("view_cert_file", None), t.get_path("view_key_file", None)
    if (view_cert is None) != (view_key is None):
        raise t.error("view_cert_file" if view_key is not None else "view_key_file",
                      "view_cert_file and view_key_file go together")  # fmt: skip
    if view_cert is not None and group is None:
        raise t.error("view_cert_file", "is the fleet-view connection's, which only a shared_group has")
    if group is not None and mqtt.cert_file is not None and view_cert is None:
        raise t.error("shared_group", "with a client certificate needs view_cert_file and view_key_file too: "
                      "the fleet-view connection needs an identity of its own (e.g. CN collector-1-view), "
                      "or on a broker that makes the CN the client id it takes over this collector's "
                      "session (docs/scale.md)")  # fmt: skip
    settings = IngestSettings(
        session_expiry_s=t.get_int("session_expiry_s", 7 * 24 * 3600, low=60, high=2**32 - 1),
        shared_group=group,
        view_cert_file=view_cert,
        view_key_file=view_key,
        receive_maximum=t.get_int("receive_maximum", 2000, low=1, high=65535),
        fix_time=FixTimeBounds(
            ahead_s=t.get_float("max_fix_ahead_s", MAX_FIX_AHEAD_S, low=0.0, high=86400.0),
            max_age_s=t.get_float("max_fix_age_days", MAX_FIX_AGE_S / 86400, low=0.0, low_exclusive=True) * 86400,
        ),
    )
    t.check_unknown()
    return settings


def _cli(t: Table, mqtt: MqttSettings) -> CliSettings:
    cert_file, key_file = t.get_path("cert_file", None), t.get_path("key_file", None)
    if (cert_file is None) != (key_file is None):
        raise t.error("cert_file" if key_file is not None else "key_file", "cert_file and key_file go together")
    if cert_file is not None and not mqtt.tls:
        raise t.error("cert_file", "needs [mqtt] tls (the service's connection) on")
    username, password_file = t.get_str("username", None), t.get_path("password_file", None)
    if password_file is not None and username is None:
        raise t.error("password_file", "needs a username too")
    t.check_unknown()
    return CliSettings(cert_file, key_file, username, password_file)


def _store(t: Table) -> StoreSettings:
    url = t.get_str("url", None)
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise t.error("url", f"must start with postgresql://, got {url.partition(':')[0]!r}:...")
    settings = StoreSettings(
        url=url,
        path=t.get_path("path", default_db_path()),
        synchronous=t.get_choice("synchronous", ("FULL", "EXTRA", "NORMAL"), "FULL"),
        retention_days=t.get_float("retention_days", 90.0, low=0.0, low_exclusive=True),
        prune_every_s=t.get_float("prune_every_s", 3600.0, low=1.0),
    )
    t.check_unknown()
    return settings


def _staleness(t: Table) -> StalenessPolicy:
    policy = StalenessPolicy(
        factor=t.get_float("factor", 2.0, low=0.0),
        grace_s=t.get_float("grace_s", 10.0, low=0.0),
        report_interval_s=t.get_float("report_interval_s", None, low=0.0, low_exclusive=True),
        default_interval_s=t.get_float("default_interval_s", 5.0, low=0.0),
        offline_exclude_after_s=t.get_float("offline_exclude_after_s", 120.0, low=0.0),
    )
    t.check_unknown()
    return policy


def _eta(t: Table) -> EtaSettings:
    # One value per priority, 1 (emergency) to 4 (routine).
    cruise = t.get_floats("cruise_mps", [p.cruise_mps for p in DEFAULT_PROFILES], count=4, low=0.1)
    accel = t.get_floats("accel_mps2", [p.accel_mps2 for p in DEFAULT_PROFILES], count=4, low=0.001)
    model = TravelModel(
        circuity=t.get_float("circuity", 1.35, low=1.0, high=5.0),
        profiles=tuple(SpeedProfile(c, a) for c, a in zip(cruise, accel)),
        turnout_s=t.get_float("turnout_s", 15.0, low=0.0),
    )
    policy = EtaPolicy(
        max_units=t.get_int("max_units", 20, low=0, high=10_000),
        roam_mps=t.get_float("roam_mps", 13.9, low=0.0),
        router_units=t.get_int("router_units", 25, low=0, high=10_000),
        router_time_factor=t.get_float("router_time_factor", 1.0, low=0.0, low_exclusive=True),
    )
    min_interval = t.get_float("min_interval_s", 0.05, low=0.0)
    settings = EtaSettings(
        model=model,
        policy=policy,
        min_interval_s=min_interval,
        refresh_s=t.get_float("refresh_s", 10.0, low=max(min_interval, 0.1)),
        eta_tolerance_s=t.get_float("eta_tolerance_s", 5.0, low=0.0),
        keep_closed_s=t.get_float("keep_closed_s", 3600.0, low=0.0),
        osm=t.get_path("osm", None),
    )
    t.check_unknown()
    return settings


def _router(t: Table) -> RouterSettings:
    url = t.get_str("osrm_url", None)
    if url is not None and not url.startswith(("http://", "https://")):
        raise t.error("osrm_url", f"must start with http:// or https://, got {url!r}")
    settings = RouterSettings(
        osrm_url=url,
        profile=t.get_str("profile", "driving"),
        timeout_s=t.get_float("timeout_s", 2.0, low=0.0, low_exclusive=True),
        max_table_size=t.get_int("max_table_size", 100, low=2, high=100_000),
    )
    t.check_unknown()
    return settings


def config_from_table(root: Table) -> CollectorConfig:
    fleet: str = root.get_str("fleet")
    try:
        validate_id("fleet", fleet)
    except WireError as exc:
        raise root.error("fleet", str(exc)) from None
    mqtt = mqtt_settings(root.get_table("mqtt"), default_client_id=f"collector-{fleet}")
    ingest = _ingest(root.get_table("ingest"), mqtt)
    store = _store(root.get_table("store"))
    staleness = _staleness(root.get_table("staleness"))
    eta = _eta(root.get_table("eta"))
    router = _router(root.get_table("router"))
    public = public_settings(root.get_table("public") if "public" in root else None)
    web = web_settings(root.get_table("web") if "web" in root else None)
    if web.enabled and not public.enabled:
        raise root.get_table("web").error("enabled", "the public site shows the public feed: it needs [public] too")
    dispatch = dispatch_settings(root.get_table("dispatch") if "dispatch" in root else None,
                                 public_listen=web.listen if web.enabled else None)  # fmt: skip
    cli = _cli(root.get_table("cli"), mqtt)
    root.check_unknown()
    return CollectorConfig(fleet, mqtt, ingest, store, staleness, eta, router, public, cli, root.path, web, dispatch)


def load_config(path: Path) -> CollectorConfig:
    """Read and check the collector's config file; raise ConfigError (one line: file, line, key)."""
    return config_from_table(load_toml(path))
