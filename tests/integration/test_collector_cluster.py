"""Two collectors on one PostgreSQL and one Mosquitto, sharing the positions
through an MQTT 5 shared subscription: every position stored once, one ETA
publisher at a time, and the leader's SIGKILL taken over within 10 s."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from common.wire import DutyStatus, Incident, IncidentStatus, encode_incident, encode_status
from tests.conftest import Broker, start_broker
from tests.integration.collectorkit import TOPICS, Client, CollectorProcess, wait_until, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNITS = 200
FLEET_S = 24.0


def eta_publishers(broker_log: Path) -> list[str]:
    """The client ids that published ETAs, in the broker's order (log_type all)."""
    pattern = re.compile(r"Received PUBLISH from (\S+) .*'ac/v1/test/incidents/[^/']+/eta'")
    return [m.group(1) for m in pattern.finditer(broker_log.read_text(errors="replace"))]


def test_two_collectors_share_the_fleet_and_survive_the_leaders_death(tmp_path: Path, pg_url: str) -> None:
    broker: Broker = start_broker(tmp_path / "broker", "log_type all\n")
    collectors: list[CollectorProcess] = []
    fleet: subprocess.Popen[str] | None = None
    try:
        for name in ("c1", "c2"):
            config = write_config(tmp_path / name, port=broker.port, extra=(
                f'url = "{pg_url}"\n[ingest]\nshared_group = "collectors"\n'
            ))  # fmt: skip
            text = config.read_text().replace('host = "127.0.0.1"\n', f'host = "127.0.0.1"\nclient_id = "{name}"\n')
            config.write_text(text)
            collectors.append(CollectorProcess(config))
        first, second = collectors
        first.start()
        wait_until(lambda: "leader:" in first.log.read_text(), 20, "the first collector leads")
        second.start()

        client = Client(broker.port)
        now = dt.datetime.now(dt.UTC)
        incident = Incident("INC-1", "call", 1, 53.235, -1.421, IncidentStatus.OPEN, now)
        client.publish(TOPICS.incident(incident.id), encode_incident(incident), retain=True)
        for u in range(1, 21):
            client.publish(TOPICS.status(f"SIM-{u:04d}"), encode_status(DutyStatus.AVAILABLE), retain=True)
        fleet = subprocess.Popen(
            [sys.executable, "-m", "simulators.cli", "fleet", "--host", "127.0.0.1", "--port", str(broker.port),
             "--fleet", "test", "--units", str(UNITS), "--hz", "1", "--duration", str(FLEET_S)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_until(lambda: eta_publishers(broker.log).count("c1") >= 3, 30, "the leader publishes ETAs")
        time.sleep(4.0)
        assert "leader:" not in second.log.read_text()  # one leader while the first lives
        first.kill()
        killed = time.monotonic()
        wait_until(lambda: "leader:" in second.log.read_text(), 10, "the second collector takes over within 10 s")
        took = time.monotonic() - killed
        wait_until(lambda: "c2" in eta_publishers(broker.log), 10, "the new leader publishes ETAs")
        # The killed collector comes back (systemd restarts it) and drains its session's queue.
        restarted_at = first.log.stat().st_size
        first.start()

        out, err = fleet.communicate(timeout=FLEET_S + 60)
        assert fleet.returncode == 0, err
        acked = int(re.search(r"positions acknowledged: (\d+)", out).group(1))  # type: ignore[union-attr]
        assert acked > UNITS * FLEET_S * 0.8

        def stored() -> tuple[int, int]:
            with psycopg.connect(pg_url) as conn:
                row = conn.execute("SELECT count(*), count(DISTINCT (unit, seq)) FROM fixes").fetchone()
            assert row is not None
            return int(row[0]), int(row[1])

        wait_until(lambda: stored()[0] >= acked, 30, f"{acked} positions stored")
        total, distinct = stored()
        assert total == distinct == acked  # all of them, each once
        publishers = eta_publishers(broker.log)
        switch = publishers.index("c2")
        # One publisher at a time: the first until its death, then only the second (never the restarted first).
        assert set(publishers[:switch]) == {"c1"} and set(publishers[switch:]) == {"c2"}, publishers
        assert "leader:" not in first.log.read_text()[restarted_at:]
        second.stop()
        stats = re.findall(r"stopped: messages=\d+ fixes_stored=(\d+)", second.log.read_text())
        assert stats and 0 < int(stats[-1]) < acked  # the second stored its share, not everything
        print(f"takeover after SIGKILL: {took:.1f} s; {acked} positions stored once, {stats[-1]} by the second")
    finally:
        if fleet is not None and fleet.poll() is None:
            fleet.kill()
            fleet.wait()
        for collector in collectors:
            collector.stop()
        broker.stop()
