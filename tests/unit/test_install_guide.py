"""docs/install.md as deploy/try-install-guide reads it: the agent's blocks extract, the skip marks
say why, the variables block names what the test sets, and every block is valid bash."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

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


def test_agent_blocks_extract_with_their_skip_reasons() -> None:
    blocks = guide.extract_blocks((REPO / "docs" / "install.md").read_text(encoding="utf-8"))
    run = [b for b in blocks if b.skip is None]
    skipped = [b for b in blocks if b.skip is not None]
    assert len(run) >= 7 and all(b.skip for b in skipped)  # every skip says why
    text = "\n".join(b.code for b in run)
    for needed in ("pip install", "useradd", "/etc/activecalls/agent.toml", "99-activecalls-gps.rules",
                   "receiver apply", "systemctl enable activecalls-agent", "activecalls-agent check"):  # fmt: skip
        assert needed in text, needed
    assert run[-1].code.strip().startswith("sudo -u activecalls activecalls-agent check")  # the acceptance step
    assert "git clone" not in text and "systemctl start" not in text  # what a chroot cannot do is marked


def test_session_script_is_valid_bash_and_sets_the_guides_variables(tmp_path: Path) -> None:
    blocks = guide.extract_blocks((REPO / "docs" / "install.md").read_text(encoding="utf-8"))
    values = {"UNIT": "PC-1", "FLEET": "f", "BROKER": "localhost", "BROKER_PORT": "1", "GPS_PROFILE": "mtk-l76",
              "GPS_BAUD": "38400"}  # fmt: skip
    script = tmp_path / "guide.sh"
    script.write_text(guide.session_script(blocks, values))
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "GPS_PROFILE=mtk-l76" in script.read_text()
    with pytest.raises(ValueError, match="the guide sets"):
        guide.session_script(blocks, {**values, "EXTRA": "x"})


def test_extraction_rules() -> None:
    text = "## Other\n```sh\nno\n```\n## A car: the agent\n<!-- try: skip (why not) -->\n\n```sh\nA=1\n```\n" \
           "```sh\necho hi\n```\n```\nnot sh\n```\n## Next\n```sh\nno\n```\n"  # fmt: skip
    blocks = guide.extract_blocks(text)
    assert [(b.code, b.skip) for b in blocks] == [("A=1", "why not"), ("echo hi", None)]
    with pytest.raises(ValueError, match="never closed"):
        guide.extract_blocks("## A car: the agent\n```sh\necho\n")
