"""Why the agent sets TCP_NODELAY: publish latency with and without Nagle's algorithm.

paho-mqtt leaves Nagle on. An agent often writes two small packets back to
back (a live ``pos`` and a ``track`` batch, or a PUBACK and a PUBLISH); with
Nagle the second waits in the kernel until the first is acknowledged, and the
peer delays that ACK. This measures the delay from ``publish()`` of the second
message of each pair to its arrival at a subscriber, through a real local
Mosquitto, with the socket option off (paho's default) and on (what
``common.mqtt`` does), in the same run, for QoS 1 (what the agent uses) and
QoS 0. On loopback with QoS 1 the broker's PUBACK carries the TCP ACK at
once, so Nagle rarely bites; with QoS 0 (nothing comes back) the second
packet of a pair waits for the peer's delayed ACK, about 40 ms. Over a
cellular link the round trip is what the second packet waits for, whatever
the QoS, which is why the agent turns Nagle off.

    .venv/bin/python bench/nodelay.py [--pairs 200]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulators.broker import start_broker

TOPIC = "bench/nodelay"


def _nodelay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def measure(port: int, pairs: int, nodelay: bool, qos: int) -> list[float]:
    """Milliseconds from publish() of the second message of each pair to its arrival."""
    arrivals: dict[int, float] = {}
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        index = int(message.payload.split(b":")[0])
        arrivals[index] = time.perf_counter()
        if len(arrivals) == 2 * pairs:
            done.set()

    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{nodelay}")
    subscriber.on_socket_open = _nodelay  # only the publisher's socket is under test
    subscriber.on_message = on_message
    subscriber.connect("127.0.0.1", port)
    subscriber.subscribe(TOPIC, qos=1)
    subscriber.loop_start()
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{nodelay}")
    if nodelay:
        publisher.on_socket_open = _nodelay
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    time.sleep(0.5)
    sent: dict[int, float] = {}
    padding = b"x" * 180  # about the size of a fix
    for pair in range(pairs):
        for index in (2 * pair, 2 * pair + 1):
            sent[index] = time.perf_counter()
            publisher.publish(TOPIC, str(index).encode() + b":" + padding, qos=qos)
        time.sleep(0.05)  # a 20 Hz cadence of pairs, far below any throughput limit
    done.wait(30)
    for client in (publisher, subscriber):
        client.loop_stop()
        client.disconnect()
    return [(arrivals[i] - sent[i]) * 1000 for i in range(1, 2 * pairs, 2) if i in arrivals]


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        broker = start_broker(Path(folder) / "broker")
        try:
            results = {
                (qos, flag): measure(broker.port, args.pairs, flag, qos) for qos in (1, 0) for flag in (False, True)
            }
        finally:
            broker.stop()
    for (qos, flag), values in results.items():
        label = "TCP_NODELAY on (common.mqtt)" if flag else "Nagle on (paho default)  "
        print(
            f"QoS {qos} {label}: second of a pair published->delivered median {statistics.median(values):6.2f} ms,"
            f" p99 {_p(values, 0.99):6.2f} ms, max {max(values):6.2f} ms  ({len(values)} pairs)"
        )
    for qos in (1, 0):
        ratio = max(results[qos, False]) / max(max(results[qos, True]), 1e-6)
        print(f"QoS {qos}: worst-case latency ratio Nagle/NODELAY {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
