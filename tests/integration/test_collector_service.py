"""The collector service against a real Mosquitto: a simulated fleet lands in
the database (duplicates dropped, newest position only moving forward), ETAs
of a new incident are published within a second and follow a unit becoming
unavailable, and SIGKILL in the middle of ingest loses nothing acknowledged
and counts nothing twice."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from common.wire import (
    DutyStatus,
    Incident,
    IncidentStatus,
    UnitState,
    encode_incident,
    encode_state,
    encode_status,
    encode_track,
)
from tests.conftest import Broker
from tests.integration.collectorkit import TOPICS, Client, CollectorProcess, ServiceThread, fix, load, wait_until
from tests.integration.collectorkit import write_config as write_collector_config

pytestmark = pytest.mark.integration


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)


def test_simulated_fleet_lands_in_order_without_duplicates(broker: Broker, tmp_path: Path) -> None:
    config = load(write_collector_config(tmp_path, port=broker.port))
    collector = ServiceThread(config).start()
    try:
        fleet = subprocess.run(
            [sys.executable, "-m", "simulators.cli", "fleet", "--host", broker.host, "--port", str(broker.port),
             "--fleet", "test", "--units", "5", "--hz", "4", "--duration", "2"],
            capture_output=True, text=True, timeout=40, check=True,
        )  # fmt: skip
        found = re.search(r"positions acknowledged: (\d+)", fleet.stdout)
        assert found, fleet.stdout
        acked = int(found.group(1))
        assert acked >= 30
        wait_until(lambda: collector.call(lambda s: s.counters.fixes_stored) == acked, 5, "every position stored")

        # The same fixes again (a resent backlog): dropped, counted as duplicates.
        with _db(config.store.path) as db:
            rows = db.execute("SELECT unit, seq, time_ms, lat, lon FROM fixes WHERE seq <= 3").fetchall()
        client = Client(broker.port)
        at = lambda ms: dt.datetime.fromtimestamp(ms / 1000, dt.UTC)  # noqa: E731
        replay = [fix(u, seq, lat, lon, at=at(t)) for u, seq, t, lat, lon in rows]
        first = replay[0].unit
        client.publish(TOPICS.track(first), encode_track(first, [r for r in replay if r.unit == first]))
        for r in replay:
            client.fix(r, wait=False)
        client.flush()
        # A late backlog fix (new seq, old time) goes into the history but not into the newest position.
        unit = rows[0][0]
        with _db(config.store.path) as db:
            newest = db.execute("SELECT seq, time_ms FROM latest WHERE unit = ?", (unit,)).fetchone()
        old = fix(unit, 10_000, 53.0, -1.0, at=at(rows[0][2]))
        client.publish(TOPICS.track(unit), encode_track(unit, [old]))
        wait_until(lambda: collector.call(lambda s: s.counters.fixes_stored) == acked + 1, 5, "late fix stored")
        duplicates = collector.call(lambda s: s.counters.duplicates)
        assert duplicates == len(replay) + sum(1 for r in replay if r.unit == unit)
        view = collector.call(lambda s: s.fleet.view(unit, time.time()))
        assert view.seq == newest[0] and view.seq != 10_000
        client.close()
    finally:
        assert collector.stop() == 0
    with _db(config.store.path) as db:
        assert db.execute("SELECT count(*) FROM fixes").fetchone()[0] == acked + 1
        assert db.execute("SELECT seq, time_ms FROM latest WHERE unit = ?", (unit,)).fetchone() == newest
        # The newest position is each unit's newest fix by time.
        mismatched = db.execute(
            "SELECT count(*) FROM latest l WHERE l.time_ms < (SELECT max(time_ms) FROM fixes f WHERE f.unit = l.unit)"
        ).fetchone()[0]
        assert mismatched == 0


def test_eta_for_new_incident_within_a_second_and_follows_availability(broker: Broker, tmp_path: Path) -> None:
    config = load(write_collector_config(tmp_path, port=broker.port, extra="[staleness]\nreport_interval_s = 5\n"))
    collector = ServiceThread(config).start()
    client = Client(broker.port)
    try:
        client.subscribe(TOPICS.incidents_filter + "/eta")
        # Three units north of the incident, nearest first.
        for i, unit in enumerate(("N1", "N2", "N3")):
            client.publish(TOPICS.state(unit), encode_state(UnitState.ONLINE), retain=True)
            client.publish(TOPICS.status(unit), encode_status(DutyStatus.AVAILABLE), retain=True)
            client.fix(fix(unit, 1, 53.24 + 0.01 * i, -1.42))
        wait_until(lambda: collector.call(lambda s: s.counters.acked) >= 9, 5, "units stored")
        incident = Incident("I-1", "burglary", 1, 53.235, -1.42, IncidentStatus.OPEN, dt.datetime.now(dt.UTC))
        sent = time.monotonic()
        client.publish(TOPICS.incident("I-1"), encode_incident(incident), retain=True, wait=False)
        at, report = client.next_eta(1.0)
        assert at - sent < 1.0
        assert report.incident == "I-1" and report.recommended == "N1"
        assert [row.unit for row in report.units] == ["N1", "N2", "N3"]
        assert all(not row.stale and row.fix_age_s < 5 for row in report.units)

        sent = time.monotonic()
        client.publish(TOPICS.status("N1"), encode_status(DutyStatus.UNAVAILABLE), retain=True, wait=False)
        at, report = client.next_eta(1.0, lambda r: r.recommended != "N1")
        assert at - sent < 1.0 and report.recommended == "N2"
        assert "N1" not in [row.unit for row in report.units]  # busy elsewhere: not a candidate

        # Closing the incident deletes its retained ETAs.
        closed = dataclasses.replace(incident, status=IncidentStatus.CLOSED)
        client.publish(TOPICS.incident("I-1"), encode_incident(closed), retain=True)
        wait_until(lambda: not collector.call(lambda s: "I-1" in s.eta.published), 2, "ETAs withdrawn")
    finally:
        client.close()
        assert collector.stop() == 0


def test_sigkill_mid_ingest_loses_nothing_acknowledged(broker: Broker, tmp_path: Path) -> None:
    config_path = write_collector_config(tmp_path, port=broker.port)
    config = load(config_path)
    collector = CollectorProcess(config_path).start()
    units, per_unit = 20, 150
    client = Client(broker.port, client_id="sigkill-publisher")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=per_unit)

    def publish_all() -> None:
        for seq in range(1, per_unit + 1):
            for u in range(units):
                unit = f"K{u:02d}"
                client.fix(fix(unit, seq, 53.2 + seq * 1e-4, -1.4 + u * 1e-3, at=start + dt.timedelta(seconds=seq)),
                           wait=False)  # fmt: skip
            if seq % 10 == 0:
                client.flush()
                time.sleep(0.01)
        client.flush()

    publisher = threading.Thread(target=publish_all)
    publisher.start()
    try:
        # Kill it while positions are flowing (after some have been stored).
        def stored() -> int:
            if not config.store.path.exists():
                return 0
            with _db(config.store.path) as db:
                return int(db.execute("SELECT count(*) FROM fixes").fetchone()[0])

        wait_until(lambda: stored() >= 200, 20, "some fixes stored")
        collector.kill()
        at_kill = stored()
        assert at_kill < units * per_unit, "the kill came after everything was in"
        collector.start()
        publisher.join(60)
        wait_until(lambda: stored() == units * per_unit, 20, "every published fix stored")
    finally:
        publisher.join(60)
        client.close()
        assert collector.stop() == 0
    with _db(config.store.path) as db:
        assert db.execute("SELECT count(*), count(DISTINCT unit || '/' || seq) FROM fixes").fetchone() == (
            units * per_unit,
            units * per_unit,
        )
        assert db.execute("SELECT min(seq), max(seq), count(*) FROM latest").fetchone() == (per_unit, per_unit, units)


def test_systemd_notify_and_clean_stop(broker: Broker, tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(address)
        notify.settimeout(10)
        config = write_collector_config(tmp_path, port=broker.port)
        env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"}
        process = subprocess.Popen([sys.executable, "-m", "collector.cli", "run", "--config", str(config)],
                                   env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            seen: list[str] = []
            while not any("WATCHDOG=1" in m for m in seen) or not any("connected;" in m for m in seen):
                seen.append(notify.recv(4096).decode())
            assert seen[0].startswith("READY=1")
            process.terminate()
            assert process.wait(10) == 0
            while "STOPPING=1" not in seen[-1]:
                seen.append(notify.recv(4096).decode())
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
        assert "stopped: messages=" in (process.stderr.read() if process.stderr else "")


def test_retention_prunes_old_history(broker: Broker, tmp_path: Path) -> None:
    config = load(write_collector_config(tmp_path, port=broker.port))
    config = dataclasses.replace(config, store=dataclasses.replace(config.store, retention_days=1.0))
    collector = ServiceThread(config).start()
    client = Client(broker.port)
    try:
        old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
        backlog = [fix("R1", s, 53.2, -1.4, at=old + dt.timedelta(seconds=s)) for s in range(1, 11)]
        client.publish(TOPICS.track("R1"), encode_track("R1", backlog))
        client.fix(fix("R1", 11, 53.3, -1.4))
        wait_until(lambda: collector.call(lambda s: s.counters.fixes_stored) == 11, 5, "stored")
        assert collector.loop is not None and collector.service is not None
        asyncio.run_coroutine_threadsafe(collector.service._prune(time.time()), collector.loop).result(5)
    finally:
        client.close()
        assert collector.stop() == 0
    with _db(config.store.path) as db:
        assert db.execute("SELECT seq FROM fixes").fetchall() == [(11,)]
        assert db.execute("SELECT seq FROM latest").fetchall() == [(11,)]


def test_router_failure_falls_back_to_the_model_and_says_so(broker: Broker, tmp_path: Path) -> None:
    from tests.conftest import free_port

    extra = f'[router]\nosrm_url = "http://127.0.0.1:{free_port()}"\ntimeout_s = 0.5\n'
    collector = ServiceThread(load(write_collector_config(tmp_path, port=broker.port, extra=extra))).start()
    client = Client(broker.port)
    try:
        client.subscribe(TOPICS.incidents_filter + "/eta")
        client.publish(TOPICS.status("R1"), encode_status(DutyStatus.AVAILABLE), retain=True)
        client.fix(fix("R1", 1, 53.24, -1.42))
        incident = Incident("I-2", "theft", 3, 53.235, -1.42, IncidentStatus.OPEN, dt.datetime.now(dt.UTC))
        client.publish(TOPICS.incident("I-2"), encode_incident(incident), retain=True)
        _, report = client.next_eta(3.0)
        assert report.recommended == "R1" and [row.method.value for row in report.units] == ["fallback"]
    finally:
        client.close()
        assert collector.stop() == 0


def test_broker_restart_reconnects_and_keeps_the_session(broker: Broker, tmp_path: Path) -> None:
    collector = ServiceThread(load(write_collector_config(tmp_path, port=broker.port))).start()
    try:
        client = Client(broker.port)
        client.fix(fix("B1", 1, 53.2, -1.4))
        wait_until(lambda: collector.call(lambda s: s.counters.fixes_stored) == 1, 5, "first fix")
        client.close()
        broker.stop()  # persistence on: the collector's session survives the restart
        wait_until(lambda: not collector.call(lambda s: s.session.subscribed.is_set()), 5, "collector notices")
        broker.start()
        # Published while the collector may still be reconnecting: its session queues them.
        client = Client(broker.port, client_id="restart-publisher")
        for seq in range(2, 12):
            client.fix(fix("B1", seq, 53.2 + seq * 1e-4, -1.4), wait=False)
        client.flush()
        client.close()
        wait_until(lambda: collector.call(lambda s: s.counters.fixes_stored) == 11, 10, "fixes after the restart")
        assert collector.call(lambda s: s.counters.sessions) >= 2
    finally:
        assert collector.stop() == 0
