"""Shared fixtures: a real Mosquitto on a free loopback port, real pseudo-terminals.

Every process a test starts is stopped by the test (by PID) at teardown.
"""

from __future__ import annotations

import csv
import os
import pty
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulators.broker import Broker as Broker  # re-exported: tests import the broker helpers from here
from simulators.broker import BrokerError, find_mosquitto
from simulators.broker import free_port as free_port
from simulators.broker import start_broker as start_broker
from simulators.broker import wait_for_port as wait_for_port
from simulators.pgserver import PgServer, PgServerError, start_pg

DATA = Path(__file__).parent / "data"
GPSD_CORPUS = DATA / "gpsd"


def gpsd_manifest() -> dict[str, dict[str, str]]:
    """tests/data/gpsd/MANIFEST.tsv: file name -> its row."""
    with open(GPSD_CORPUS / "MANIFEST.tsv", newline="") as manifest:
        return {row["file"]: row for row in csv.DictReader(manifest, delimiter="\t")}


def _mosquitto() -> str:
    try:
        return find_mosquitto()
    except BrokerError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh Mosquitto for one test."""
    b = start_broker(tmp_path / "broker")
    try:
        yield b
    finally:
        b.stop()


@dataclass
class PtyPair:
    """A pseudo-terminal: the test writes to ``controller``; the code under test
    opens ``path`` like a serial device."""

    controller: int
    path: str
    _follower: int

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.controller, view)
            view = view[written:]

    def close(self) -> None:
        for fd in (self.controller, self._follower):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    controller, follower = pty.openpty()
    tty.setraw(follower)  # no echo, no line discipline: bytes as a receiver sends them
    pair = PtyPair(controller, os.ttyname(follower), follower)
    try:
        yield pair
    finally:
        pair.close()


@pytest.fixture(scope="session")
def gpsd_logs() -> list[Path]:
    logs = sorted(GPSD_CORPUS.glob("*.log"))
    assert len(logs) == 102, f"expected the 102 gpsd corpus logs in {GPSD_CORPUS}, found {len(logs)}"
    return logs


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL per test process (each xdist worker starts its own in about
    a second); each test takes a fresh database on it (``pg_url``). A missing
    server fails the test: scripts/setup and .ci/run install it."""
    try:
        server = start_pg()
    except PgServerError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A new empty database's URL."""
    return pg_server.create_database(f"test_{next(_databases)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a collector store lives, once per backend: a SQLite file, or a PostgreSQL database's URL."""
    if request.param == "sqlite":
        return tmp_path / "c.db"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.create_database(f"test_{next(_databases)}")
