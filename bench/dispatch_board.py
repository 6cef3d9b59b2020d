"""The dispatcher's board under load: CLIENTS browsers on its event stream while UNITS units report at 1 Hz.

Two runs of DURATION seconds each through a real Mosquitto on loopback, with
``activecalls-collector run`` as a real process (its [dispatch] listener on),
the simulated fleet (``activecalls-sim fleet``) and INCIDENTS open incidents:

1. no board open: the collector's CPU (user + system, from /proc, as % of one core);
2. CLIENTS event-stream clients (``/api/events``, token-authenticated, one
   asyncio HTTP client each): the same CPU figure, and each ETA event's latency
   from its ``computed`` time (the collector's clock, this machine's) to its
   arrival at each client: p50/p99 over every client and event.

Printed: both CPU figures and their ratio, the latency percentiles, and the
events received (a client that fell behind is dropped by the collector and
counted here).

    python bench/dispatch_board.py [--units 500] [--clients 50] [--incidents 10] [--duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench.collector import FLEET, TOPICS, Collector, client
from common.fix import parse_time
from common.wire import DutyStatus, Incident, IncidentStatus, encode_incident, encode_status
from simulators.broker import free_port, start_broker

TOKEN = "bench-" + "0123456789abcdef" * 2


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def listen(url: str, until: float, latencies: list[float], counts: list[int]) -> None:
    timeout = aiohttp.ClientTimeout(total=None, sock_read=30)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url + "api/events", headers=headers) as response,
    ):
        assert response.status == 200, response.status
        event = ""
        while time.time() < until:
            try:
                line = await asyncio.wait_for(response.content.readline(), max(0.1, until - time.time()))
            except TimeoutError:
                break
            if not line:
                counts.append(-1)  # dropped by the collector
                return
            text = line.decode().rstrip("\n")
            if text.startswith("event: "):
                event = text[7:]
            elif text.startswith("data: ") and event == "eta":
                data = json.loads(text[6:])
                latencies.append(time.time() - parse_time(data["computed"]).timestamp())
                counts.append(1)


async def board_clients(url: str, clients: int, duration: float) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    counts: list[int] = []
    until = time.time() + duration
    await asyncio.gather(*(listen(url, until, latencies, counts) for _ in range(clients)))
    return latencies, counts


def run(units: int, clients: int, incidents: int, duration: float) -> tuple[float, list[float], list[int]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = start_broker(folder / "broker")
        collector = fleet = None
        try:
            board_port = free_port()
            (folder / "tokens").write_text(f"bench {TOKEN}\n")
            config = folder / "collector.toml"
            config.write_text(
                f'fleet = "{FLEET}"\n[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nclient_id = "bench-collector"\n'
                f'[store]\npath = "{folder}/collector.sqlite"\nsynchronous = "NORMAL"\n'
                f'[dispatch]\nlisten = "127.0.0.1:{board_port}"\ntokens_file = "tokens"\n'
            )
            collector = Collector(config)
            fleet = subprocess.Popen(
                [sys.executable, "-m", "simulators.cli", "fleet", "--host", "127.0.0.1", "--port", str(broker.port),
                 "--fleet", FLEET, "--units", str(units), "--hz", "1", "--duration", str(duration + 30)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            cad = client(broker.port, "bench-cad")
            cad.loop_start()
            rng = random.Random(3)
            now = dt.datetime.now(dt.UTC)
            for j in range(incidents):
                lat, lon = 53.235 + rng.uniform(-0.04, 0.04), -1.421 + rng.uniform(-0.06, 0.06)
                incident = Incident(f"INC-{j:03d}", "call", 1 + j % 4, lat, lon, IncidentStatus.OPEN, now)
                cad.publish(TOPICS.incident(incident.id), encode_incident(incident), 1, True).wait_for_publish(5)
            for u in range(units):
                cad.publish(TOPICS.status(f"SIM-{u + 1:04d}"), encode_status(DutyStatus.AVAILABLE), 1, True)
            time.sleep(3.0 + units / 250)  # the fleet connects and reports
            before = cpu_seconds(collector.process.pid)
            started = time.monotonic()
            if clients:
                latencies, counts = asyncio.run(board_clients(f"http://127.0.0.1:{board_port}/", clients, duration))
            else:
                time.sleep(duration)
                latencies, counts = [], []
            cpu = (cpu_seconds(collector.process.pid) - before) / (time.monotonic() - started) * 100
            cad.loop_stop()
            cad.disconnect()
            return cpu, latencies, counts
        finally:
            if fleet is not None:
                fleet.terminate()
                fleet.wait(30)
            if collector is not None:
                collector.stop()
            broker.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--incidents", type=int, default=10)
    parser.add_argument("--duration", type=float, default=30.0)
    args = parser.parse_args()
    print(f"{args.units} units at 1 Hz, {args.incidents} open incidents, {args.duration:g} s per run")
    idle_cpu, _, _ = run(args.units, 0, args.incidents, args.duration)
    print(f"no board open:        collector CPU {idle_cpu:.0f} % of one core")
    cpu, latencies, counts = run(args.units, args.clients, args.incidents, args.duration)
    dropped = counts.count(-1)
    print(f"{args.clients} board clients:     collector CPU {cpu:.0f} % of one core "
          f"({cpu / max(idle_cpu, 1e-9):.2f}x the run with no board)")  # fmt: skip
    if len(latencies) < 2:
        print("no ETA events received: no latency")
        return 1
    q = statistics.quantiles(latencies, n=100)
    print(f"ETA event latency (computed -> a client): p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms "
          f"over {len(latencies)} events ({len(latencies) // args.clients} per client); "
          f"{dropped} clients dropped for falling behind")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
