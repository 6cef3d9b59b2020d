"""fleet against a real Mosquitto: what it publishes follows the wire contract and is counted right."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from common.wire import TopicKind, Topics, decode_fix, decode_state, decode_track
from tests.conftest import Broker
from tests.integration.secure_broker import make_lab_pki, start_secure_broker

pytestmark = pytest.mark.integration


class Recorder:
    """Subscribes to the fleet's unit topics and decodes everything with common.wire."""

    def __init__(self, broker: Broker, fleet: str) -> None:
        self.topics = Topics(fleet)
        self.seen: dict[TopicKind, list[Any]] = defaultdict(list)
        self.errors: list[str] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="recorder")
        self.client.on_connect = lambda c, u, f, r, p: (c.subscribe(f"{self.topics.root}/units/#", qos=1),
                                                        self.ready.set())  # fmt: skip
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            match = self.topics.match(message.topic)
            if match.kind is TopicKind.POS:
                self.seen[match.kind].append(decode_fix(message.payload, unit=match.id))
            elif match.kind is TopicKind.TRACK:
                self.seen[match.kind].append(decode_track(message.payload, unit=match.id))
            elif match.kind is TopicKind.STATE:
                self.seen[match.kind].append((match.id, decode_state(message.payload), message.retain))
        except ValueError as exc:
            self.errors.append(f"{message.topic}: {exc}")

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run_fleet(broker: Broker, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "simulators.cli", "fleet", "--host", broker.host, "--port",
                          str(broker.port), *args], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_short_fleet_run(broker: Broker) -> None:
    recorder = Recorder(broker, "loadtest")
    report = run_fleet(broker, "--fleet", "loadtest", "--units", "40", "--hz", "2", "--duration", "3")
    recorder.stop()
    assert "pos:    sent 240, acknowledged 240" in report
    assert "positions acknowledged: 240" in report and "cpu:" in report
    assert recorder.errors == []
    pos = recorder.seen[TopicKind.POS]
    assert len(pos) == 240 and len({f.unit for f in pos}) == 40
    by_unit: dict[str, list[int]] = defaultdict(list)
    for f in pos:
        by_unit[f.unit].append(f.seq)
    assert all(seqs == list(range(1, 7)) for seqs in by_unit.values())
    states = [s for _, s, _ in recorder.seen[TopicKind.STATE]]
    assert states.count("online") == 40 and states.count("offline") == 40  # hello and goodbye


def test_outage_sends_the_backlog_on_track_and_the_will_fires(broker: Broker) -> None:
    recorder = Recorder(broker, "derbyshire")
    report = run_fleet(broker, "--units", "10", "--hz", "2", "--duration", "4", "--outage", "0.3",
                       "--outage-at", "1", "--outage-for", "1.5")  # fmt: skip
    recorder.stop()
    assert recorder.errors == []
    tracks = recorder.seen[TopicKind.TRACK]
    assert len(tracks) == 3 and all(len(batch) >= 2 for batch in tracks)
    lost = {batch[0].unit for batch in tracks}
    # The broker published the last will of each dropped unit.
    wills = [unit for unit, state, _ in recorder.seen[TopicKind.STATE] if state == "offline"]
    assert lost <= set(wills)
    # Every fix of every unit arrived once, on pos or track: seq 1..8 without gaps.
    seqs: dict[str, set[int]] = defaultdict(set)
    for f in recorder.seen[TopicKind.POS]:
        seqs[f.unit].add(f.seq)
    for batch in tracks:
        for f in batch:
            seqs[f.unit].add(f.seq)
    assert all(s == set(range(1, 9)) for s in seqs.values()) and len(seqs) == 10
    assert "positions acknowledged: 80" in report


def test_the_fleet_loads_the_production_broker_over_tls_with_a_certificate_per_unit(tmp_path: Path) -> None:
    """Each unit logs in with its own client certificate (CN = unit id), as an agent
    does, on the rendered vehicle listener; the collector's certificate reads it all."""
    units = [f"PC-{n:04d}" for n in range(1, 6)]
    pki = make_lab_pki(tmp_path / "pki", units)
    secure = start_secure_broker(tmp_path / "broker", "lab", pki=pki, bridged=False)
    try:
        collector = secure.probe("service", "services/collector")
        collector.subscribe("ac/v1/lab/units/+/pos")
        out = subprocess.run(
            [sys.executable, "-m", "simulators.cli", "fleet", "--port", str(secure.ports.vehicle), "--fleet", "lab",
             "--ca-file", str(pki / "ca.crt"), "--cert-dir", str(pki / "units"), "--prefix", "PC", "--units", "5",
             "--hz", "2", "--duration", "2"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "5 connected, 0 dropped, 0 refused" in out.stdout and "positions acknowledged: 20" in out.stdout
        collector.pump_until(lambda: len(collector.messages) >= 20, 10, "every position")
        assert {decode_fix(m.payload).unit for m in collector.messages} == set(units)
    finally:
        secure.stop()
