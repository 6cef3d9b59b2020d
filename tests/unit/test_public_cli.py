"""``public preview``: what would be published, from the database alone; one line per mistake."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from collector.public import unit_pseudonym
from collector.public.cli import _load, public
from collector.public.shell import PublicPublisher, store_source
from common.wire import Topics
from tests.unit.test_public_shell import SECRET, T0, _store_with_a_day

NOW = T0 + dt.timedelta(minutes=15)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(public, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """A collector config, its database and the state a running feed saved at NOW."""
    (tmp_path / "secret").write_bytes(SECRET + b"\n")
    (tmp_path / "secret").chmod(0o600)
    config = tmp_path / "collector.toml"
    config.write_text(
        'fleet = "testfleet"\n[store]\npath = "c.sqlite"\n'
        '[public]\nsecret_file = "secret"\nstate_file = "state.json"\nunit_delay_s = 300\ncall_delay_s = 60\n'
    )

    async def fill() -> None:
        async with await _store_with_a_day(tmp_path / "c.sqlite") as store:
            loaded = _load(config)
            publisher = PublicPublisher.start(loaded.public, Topics(loaded.fleet), store_source(store))
            for k in range(11, 0, -1):  # watched for more than the delay
                await publisher.tick(NOW - dt.timedelta(seconds=30 * k))
            publisher.close()

    asyncio.run(fill())
    return config


def test_preview_prints_the_table_and_writes_nothing(setup: Path) -> None:
    database = setup.parent / "c.sqlite"
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in setup.parent.iterdir()}
    code, out, err = invoke("preview", "--config", str(setup), "--at", "2026-11-28T08:15:00Z")
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "units as of 2026-11-28T08:10:00Z (delay 300 s, cell 500 m): 1 shown"
    assert lines[2].startswith(f"{unit_pseudonym(SECRET, 'PC-1', NOW.date())}  available  53.")
    calls_line = "calls as of 2026-11-28T08:14:00Z (delay 60 s, cell 500 m, status as of 2026-11-28T08:10:00Z): 1 shown"
    assert calls_line in lines
    assert any(line.split()[1:4:2] == ["burglary", "open"] for line in lines if line and line[0].islower())
    assert "PC-" not in out and "INC-" not in out and "Domestic" not in out
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in setup.parent.iterdir()}
    assert after == before and database.exists()


def test_preview_reads_a_database_the_collector_has_open(setup: Path) -> None:
    running = sqlite3.connect(setup.parent / "c.sqlite")  # WAL mode: -wal and -shm exist while it is open
    try:
        running.execute("INSERT INTO unit_status VALUES ('PC-9', 'available', 0)")
        running.commit()  # committed to the -wal, not yet to the database file
        assert (setup.parent / "c.sqlite-wal").stat().st_size > 0
        code, out, _ = invoke("preview", "--config", str(setup), "--at", "2026-11-28T08:15:00Z")
        assert code == 0 and "1 shown" in out
    finally:
        running.close()


def test_preview_without_recent_state_says_units_are_hidden(setup: Path) -> None:
    code, out, err = invoke("preview", "--config", str(setup), "--at", "2026-11-28T09:00:00Z")
    assert code == 0
    assert err.startswith("note: state saved at 2026-11-28T08:14:30Z") and "units are hidden" in err
    assert out.startswith("units as of 2026-11-28T08:55:00Z (delay 300 s, cell 500 m): 0 shown")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.unlink(), "collector.toml: no such file"),
        (lambda c: c.write_text('fleet = "testfleet"\n'), "no [public] section with a secret_file"),
        (lambda c: c.write_text('fleet = "x"\n[public]\nsecret_file = "s"\ncell_m = 1\n'), ":4: [public] cell_m: must"),
        (lambda c: (c.parent / "secret").write_text("short"), "the pseudonym secret must be at least 16 bytes"),
        (lambda c: (c.parent / "secret").unlink(), "the pseudonym secret file does not exist"),
        (lambda c: (c.parent / "c.sqlite").unlink(), "c.sqlite: no such database"),
        (lambda c: (c.parent / "c.sqlite").write_bytes(b"x" * 4096), "not a collector database"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(setup: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    edit(setup)
    code, out, err = invoke("preview", "--config", str(setup))
    assert code == 2, (out, err)
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_a_bad_time_is_a_usage_error(setup: Path) -> None:
    code, _, err = invoke("preview", "--config", str(setup), "--at", "08:15")
    assert code == 2 and "expected a UTC time like 2026-11-28T08:30:00Z" in err


def test_export_site_needs_a_folder_or_the_public_dir(setup: Path) -> None:
    code, _, err = invoke("export-site", "--config", str(setup))
    assert code == 2 and "no FOLDER given and no [public] public_dir set" in err


def test_export_site_writes_the_page_and_says_where_the_snapshots_are(setup: Path, tmp_path: Path) -> None:
    code, out, err = invoke("export-site", "--config", str(setup), str(tmp_path / "site"))
    assert code == 0, err
    assert out.startswith("wrote ") and "calls in the open data" in out
    assert "reads units.geojson and calls.geojson beside it" in err  # [public] public_dir is not set here
    site = tmp_path / "site"
    assert json.loads((site / "site.json").read_text())["static"] is True
    assert (site / "open-data" / "calls.csv").read_text().startswith("call,opened,category")
    assert "static/app.js?v=" in (site / "index.html").read_text()
