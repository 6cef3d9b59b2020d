"""paho-mqtt's receive path, stock and with common.pahospeed, in the same run.

A stream of MQTT 5 QoS 1 PUBLISH packets (the collector's position payload)
is written into one end of a socket pair and read by a paho client on the
other, with no broker in between, so that only paho's own cost is timed:

1. receive: microseconds per message in ``loop_read``, stock paho, then with
   LeanProperties installed, then also with BufferedClient's block reads;
2. acknowledge: microseconds per PUBACK, one ``ack()`` each (paho's way) and
   queued as one write per 1,000 (``queue_pubacks``).

Each figure is the median of ``--repeat`` runs; the ratio is stock / ours.

    .venv/bin/python bench/paho_receive.py [--messages 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as paho
from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common import pahospeed
from common.fix import Fix
from common.wire import Topics, WireFix, encode_fix
from tests.mqttkit import connected_pair, publish

ACK_BATCH = 1000


def stream(count: int) -> bytes:
    """``count`` PUBLISH packets as Mosquitto sends them (no properties), ids 1 to 65535 over and over."""
    fix = Fix(dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC), 53.2, -1.5, 90.0, 12.5, 180.0, 3, 0.9, 9)
    topic = Topics("bench").pos("SIM-0001").encode()
    payload = encode_fix(WireFix("SIM-0001", 5, fix))
    none = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    return b"".join(publish(topic, payload, i % 65535 + 1, none) for i in range(count))


def connected(cls: type[paho.Client]) -> tuple[paho.Client, socket.socket]:
    # Kernel buffers that hold the whole stream: the writer thread never waits on the reader.
    return connected_pair(cls, manual_ack=True, buffer_size=8 << 20)


def receive(cls: type[paho.Client], data: bytes, count: int) -> float:
    """Microseconds per message for ``cls`` to hand over every message of ``data``."""
    client, peer = connected(cls)
    got = [0]

    def on_message(_c: paho.Client, _u: object, _m: paho.MQTTMessage) -> None:
        got[0] += 1

    client.on_message = on_message
    writer = threading.Thread(target=peer.sendall, args=(data,))
    writer.start()
    start = time.perf_counter()
    while got[0] < count:
        client.loop_read()
    elapsed = time.perf_counter() - start
    writer.join()
    peer.close()
    return elapsed / count * 1e6


def acknowledge(count: int, batched: bool) -> float:
    """Microseconds per PUBACK, written to a socket another thread empties."""
    client, peer = connected(paho.Client)
    reader = threading.Thread(target=lambda: [None for _ in iter(lambda: peer.recv(1 << 20), b"")])
    reader.start()
    start = time.perf_counter()
    for first in range(0, count, ACK_BATCH):
        mids = [i % 65535 + 1 for i in range(first, min(first + ACK_BATCH, count))]
        if batched:
            pahospeed.queue_pubacks(client, mids)
        else:
            for mid in mids:
                client.ack(mid, 1)
        while client.want_write():
            client.loop_write()
    elapsed = time.perf_counter() - start
    client.socket().close()  # type: ignore[union-attr]
    reader.join()
    return elapsed / count * 1e6


def median_of(repeat: int, run: Callable[[], float]) -> float:
    return statistics.median(run() for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    n, repeat = args.messages, args.repeat
    data = stream(n)
    installed = _packet.Properties
    try:
        _packet.Properties = Properties  # paho's own, whatever was installed before
        stock = median_of(repeat, lambda: receive(paho.Client, data, n))
        if not pahospeed.install():
            print("this paho has no seam for LeanProperties: common.pahospeed falls back to paho's own")
            return 1
        lean = median_of(repeat, lambda: receive(paho.Client, data, n))
        buffered = median_of(repeat, lambda: receive(pahospeed.BufferedClient, data, n))
    finally:
        _packet.Properties = installed
    print(f"paho receive, {n} QoS 1 positions through a socket pair (median of {repeat}):")
    print(f"  stock paho:                  {stock:6.2f} us/message")
    print(f"  + LeanProperties:            {lean:6.2f} us/message  ({stock / lean:.2f}x)")
    print(f"  + BufferedClient reads:      {buffered:6.2f} us/message  ({stock / buffered:.2f}x)")
    each = median_of(repeat, lambda: acknowledge(n, batched=False))
    batched = median_of(repeat, lambda: acknowledge(n, batched=True))
    print(f"paho acknowledge, {n} PUBACKs:")
    print(f"  one ack() each:              {each:6.2f} us/ack")
    print(f"  queue_pubacks per {ACK_BATCH}:      {batched:6.2f} us/ack  ({each / batched:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
