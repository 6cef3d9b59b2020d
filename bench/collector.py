"""The collector under load, through a real Mosquitto on loopback.

1. Ingest: UNITS x PER_UNIT positions are queued by the broker for two
   persistent sessions while both are away; then each drains its queue alone:
   a bare paho QoS 1 subscriber (counts messages, nothing else) and
   ``activecalls-collector run`` (validates, de-duplicates, stores in SQLite
   with synchronous=FULL, acknowledges after the commit). The collector's clock
   stops when its last commit is visible, the bare one's at its last message;
   a drain that does not finish gives no rate. ROUNDS rounds of the three
   (backlog, bare drain, collector drain on a fresh database): printed, each
   round's rates in positions/s and collector/bare, and the median ratio
   (target >= 0.8).
2. ETA recompute, 500 units x 50 incidents, cold and warm (bench/eta_compute.py;
   target < 20 ms).
3. Latency: the simulated fleet (UNITS units at 1 Hz) and INCIDENTS open
   incidents; a probe unit jumps every 0.5 s between an incident's location and
   far away; the time from its fix's publication to the ETA report whose
   recommendation follows the jump, p50/p99 (target p99 < 100 ms).

    python bench/collector.py [--units 500] [--per-unit 200] [--rounds 3] [--incidents 50] [--duration 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# Run as a script, this folder comes first on the path, and this file would shadow
# the collector package: the repository goes in front of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common.fix import Fix
from common.wire import (
    DutyStatus,
    Incident,
    IncidentStatus,
    TopicKind,
    Topics,
    UnitState,
    WireFix,
    decode_eta,
    encode_fix,
    encode_incident,
    encode_state,
    encode_status,
)
from simulators.broker import start_broker

BENCH = Path(__file__).resolve().parent
FLEET = "bench"
TOPICS = Topics(FLEET)
COLLECTOR_ID = "bench-collector"


def write_config(folder: Path, port: int) -> Path:
    path = folder / "collector.toml"
    path.write_text(
        f'fleet = "{FLEET}"\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\nclient_id = "{COLLECTOR_ID}"\n'
        f'[store]\npath = "{folder}/collector.sqlite"\n'
    )
    return path


class Collector:
    def __init__(self, config: Path) -> None:
        self.log = config.parent / "collector.log"
        start = self.log.stat().st_size if self.log.exists() else 0  # the log is kept across starts
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "collector.cli", "run", "--config", str(config), "--log-level", "INFO"],
                stderr=log,
            )
        deadline = time.monotonic() + 30
        while b"subscribed to" not in self.log.read_bytes()[start:]:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"collector did not start:\n{self.log.read_text()}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def client(port: int, client_id: str = "", *, persistent: bool = False) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    c.max_inflight_messages_set(1000)
    properties = Properties(PacketTypes.CONNECT)
    if persistent:
        properties.SessionExpiryInterval = 3600
    c.connect("127.0.0.1", port, clean_start=not persistent, properties=properties)
    return c


def publish_backlog(port: int, units: int, per_unit: int) -> int:
    """Every unit's positions, QoS 1, as fast as the broker acknowledges them."""
    pub = client(port, "bench-publisher")
    pub.loop_start()
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=per_unit)
    infos: list[paho.MQTTMessageInfo] = []
    sent = 0
    for seq in range(1, per_unit + 1):
        when = start + dt.timedelta(seconds=seq)
        for u in range(units):
            unit = f"SIM-{u + 1:04d}"
            fix = Fix(when, 53.2 + 1e-4 * seq, -1.5 + 1e-3 * u, 90.0, 12.5, 180.0, 3, 0.9, 9)
            infos.append(pub.publish(TOPICS.pos(unit), encode_fix(WireFix(unit, seq, fix)), 1))
            if len(infos) == 50_000:  # before the packet ids (1 to 65535) come round again
                sent += _acknowledged(infos)
    sent += _acknowledged(infos)
    pub.loop_stop()
    pub.disconnect()
    return sent


def _acknowledged(infos: list[paho.MQTTMessageInfo]) -> int:
    """Wait until the broker has acknowledged every publish of ``infos``; empty it."""
    for info in infos:
        info.wait_for_publish(60)
    count = len(infos)
    infos.clear()
    return count


class IngestTimeout(RuntimeError):
    """A drain did not finish in time: no rate is given from a partial count."""


DRAIN_TIMEOUT_S = 300.0


