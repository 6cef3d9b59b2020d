"""Outbox and agent figures: drain rate, live latency during a drain, RSS, CPU at 10 Hz.

1. Fill an outbox with FIXES fixes (default 259,200: 72 h at 1 Hz), in batches.
2. Drain it to a local Mosquitto with the agent's Publisher, while live fixes are
   put and published at 10 Hz; a subscriber timestamps every live fix on ``pos``.
   Prints drained fixes/s (target >= 5,000) and the p99 delay from "decided" to
   "received by a subscriber" of the live fixes sent during the drain (target < 1 s).
   Baselines in the same run: a backlog of up to 50,000 fixes in its own outbox
   drained the same way (track messages of 500 read from the outbox, deleted once
   acknowledged) with a window of 1, each awaiting its PUBACK; live delay with
   no drain. Only backlog fixes count as drained: the clock stops
   when the last one is acknowledged and gone from the outbox.
3. Run the real ``activecalls-agent`` fed by a pty at 10 Hz (GGA+GSA+RMC+VTG),
   every fix reported; print its RSS at steady state (target < 40 MB) and its CPU
   share of one core (target < 2%). Baseline: a bare Python interpreter's RSS.

    python bench/outbox.py [--fixes N] [--agent-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.outbox import Outbox
from agent.publisher import Publisher
from common.mqtt import MqttConnection, MqttSettings
from common.wire import MAX_TRACK_FIXES, Topics, WireFix, decode_fix, encode_track
from simulators.broker import Broker, start_broker
from tests.agentkit import agent_command, drive, epochs, write_config

UNIT, FLEET = "PC-101", "bench"


class LiveWatch:
    """The collector's place: a subscriber to the unit's topics (the agent deletes a fix only
    once a subscriber took it), noting when each live fix (by seq) arrives on pos."""

    def __init__(self, broker: Broker) -> None:
        self.arrived: dict[int, float] = {}
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-watch")
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"{Topics(FLEET).root}/units/{UNIT}/+", qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def _on_message(self, _c: object, _u: object, message: paho.MQTTMessage) -> None:
        if message.topic.endswith("/pos"):
            self.arrived.setdefault(decode_fix(message.payload).seq, time.monotonic())

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else (values[0] if values else float("nan"))


async def fill(path: Path, n: int) -> tuple[Outbox, float]:
    outbox = await Outbox.open(path, max_fixes=max(300_000, n + 1))
    fixes = drive(n)
    t0 = time.perf_counter()
    for i in range(0, n, 1000):
        await outbox.put(fixes[i : i + 1000])
    return outbox, n / (time.perf_counter() - t0)


async def live_ticker(outbox: Outbox, publisher: Publisher, put_at: dict[int, float], stop: asyncio.Event) -> None:
    """10 Hz live fixes: each committed to the outbox, then published (as the agent does)."""
    fixes = iter(drive(100_000, start=drive(1)[0].time.replace(year=2027), hz=10))
    while not stop.is_set():
        decided = time.monotonic()
        entries = await outbox.put([next(fixes)])
        put_at[entries[0][0]] = decided
        publisher.live(entries)
        await asyncio.sleep(0.1)


async def stop_all(
    publisher: Publisher,
    run: asyncio.Task[None],
    ticker: asyncio.Task[None],
    ticker_stop: asyncio.Event,
    stopping: asyncio.Event,
) -> None:
    """Stop the live fixes, let the last ones arrive, stop the publisher."""
    ticker_stop.set()
    await ticker
    await asyncio.sleep(0.5)
    stopping.set()
    await publisher.shutdown()
    await run


async def drain(broker: Broker, outbox: Outbox, watch: LiveWatch, backlog: int) -> tuple[float, list[float]]:
    settings = MqttSettings(host=broker.host, port=broker.port, client_id=UNIT)
    publisher = Publisher(settings, Topics(FLEET), UNIT, outbox)
    publisher.remember_latest(await outbox.newest())
    stopping, ticker_stop = asyncio.Event(), asyncio.Event()
    put_at: dict[int, float] = {}
    last_backlog_seq = outbox.last_seq
    run = asyncio.create_task(publisher.run(stopping))
    t0 = time.perf_counter()
    ticker = asyncio.create_task(live_ticker(outbox, publisher, put_at, ticker_stop))
    # Drained when every backlog fix is acknowledged and gone from the outbox;
    # the live fixes sent meanwhile do not count. (Looked at in the outbox only
    # once as many fixes were sent as the backlog holds: a query every 10 ms
    # would compete with the drain for the outbox.)
    while publisher.sent < backlog:
        await asyncio.sleep(0.01)
    while (oldest := await outbox.after(0, 1)) and oldest[0][0] <= last_backlog_seq:
        await asyncio.sleep(0.005)
    seconds = time.perf_counter() - t0
    await stop_all(publisher, run, ticker, ticker_stop, stopping)
    delays = [watch.arrived[s] - t for s, t in put_at.items() if s in watch.arrived]
    lost = len(put_at) - len(delays)
    if lost:
        print(f"  warning: {lost} live fixes not seen by the subscriber")
    return backlog / seconds, delays


async def window_one_baseline(broker: Broker, path: Path, n: int, batch: int) -> float:
    """A backlog of ``n`` fixes in its own outbox, drained the same way (track messages
    of ``batch`` fixes read from the outbox, deleted once acknowledged) but with a
    window of 1: each message awaits its PUBACK before the next is read and sent."""
    outbox, _ = await fill(path, n)
    connection = MqttConnection(MqttSettings(host=broker.host, port=broker.port, client_id="bench-window-1"))
    await connection.connect()
    topic = Topics(FLEET).track("baseline")
    t0 = time.perf_counter()
    while rows := await outbox.after(0, batch):
        payload = encode_track("baseline", [WireFix("baseline", s, f) for s, f in rows])
        await connection.publish(topic, payload, qos=1)
        await outbox.ack([s for s, _ in rows])
    rate = n / (time.perf_counter() - t0)
    await connection.disconnect()
    await outbox.close()
    return rate


async def idle_live(broker: Broker, outbox: Outbox, watch: LiveWatch, seconds: float) -> list[float]:
    settings = MqttSettings(host=broker.host, port=broker.port, client_id=UNIT)
    publisher = Publisher(settings, Topics(FLEET), UNIT, outbox)
    stopping, ticker_stop = asyncio.Event(), asyncio.Event()
    put_at: dict[int, float] = {}
    run = asyncio.create_task(publisher.run(stopping))
    while not publisher.connected:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    ticker = asyncio.create_task(live_ticker(outbox, publisher, put_at, ticker_stop))
    await asyncio.sleep(seconds)
    await stop_all(publisher, run, ticker, ticker_stop, stopping)
    return [watch.arrived[s] - t for s, t in put_at.items() if s in watch.arrived]


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def agent_figures(broker: Broker, folder: Path, seconds: float, *, every_fix: bool) -> tuple[float, float, int]:
    controller, follower = pty.openpty()
    tty.setraw(follower)
    config = write_config(folder, port=broker.port, gps=os.ttyname(follower), fleet=FLEET)
    if not every_fix:  # the default [report] policy
        config.write_text(config.read_text().replace("interval_s = 0\n", ""))
    log = open(folder / "agent.log", "wb")  # noqa: SIM115
    agent = subprocess.Popen([*agent_command(), "run", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    chunks = epochs(drive(int((seconds + 30) * 10), hz=10))
    stop = threading.Event()

    def feed() -> None:
        next_at = time.monotonic()
        for chunk in chunks:
            next_at += 0.1
            if stop.wait(max(0.0, next_at - time.monotonic())):
                return
            os.write(controller, chunk)

    try:
        while b"GPS: opened" not in (folder / "agent.log").read_bytes():
            time.sleep(0.05)
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        time.sleep(5)  # warm up: imports done, outbox and session open, caches full
        cpu0, t0 = proc_cpu_s(agent.pid), time.monotonic()
        time.sleep(seconds)
        cpu = (proc_cpu_s(agent.pid) - cpu0) / (time.monotonic() - t0)
        rss = proc_rss_mb(agent.pid)
        stop.set()
        feeder.join()
        agent.terminate()
        agent.wait(10)
        out = (folder / "agent.log").read_text()
    finally:
        if agent.poll() is None:
            agent.kill()
        log.close()
        os.close(controller)
        os.close(follower)
    waiting = int(out.rsplit("stopped; ", 1)[1].split()[0]) if "stopped; " in out else -1
    return rss, cpu * 100, waiting


def bare_python_rss() -> float:
    bare = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"])
    time.sleep(1)
    rss = proc_rss_mb(bare.pid)
    bare.wait()
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixes", type=int, default=259_200)
    parser.add_argument("--agent-seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        folder = Path(tmp)
        broker = start_broker(folder / "broker", "persistence false\n")
        try:
            watch = LiveWatch(broker)

            async def outbox_figures() -> None:
                outbox, fill_rate = await fill(folder / "outbox.sqlite", args.fixes)
                size = (await outbox.stats()).size_bytes / 1e6
                print(f"fill: {args.fixes:,} fixes in batches of 1000: {fill_rate:,.0f} fixes/s; file {size:.0f} MB")
                baseline_fixes = min(args.fixes, 50_000)
                baseline_path = folder / "baseline.sqlite"
                baseline = await window_one_baseline(broker, baseline_path, baseline_fixes, MAX_TRACK_FIXES)
                rate, delays = await drain(broker, outbox, watch, args.fixes)
                batches = f"track batches of {MAX_TRACK_FIXES}"
                print(f"baseline: {batches}, window 1 (await each PUBACK): {baseline:10,.0f} fixes/s")
                print(f"drain:    {batches}, window 8, acks batched:       {rate:10,.0f} fixes/s "
                      f"-> ratio {rate / baseline:.1f} (target >= 5,000 fixes/s; backlog fixes only)")  # fmt: skip
                idle = await idle_live(broker, outbox, watch, 5.0)
                await outbox.close()
                print(f"baseline live delay, no drain:  p50 {statistics.median(idle) * 1000:6.1f} ms  "
                      f"p99 {p99(idle) * 1000:6.1f} ms  ({len(idle)} fixes)")  # fmt: skip
                print(f"live delay during the drain:    p50 {statistics.median(delays) * 1000:6.1f} ms  "
                      f"p99 {p99(delays) * 1000:6.1f} ms  ({len(delays)} fixes; target p99 < 1 s)")  # fmt: skip

            asyncio.run(outbox_figures())
            bare = bare_python_rss()
            for every_fix, policy in ((False, "default [report] policy"), (True, "every fix reported")):
                agent_folder = folder / f"agent-{every_fix}"
                agent_folder.mkdir()
                rss, cpu, waiting = agent_figures(broker, agent_folder, args.agent_seconds, every_fix=every_fix)
                print(f"agent decoding 10 Hz, {policy}, {args.agent_seconds:g} s at steady state:")
                print(f"  RSS {rss:.1f} MB (target < 40 MB; a bare Python interpreter: {bare:.1f} MB)")
                print(f"  CPU {cpu:.2f}% of one core (target < 2%); {waiting} fixes left in the outbox at exit")
            watch.close()
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
