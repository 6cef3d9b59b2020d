"""docs/install.md as deploy/try-install-guide reads it: the blocks of both parts (the car; the broker
then the collector) extract, the skip marks say why, the variables blocks name what the test sets, the
test's substitutes and port rewrites find their blocks, and every session is valid bash."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_try_script() -> ModuleType:
    path = REPO / "deploy" / "try-install-guide"
    loader = importlib.machinery.SourceFileLoader("try_install_guide", str(path))
    spec = importlib.util.spec_from_loader("try_install_guide", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["try_install_guide"] = module  # dataclasses look their module up there
    loader.exec_module(module)
    return module


guide = load_try_script()
TEXT = (REPO / "docs" / "install.md").read_text(encoding="utf-8")
HQ_VALUES = {"FLEET": "f", "BROKER": "localhost", "BROKER_PORT": "2"}
HQ_PORTS = {"vehicle": 1, "service": 2, "public": 3}


def hq_session() -> Any:
    start = guide.HQ_START_MOSQUITTO.format(loopback="127.0.0.1", **HQ_PORTS)
    substitutes = [
        guide.Substitute("systemctl restart mosquitto", start),
        guide.Substitute("systemctl start activecalls-collector", guide.HQ_RUN_COLLECTOR.format(seconds=1)),
    ]
    rewrites = [guide.Rewrite(r"\b8883\b", "1", "vehicle"), guide.Rewrite(r"\b8884\b", "2", "service")]
    return guide.session_script(guide.part_blocks(TEXT, "hq"), HQ_VALUES, substitutes, rewrites)


def bash_n(tmp_path: Path, script: str) -> None:
    path = tmp_path / "guide.sh"
    path.write_text(script)
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_agent_blocks_extract_with_their_skip_reasons() -> None:
    blocks = guide.extract_blocks(TEXT)
    run = [b for b in blocks if b.skip is None]
    skipped = [b for b in blocks if b.skip is not None]
    assert len(run) >= 7 and all(b.skip for b in skipped)  # every skip says why
    text = "\n".join(b.code for b in run)
    for needed in ("pip install", "useradd", "/etc/activecalls/agent.toml", "99-activecalls-gps.rules",
                   "receiver apply", "systemctl enable activecalls-agent", "activecalls-agent check"):  # fmt: skip
        assert needed in text, needed
    assert run[-1].code.strip().startswith("sudo -u activecalls activecalls-agent check")  # the acceptance step
    assert "systemctl start" not in text  # what a chroot cannot do is marked


def test_every_command_can_be_run_again() -> None:
    """A re-run (deploy/try-install-guide runs a car's section twice) must not fail on what the first made."""
    lines = [line.strip() for b in guide.part_blocks(TEXT, "car") + guide.part_blocks(TEXT, "hq")
             for line in b.code.splitlines()]  # fmt: skip
    for index, line in enumerate(lines):
        if "git clone" in line:
            assert line.startswith("[ -d /opt/activecalls/src ] ||"), line
        if "useradd" in line:
            assert lines[index - 1].startswith("id -u activecalls >/dev/null 2>&1 ||"), line
        assert not re.search(r"\bmkdir\b(?! -p)", line), line


def test_session_script_is_valid_bash_and_sets_the_guides_variables(tmp_path: Path) -> None:
    blocks = guide.extract_blocks(TEXT)
    values = {"UNIT": "PC-1", "FLEET": "f", "BROKER": "localhost", "BROKER_PORT": "1", "GPS_PROFILE": "mtk-l76",
              "GPS_BAUD": "38400"}  # fmt: skip
    script = guide.session_script(blocks, values).script
    bash_n(tmp_path, script)
    assert "GPS_PROFILE=mtk-l76" in script
    with pytest.raises(ValueError, match="the guide sets"):
        guide.session_script(blocks, {**values, "EXTRA": "x"})


def test_hq_blocks_follow_the_broker_then_the_collector() -> None:
    blocks = guide.part_blocks(TEXT, "hq")
    broker = guide.extract_blocks(TEXT, "The broker")
    assert blocks[: len(broker)] == broker and len(blocks) > len(broker)
    run = [b for b in blocks if b.skip is None]
    skipped = [b for b in blocks if b.skip is not None]
    assert all(b.skip for b in skipped)  # every skip says why
    text = "\n".join(b.code for b in run)
    for needed in ("apt-get install", "deploy/mosquitto/render --fleet", "make-lab-pki", "--lab-pki",
                   "mosquitto.service.d", "mosquitto_pub", "pip install", "useradd", "/etc/activecalls/collector.toml",
                   "-g activecalls collector.key collector-cli.key", "systemctl enable activecalls-collector",
                   "activecalls-public-broker.service", "101 Switching Protocols"):  # fmt: skip
        assert needed in text, needed
    assert run[-1].code.strip().startswith("sudo -u activecalls activecalls-collector check")  # the acceptance step
    assert "systemctl restart" not in text and "systemctl start" not in text and "daemon-reload" not in text
    assert "sudoedit" not in "\n".join(b.code for b in blocks)  # nothing interactive to paste
    # One host: the second section's clone must not fail because the first one's made the source.
    clones = [line for b in blocks for line in b.code.splitlines() if "git clone" in line]
    assert len(clones) == 2 and all(line.startswith("[ -d /opt/activecalls/src ] ||") for line in clones)


def test_hq_session_is_valid_bash_with_its_substitutes_and_rewrites(tmp_path: Path) -> None:
    session = hq_session()
    assert isinstance(session, guide.Session)
    bash_n(tmp_path, session.script)
    assert session.script.count("FLEET=f") == 2  # each section's variables block, with the test's value
    assert "BROKER_PORT=2" in session.script
    assert "mosquitto -d -c /etc/mosquitto/mosquitto.conf" in session.script
    assert "mosquitto -c /etc/mosquitto/activecalls-public/mosquitto.conf" in session.script
    assert "activecalls-collector run --config /etc/activecalls/collector.toml" in session.script
    assert session.script.index("mosquitto -d") < session.script.index("mosquitto_pub")
    assert 'mosquitto_pub -V mqttv5 -h "$BROKER" -p 1 ' in session.script  # 8883 rewritten, and said so
    assert any("8883" in change for change in session.rewritten)


@pytest.mark.parametrize("section", ["A car: the agent", "The broker", "Headquarters: the collector"])
def test_each_section_sets_the_variables_it_uses(section: str) -> None:
    """Each section may be a host of its own: what its commands use, its own first block sets."""
    blocks = guide.extract_blocks(TEXT, section)
    assigned = {name for b in blocks for name in guide.assigned_names(b.code)}
    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", "\n".join(b.code for b in blocks)))
    assert assigned and used <= assigned, used - assigned


def test_hq_values_must_match_the_guides_variables() -> None:
    blocks = guide.part_blocks(TEXT, "hq")
    with pytest.raises(ValueError, match="the guide sets"):
        guide.session_script(blocks, {"FLEET": "f", "BROKER": "b"})  # BROKER_PORT set by the guide, not the test
    with pytest.raises(ValueError, match="the guide sets"):
        guide.session_script(blocks, {**HQ_VALUES, "UNIT": "x"})
    with pytest.raises(ValueError, match="no skipped block"):
        guide.session_script(blocks, HQ_VALUES, [guide.Substitute("systemctl restart nothing", "true")])


def test_extraction_rules() -> None:
    text = "## Other\n```sh\nno\n```\n## A car: the agent\n<!-- try: skip (why not) -->\n\n```sh\nA=1\n```\n" \
           "```sh\necho hi\n```\n```\nnot sh\n```\n## Next\n```sh\nno\n```\n"  # fmt: skip
    blocks = guide.extract_blocks(text)
    assert [(b.code, b.skip) for b in blocks] == [("A=1", "why not"), ("echo hi", None)]
    with pytest.raises(ValueError, match="never closed"):
        guide.extract_blocks("## A car: the agent\n```sh\necho\n")
