"""common.pahospeed against paho itself: the same messages, properties and
acknowledgements, bytes for bytes, fed through a socket pair. These fail if an
internal it relies on is gone or behaves otherwise."""

from __future__ import annotations

import select
import struct
from collections.abc import Iterator

import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.exception import MQTTException
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from common import pahospeed
from common.pahospeed import BufferedClient, LeanProperties, queue_pubacks
from tests.mqttkit import connected_pair, publish

text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@st.composite
def publish_properties(draw: st.DrawFn) -> Properties:
    """A PUBLISH's properties, any subset of those a broker may send."""
    p = Properties(PacketTypes.PUBLISH)
    if draw(st.booleans()):
        p.PayloadFormatIndicator = draw(st.integers(0, 1))
    if draw(st.booleans()):
        p.MessageExpiryInterval = draw(st.integers(0, 2**32 - 1))
    if draw(st.booleans()):
        p.ContentType = draw(text)
    if draw(st.booleans()):
        p.ResponseTopic = draw(text)
    if draw(st.booleans()):
        p.CorrelationData = draw(st.binary(max_size=12))
    for key, value in draw(st.lists(st.tuples(text, text), max_size=3)):
        p.UserProperty = (key, value)
    if draw(st.booleans()):
        p.SubscriptionIdentifier = draw(st.integers(1, 268_435_455))
    return p


def unpacked(cls: type[Properties], packed: bytes, into: Properties | None = None) -> Properties:
    properties = into if into is not None else cls(PacketTypes.PUBLISH)
    properties.unpack(packed)
    return properties


@given(publish_properties(), publish_properties())
def test_lean_properties_read_what_paho_reads(first: Properties, second: Properties) -> None:
    packed = second.pack()
    stock = unpacked(Properties, packed)
    # Reused, as unpack allows: what the first set left must be cleared.
    lean = unpacked(LeanProperties, packed, into=unpacked(LeanProperties, first.pack()))
    assert vars(lean).keys() == vars(stock).keys()
    assert lean.json() == stock.json()
    assert lean.pack() == packed == stock.pack()
    assert str(lean) == str(stock)


def test_lean_properties_keep_what_paho_builds_for_each_instance() -> None:
    # LeanProperties.__init__ sets what Properties.__init__ sets, tables included.
    stock = Properties(PacketTypes.PUBLISH)
    lean = LeanProperties(PacketTypes.PUBLISH)
    assert vars(lean) == vars(stock)
    with pytest.raises(MQTTException, match="Property name must be one of"):
        lean.NoSuchProperty = 1
    with pytest.raises(MQTTException, match="does not apply to packet type"):
        LeanProperties(PacketTypes.CONNECT).TopicAlias = 3


def test_install_has_paho_decode_with_lean_properties() -> None:
    assert pahospeed.install() and pahospeed.install()  # idempotent
    assert _packet.Properties is LeanProperties
    client, peer = connected_pair(BufferedClient)
    got: list[paho.MQTTMessage] = []
    client.on_message = lambda _c, _u, m: got.append(m)
    peer.sendall(publish(b"ac/x", b"{}", 7, Properties(PacketTypes.PUBLISH)))
    drain(client)
    assert len(got) == 1 and type(got[0].properties) is LeanProperties


def drain(client: paho.Client) -> None:
    """Read until the socket and (for the buffered client) its buffer are empty."""
    for _ in range(100_000):
        buffered = getattr(client, "buffered", 0)
        assert buffered >= 0
        sock = client.socket()
        if sock is None or not (buffered or select.select([sock], [], [], 0)[0]):
            return
        client.loop_read()
    raise AssertionError("the client never finished reading")


def received(cls: type[paho.Client], chunks: Iterator[bytes]) -> list[tuple[str, bytes, int, str]]:
    client, peer = connected_pair(cls, manual_ack=True)
    got: list[tuple[str, bytes, int, str]] = []
    client.on_message = lambda _c, _u, m: got.append((m.topic, m.payload, m.mid, str(m.properties)))
    for chunk in chunks:
        peer.sendall(chunk)
        drain(client)
    peer.close()
    client._sock.close()  # type: ignore[attr-defined, union-attr]
    return got


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.binary(max_size=300), publish_properties()), min_size=1, max_size=40),
    st.lists(st.integers(1, 200), min_size=1, max_size=20),
)
def test_buffered_client_hands_over_what_paho_does(messages: list[tuple[bytes, Properties]], cuts: list[int]) -> None:
    """Whatever way the stream is cut into reads, packets split across them included."""
    stream = b"".join(publish(b"ac/f/units/U-%d/pos" % i, p, i + 1, prop) for i, (p, prop) in enumerate(messages))

    def chunks() -> Iterator[bytes]:
        pos, i = 0, 0
        while pos < len(stream):
            yield stream[pos : pos + cuts[i % len(cuts)]]
            pos += cuts[i % len(cuts)]
            i += 1

    ours = received(BufferedClient, chunks())
    assert ours == received(paho.Client, chunks())
    assert len(ours) == len(messages)


def test_buffered_client_reads_in_blocks_and_forgets_them_on_close() -> None:
    client, peer = connected_pair(BufferedClient)
    assert isinstance(client, BufferedClient)
    got: list[bytes] = []
    client.on_message = lambda _c, _u, m: got.append(m.payload)
    peer.sendall(b"".join(publish(b"t", b"%d" % i, i + 1, Properties(PacketTypes.PUBLISH)) for i in range(100)))
    assert client.loop_read() == paho.MQTT_ERR_SUCCESS
    assert len(got) == 1 and client.buffered > 0  # the other 99 were read with the first
    client._sock_close()  # type: ignore[attr-defined]
    assert client.buffered == 0


def test_queue_pubacks_sends_paho_pubacks_in_one_write() -> None:
    mids = [1, 2, 300, 65535]
    expected = b"".join(bytes([0x40, 2]) + struct.pack("!H", mid) for mid in mids)
    stock, stock_peer = connected_pair(paho.Client, manual_ack=True)
    stock_sends = counted_sends(stock)
    for mid in mids:
        stock.ack(mid, 1)
    lean, lean_peer = connected_pair(paho.Client, manual_ack=True)
    lean_sends = counted_sends(lean)
    queue_pubacks(lean, mids)
    for client in (stock, lean):
        while client.want_write():
            client.loop_write()
    assert stock_peer.recv(1000) == expected == lean_peer.recv(1000)
    assert (len(stock_sends), len(lean_sends)) == (len(mids), 1)


def counted_sends(client: paho.Client) -> list[int]:
    """The sizes of the client's socket writes, from now on."""
    sizes: list[int] = []
    send = client._sock_send  # type: ignore[attr-defined]

    def counting(data: bytes) -> int:
        sizes.append(len(data))
        return int(send(data))

    client._sock_send = counting  # type: ignore[attr-defined]
    return sizes


def test_queue_pubacks_of_one_or_none_is_pahos_own() -> None:
    client, peer = connected_pair(paho.Client, manual_ack=True)
    queue_pubacks(client, [])
    assert not client.want_write()
    queue_pubacks(client, [9])
    client.loop_write()
    assert peer.recv(100)[:4] == b"\x40\x02\x00\x09"