def bare_rate(port: int, expected: int) -> float:
    """Connect the bare subscriber's session again and time its drain, first to
    last message (paho acknowledges each as it is handed over)."""
    times: list[float] = []
    done = threading.Event()

    def on_message(_c: paho.Client, _u: object, _m: paho.MQTTMessage) -> None:
        times.append(time.perf_counter())
        if len(times) >= expected:
            done.set()

    sub = client(port, "bench-bare", persistent=True)
    sub.on_message = on_message
    sub.loop_start()
    finished = done.wait(DRAIN_TIMEOUT_S)
    sub.loop_stop()
    sub.disconnect()
    if not finished:
        raise IngestTimeout(f"bare subscriber: {len(times)} of {expected} positions in {DRAIN_TIMEOUT_S:g} s")
    return (len(times) - 1) / (times[-1] - times[0])


def collector_rate(config: Path, db: Path, expected: int) -> float:
    """Start the collector on its queued session; its rate from the first position's
    receive time (stored) to the moment the last one's commit is visible to a
    reader, polled every 5 ms (the collector acknowledges right after)."""
    collector = Collector(config)
    try:
        deadline = time.time() + DRAIN_TIMEOUT_S
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            while (stored := conn.execute("SELECT count(*) FROM fixes").fetchone()[0]) < expected:
                if time.time() > deadline:
                    raise IngestTimeout(f"collector: {stored} of {expected} positions in {DRAIN_TIMEOUT_S:g} s")
                time.sleep(0.005)
            committed = time.time()
            first = conn.execute("SELECT min(received_ms) FROM fixes").fetchone()[0]
    finally:
        collector.stop()
    return (expected - 1) / (committed - first / 1000)


def ingest(port: int, folder: Path, units: int, per_unit: int, rounds: int) -> None:
    """``rounds`` rounds of backlog, bare drain, collector drain (each on a fresh
    database): this machine's speed moves between runs by a third, so each
    round's ratio compares two drains a few seconds apart, and the median of the
    rounds is the figure."""
    config = write_config(folder, port)
    # Both sessions exist (and subscribed) before the backlog is published.
    bare = client(port, "bench-bare", persistent=True)
    bare.subscribe(TOPICS.unit_filter(TopicKind.POS), 1)
    bare.loop(1.0)
    bare.disconnect()
    Collector(config).stop()
    ratios = []
    print(f"ingest of {units * per_unit} positions ({units} units x {per_unit}), each drained alone from a "
          f"persistent session, {rounds} rounds:")  # fmt: skip
    for r in range(1, rounds + 1):
        db = folder / "collector.sqlite"
        for leftover in folder.glob("collector.sqlite*"):
            leftover.unlink()
        n = publish_backlog(port, units, per_unit)
        base = bare_rate(port, n)
        ours = collector_rate(config, db, n)
        ratios.append(ours / base)
        print(f"  round {r}: bare paho QoS 1 subscriber {base:6.0f}/s, activecalls-collector {ours:6.0f}/s "
              f"(stored, synchronous=FULL, acked after commit): {ours / base:.2f}")  # fmt: skip
    print(f"  ratio collector/bare:        {statistics.median(ratios):8.2f}  (median of {rounds}; target >= 0.8)")


def eta_recompute(units: int, incidents: int) -> None:
    import importlib.util

    from collector.eta import EtaEngine

    spec = importlib.util.spec_from_file_location("eta_compute", BENCH / "eta_compute.py")
    assert spec is not None and spec.loader is not None
    eta_compute = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(eta_compute)

    fleet, incs = eta_compute.build(units, incidents, random.Random(1))
    cold, cold_median = eta_compute.timed(lambda: EtaEngine().reports(fleet.table(eta_compute.NOW), incs), 15)
    engine = EtaEngine()
    engine.reports(fleet.table(eta_compute.NOW), incs)
    warm, warm_median = eta_compute.timed(lambda: engine.reports(fleet.table(eta_compute.NOW + 1), incs), 15)
    print(f"ETA recompute, {units} units x {incidents} incidents (bench/eta_compute.py has the movers' case):")
    print(f"  cold: {cold * 1000:6.1f} ms (median {cold_median * 1000:.1f} ms; target < 20 ms)")
    print(f"  warm, nobody moved: {warm * 1000:6.1f} ms (median {warm_median * 1000:.1f} ms)")


