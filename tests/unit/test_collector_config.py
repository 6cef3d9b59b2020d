"""The collector's config schema: defaults, the example file, errors with file:line:key, the [public] section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collector.config import CollectorConfig, config_from_table, load_config
from collector.session import subscriptions, view_subscriptions
from common.tomlconfig import ConfigError, parse_toml

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "collector.example.toml"


def parse(text: str) -> CollectorConfig:
    return config_from_table(parse_toml(text, Path("/etc/activecalls/collector.toml")))


def test_example_config_loads_with_defaults() -> None:
    config = load_config(EXAMPLE)
    assert config.fleet == "derbyshire" and config.mqtt.client_id == "collector-derbyshire"
    assert config.eta.model.circuity == 1.35 and config.router.osrm_url is None
    assert not config.public.enabled and config.ingest.shared_group is None


def test_every_commented_key_of_the_example_is_accepted(tmp_path: Path) -> None:
    text = re.sub(r"^#(\w+ = |\[public\]$|\[web\]$|\[dispatch\]$)", r"\1", EXAMPLE.read_text(), flags=re.M)
    text = text.replace("tls = false", "tls = true")
    (tmp_path / "c.toml").write_text(text)
    config = load_config(tmp_path / "c.toml")
    assert config.ingest.shared_group == "collectors" and config.router.osrm_url == "http://127.0.0.1:5000"
    assert config.staleness.report_interval_s == 5.0 and config.eta.model.profiles[0].cruise_mps == 20.0
    assert config.public.enabled and config.public.policy.epsg == 27700
    assert (config.ingest.fix_time.ahead_s, config.ingest.fix_time.max_age_s) == (120.0, 30 * 86400.0)
    assert config.eta.osm == Path("/etc/activecalls/area.osm.pbf")
    assert config.web.enabled and config.web.tile_url and config.eta.osm is not None
    assert config.dispatch.enabled and config.dispatch.tls and config.dispatch.address == ("127.0.0.1", 8443)
    assert config.dispatch.session_s == 12 * 3600 and config.dispatch.tokens_file is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[dispatch]\n", r":2: \[dispatch\] tokens_file: is needed"),
        ('[dispatch]\ntokens_file = "t"\nlisten = "8443"', r":4: \[dispatch\] listen: must be HOST:PORT"),
        ('[dispatch]\ntokens_file = "t"\ncert_file = "c"', r"\[dispatch\] key_file: cert_file and key_file go"),
        ('[public]\nsecret_file = "s"\n[web]\nlisten = "0.0.0.0:8080"\n[dispatch]\ntokens_file = "t"\n'
         'listen = "127.0.0.1:8080"', r"\[dispatch\] listen: .* shares its port with the public site"),
        ('[dispatch]\ntokens_file = "t"\nsession_hours = 0', r"\[dispatch\] session_hours: must be greater"),
    ],
)
def test_dispatch_section_mistakes_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse('fleet = "f"\n' + text)


def test_the_osm_extract_is_a_path_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('fleet = "f"\n[eta]\nosm = "maps/area.osm.pbf"\n')
    assert load_config(tmp_path / "c.toml").eta.osm == tmp_path / "maps" / "area.osm.pbf"
    assert parse('fleet = "f"\n').eta.osm is None


def test_the_public_section_is_read_with_the_rest() -> None:
    config = parse('fleet = "f"\n[public]\nsecret_file = "s"\n[public.categories]\nburglary = "crime"\n')
    assert config.public.enabled and config.public.policy.category("burglary") == "crime"
    assert not parse('fleet = "f"\n').public.enabled
    with pytest.raises(ConfigError, match=r"collector.toml:3: \[public\] whatever: unknown key in \[public\]"):
        parse('fleet = "f"\n[public]\nwhatever = 1\nsecret_file = "s"\n')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('fleet = "no spaces"', ":1: fleet: fleet id must be"),
        ('fleet = "f"\n[eta]\ncruise_mps = [1, 2]', ":3: [eta] cruise_mps: must be a list of 4 numbers"),
        ('fleet = "f"\n[ingest]\nshared_group = "a/b"', ":3: [ingest] shared_group"),
        ('fleet = "f"\n[ingest]\nmax_fix_ahead_s = -1', ":3: [ingest] max_fix_ahead_s"),
        ('fleet = "f"\n[mqtt]\ncert_file = "c.crt"\nkey_file = "c.key"\nca_file = "ca.crt"\n[ingest]\n'
         'shared_group = "g"', ":7: [ingest] shared_group: with a client certificate needs view_cert_file"),
        ('fleet = "f"\n[ingest]\nview_cert_file = "v.crt"\nview_key_file = "v.key"',
         "[ingest] view_cert_file: is the fleet-view connection's, which only a shared_group has"),
        ('fleet = "f"\n[ingest]\nshared_group = "g"\nview_cert_file = "v.crt"',
         "[ingest] view_key_file: view_cert_file and view_key_file go together"),
        ('fleet = "f"\n[ingest]\nmax_fix_age_days = 0', ":3: [ingest] max_fix_age_days"),
        ('fleet = "f"\n[router]\nosrm_url = "localhost:5000"', ":3: [router] osrm_url: must start with http"),
        ('fleet = "f"\n[store]\nsynchronous = "OFF"', ":3: [store] synchronous: must be one of"),
        ('fleet = "f"\n[staleness]\nfactr = 2', "factr: unknown key in [staleness] (did you mean 'factor'?)"),
        ("[mqtt]\nport = 1", "fleet: is required"),
    ],
)
def test_mistakes_name_file_line_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(text)
    assert message in str(error.value) and str(error.value).startswith("/etc/activecalls/collector.toml")


def test_shared_subscription_filters() -> None:
    from common.wire import TopicKind, Topics

    plain = subscriptions(Topics("f"))
    assert plain == ["ac/v1/f/units/+/pos", "ac/v1/f/units/+/track", "ac/v1/f/units/+/state",
                     "ac/v1/f/units/+/status", "ac/v1/f/incidents/+"]  # fmt: skip
    shared = subscriptions(Topics("f"), "g")
    # Positions split between the group; states, statuses and incidents go whole to each collector.
    assert shared == [f"$share/g/{f}" if "/pos" in f or "/track" in f else f for f in plain]
    assert sum(f.startswith("$share/g/") for f in shared) == 2
    assert view_subscriptions(Topics("f")) == [Topics("f").unit_filter(TopicKind.POS)]
