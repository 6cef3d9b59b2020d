"""MQTT packets written by hand and a paho client on one end of a socket pair,
the other end playing the broker: for measuring and checking paho's receive
path (common.pahospeed) with nothing in between."""

from __future__ import annotations

import socket
import struct

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties


def varint(n: int) -> bytes:
    """MQTT's variable byte integer (a packet's remaining length)."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (128 if n else 0))
        if not n:
            return bytes(out)


def publish(topic: bytes, payload: bytes, mid: int, properties: Properties) -> bytes:
    """An MQTT 5 QoS 1 PUBLISH as a broker sends it."""
    body = struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid) + properties.pack() + payload
    return bytes([0x32]) + varint(len(body)) + body


def connected_pair(
    cls: type[paho.Client], *, manual_ack: bool = False, buffer_size: int | None = None
) -> tuple[paho.Client, socket.socket]:
    """An MQTT 5 client whose socket is one end of a pair, and the other end.
    ``buffer_size`` sets both ends' kernel buffers (for a writer that must not wait)."""
    ours, theirs = socket.socketpair()
    if buffer_size is not None:
        for s in (ours, theirs):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_size)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer_size)
    ours.setblocking(False)
    client = cls(CallbackAPIVersion.VERSION2, client_id="t", protocol=paho.MQTTv5, manual_ack=manual_ack)
    client._sock = ours  # type: ignore[attr-defined]
    return client, theirs