def latency(port: int, folder: Path, units: int, incidents: int, duration: float) -> None:
    config = write_config(folder, port)
    collector = Collector(config)
    fleet = subprocess.Popen(
        [sys.executable, "-m", "simulators.cli", "fleet", "--host", "127.0.0.1", "--port", str(port),
         "--fleet", FLEET, "--units", str(units), "--hz", "1", "--duration", str(duration + 5)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    probe = client(port, "bench-probe")
    arrivals: dict[str, list[tuple[float, str | None]]] = {}
    lock = threading.Condition()

    def on_message(_c: paho.Client, _u: object, m: paho.MQTTMessage) -> None:
        if not m.payload:
            return
        report = decode_eta(m.payload)
        with lock:
            arrivals.setdefault(report.incident, []).append((time.perf_counter(), report.recommended))
            lock.notify_all()

    probe.on_message = on_message
    probe.loop_start()
    # Only the watched incident's reports: decoding all fifty would make this client the bottleneck.
    probe.subscribe(TOPICS.eta("INC-000"), 1)
    rng = random.Random(2)
    now = dt.datetime.now(dt.UTC)
    for j in range(incidents):
        lat, lon = 53.235 + rng.uniform(-0.04, 0.04), -1.421 + rng.uniform(-0.06, 0.06)
        incident = Incident(f"INC-{j:03d}", "call", 1 + j % 4, lat, lon, IncidentStatus.OPEN, now)
        probe.publish(TOPICS.incident(incident.id), encode_incident(incident), 1, True).wait_for_publish(5)
    target = Incident("INC-000", "call", 1, 53.235, -1.421, IncidentStatus.OPEN, now)
    probe.publish(TOPICS.incident(target.id), encode_incident(target), 1, True).wait_for_publish(5)
    probe.publish(TOPICS.state("PROBE"), encode_state(UnitState.ONLINE), 1, True).wait_for_publish(5)
    # Every unit is available: when the probe is far away, another one is recommended.
    statuses = [probe.publish(TOPICS.status(f"SIM-{u + 1:04d}"), encode_status(DutyStatus.AVAILABLE), 1, True)
                for u in range(units)]  # fmt: skip
    for info in statuses:
        info.wait_for_publish(10)
    probe.publish(TOPICS.status("PROBE"), encode_status(DutyStatus.AVAILABLE), 1, True).wait_for_publish(5)
    time.sleep(1.0 + units / 250)  # the fleet connects and reports
    samples: list[float] = []
    missed = 0
    seq = 0
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        seq += 1
        near = seq % 2 == 1
        lat, lon = (target.lat, target.lon) if near else (54.5, -3.0)
        with lock:
            start_index = len(arrivals.get(target.id, []))
        fix = Fix(dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(milliseconds=seq % 1000), lat, lon)
        sent = time.perf_counter()
        probe.publish(TOPICS.pos("PROBE"), encode_fix(WireFix("PROBE", seq, fix)), 1)
        wanted = (lambda r: r == "PROBE") if near else (lambda r: r != "PROBE")
        got = None
        with lock:
            end = sent + 2.0
            while got is None and time.perf_counter() < end:
                for at, recommended in arrivals.get(target.id, [])[start_index:]:
                    if wanted(recommended):
                        got = at
                        break
                else:
                    lock.wait(end - time.perf_counter())
        if got is None:
            missed += 1
        else:
            samples.append(got - sent)
        time.sleep(max(0.0, 0.5 - (time.perf_counter() - sent)))
    probe.loop_stop()
    probe.disconnect()
    fleet.terminate()
    fleet.wait(30)
    collector.stop()
    stats = re.findall(r"stopped: messages=(\d+) .*? batches=(\d+)", collector.log.read_text())
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(0.99 * len(samples)))] if samples else float("nan")
    print(f"latency fix published -> updated ETA published, {units} units at 1 Hz, {incidents} open incidents:")
    print(f"  {len(samples)} samples, {missed} without an update within 2 s")
    if samples:
        print(f"  p50 {statistics.median(samples) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
              f"max {samples[-1] * 1000:.1f} ms (target p99 < 100 ms)")  # fmt: skip
    if stats:
        messages, batches = map(int, stats[-1])
        print(f"  group commits: {batches} transactions for {messages} messages "
              f"({messages / max(batches, 1):.1f} messages per commit)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=500)
    # 100,000 positions: a drain of several seconds, so the collector's periodic work
    # (the learner's lessons, statistics) falls within it and is paid for in its rate.
    parser.add_argument("--per-unit", type=int, default=200, help="positions per unit in the ingest backlog")
    parser.add_argument("--rounds", type=int, default=3, help="ingest rounds (the ratio is their median)")
    parser.add_argument("--incidents", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of latency probing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_broker(Path(tmp) / "broker", "max_inflight_messages 0\n")
        try:
            (Path(tmp) / "ingest").mkdir()
            ingest(broker.port, Path(tmp) / "ingest", args.units, args.per_unit, args.rounds)
            eta_recompute(args.units, args.incidents)
            (Path(tmp) / "latency").mkdir()
            latency(broker.port, Path(tmp) / "latency", args.units, args.incidents, args.duration)
        finally:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
