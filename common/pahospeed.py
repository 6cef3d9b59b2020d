"""Costs of paho-mqtt's receive path, cut for a subscriber under load.

paho-mqtt 2.x handles each message in pure Python. Draining a backlog, the
collector spends most of its time in paho rather than in its own work; these
habits of paho cost the most (``bench/paho_receive.py`` measures each):

- Each PUBLISH builds a ``Properties`` object, whose constructor builds two
  27-entry tables and whose ``unpack`` first clears 27 attributes one by one:
  about 40 % of paho's time per message. :func:`install` has paho build
  :class:`LeanProperties` instead: the same class with the tables built once
  and shared (paho only reads them), clearing only the attributes set.
- Reading one packet takes three ``recv`` calls (command byte, length, body).
  :class:`BufferedClient` reads up to 64 KiB at once and serves those calls
  from it; whoever drives its loop must call ``loop_read`` again while
  :attr:`BufferedClient.buffered` is not 0, as no readiness event announces
  bytes already read.
- Each acknowledgement is its own packet in paho's output queue and its own
  ``send`` (8.6 us each). :func:`queue_pubacks` queues the PUBACKs of a committed
  batch as one packet: one ``send`` for the batch.

Each relies on a paho internal; ``tests/unit/test_pahospeed.py`` fails if one is
gone or behaves otherwise, and where one is missing the code takes paho's own
path, slower but correct.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

import paho.mqtt.client as paho
from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["BufferedClient", "LeanProperties", "install", "queue_pubacks"]

_TABLES: Final = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
_ATTRIBUTES: Final = frozenset(name.replace(" ", "") for name in _TABLES.names)


class LeanProperties(Properties):
    """paho's MQTT 5 properties, with the lookup tables of the first instance
    shared by all instead of built for each packet."""

    def __init__(self, packetType: int) -> None:
        # As Properties.__init__, which sets these four and nothing else.
        object.__setattr__(self, "packetType", packetType)
        object.__setattr__(self, "types", _TABLES.types)
        object.__setattr__(self, "names", _TABLES.names)
        object.__setattr__(self, "properties", _TABLES.properties)

    def clear(self) -> None:
        for name in [name for name in vars(self) if name in _ATTRIBUTES]:
            delattr(self, name)


def install() -> bool:
    """Have paho's packet decoder build LeanProperties (idempotent); False if
    this paho has no such seam, and then it keeps its own."""
    if getattr(_packet, "Properties", None) not in (Properties, LeanProperties):
        return False
    _packet.Properties = LeanProperties  # type: ignore[attr-defined]
    return True


_PUBACK: Final = PacketTypes.PUBACK << 4
# Fixed header, remaining length 2, packet id. MQTT 5 allows leaving out the reason
# code (then 0, success) and the properties, so this is a PUBACK in 3.1.1 and in 5.
_PUBACK_PACKET: Final = struct.Struct("!BBH")


_READ_SIZE: Final = 64 * 1024


class BufferedClient(paho.Client):
    """paho's client, reading its socket in blocks rather than a few bytes at a time."""

    _read_buffer = b""
    _read_pos = 0

    @property
    def buffered(self) -> int:
        """Bytes read from the socket that paho has not taken yet."""
        return len(self._read_buffer) - self._read_pos

    def _sock_recv(self, bufsize: int) -> bytes:
        # paho asks for 1 byte (the command), 1 at a time (the length), then the
        # rest, and copes with fewer bytes than asked, as with a socket.
        buffer, pos = self._read_buffer, self._read_pos
        if pos >= len(buffer):
            buffer = super()._sock_recv(_READ_SIZE)  # raises BlockingIOError when nothing is there
            self._read_buffer, pos = buffer, 0
            if not buffer:  # the connection closed
                return buffer
        chunk = buffer[pos : pos + bufsize]
        self._read_pos = pos + len(chunk)  # never past the end: ``buffered`` stays >= 0
        return chunk

    def _sock_close(self) -> None:
        self._read_buffer, self._read_pos = b"", 0
        super()._sock_close()


def queue_pubacks(client: paho.Client, mids: Sequence[int]) -> None:
    """Queue the PUBACKs of QoS 1 messages received with ``manual_ack``, in order,
    as one write."""
    if not mids:
        return
    queue = getattr(client, "_packet_queue", None)
    if queue is None or len(mids) == 1:
        for mid in mids:
            client.ack(mid, 1)
        return
    pack = _PUBACK_PACKET.pack
    queue(_PUBACK, b"".join([pack(_PUBACK, 2, mid) for mid in mids]), 0, 0)
