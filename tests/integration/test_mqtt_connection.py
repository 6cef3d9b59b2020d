"""common.mqtt against a real Mosquitto: TLS, mutual TLS, password login, last will,
TCP_NODELAY, MQTT 5 and 3.1.1, and the error a person sees for each failure."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from common.mqtt import (
    AuthError,
    BrokerUnreachableError,
    ConnectionLostError,
    Delivery,
    MqttConnection,
    MqttSettings,
    TlsError,
    Will,
)
from common.tomlconfig import ConfigError
from tests.agentkit import Recorder, wait_until
from tests.conftest import Broker, free_port, start_broker

pytestmark = pytest.mark.integration


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a stranger CA."""
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN={ca}",
                 cwd=d)  # fmt: skip
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ext in (("server", ["-extfile", "server.ext"]), ("client", [])):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "2", *ext, cwd=d)  # fmt: skip
    return d


@pytest.fixture(scope="module")
def tls_broker(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """Mosquitto with TLS that requires a client certificate signed by our CA, and a password."""
    work = tmp_path_factory.mktemp("tls-broker")
    passwords = work / "passwd"
    passwords.write_text("pc-101:s3cret\n")
    subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-U", str(passwords)], check=True)
    extra = (
        f"cafile {pki / 'ca.crt'}\ncertfile {pki / 'server.crt'}\nkeyfile {pki / 'server.key'}\n"
        f"require_certificate true\nallow_anonymous false\npassword_file {passwords}\n"
        "max_inflight_messages 1000\n"  # a backlog goes out in long runs of packets, as to the collector
    )
    b = start_broker(work, extra)
    try:
        yield b
    finally:
        b.stop()


def connect(settings: MqttSettings, **kwargs: object) -> MqttConnection:
    async def go() -> MqttConnection:
        c = MqttConnection(settings, **kwargs)  # type: ignore[arg-type]
        try:
            await c.connect()
        finally:
            await c.disconnect()
        return c

    return asyncio.run(go())


def tls_settings(pki: Path, broker: Broker, tmp_path: Path, password: str = "s3cret") -> MqttSettings:
    password_file = tmp_path / "password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return MqttSettings(
        host=broker.host, port=broker.port, client_id="PC-101", tls=True, ca_file=pki / "ca.crt",
        cert_file=pki / "client.crt", key_file=pki / "client.key", username="pc-101", password_file=password_file,
        connect_timeout_s=5,
    )  # fmt: skip


def test_mutual_tls_with_password_and_tcp_nodelay(pki: Path, tls_broker: Broker, tmp_path: Path) -> None:
    settings = tls_settings(pki, tls_broker, tmp_path)

    async def go() -> int:
        c = MqttConnection(settings)
        await c.connect()
        assert c._client is not None
        sock = c._client.socket()
        assert isinstance(sock, socket.socket)
        nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        await asyncio.wait_for(c.publish("ac/v1/test/units/PC-101/pos", b"{}", qos=1), 5)
        await c.disconnect()
        return nodelay

    assert asyncio.run(go()) == 1


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"password": "wrong"}, AuthError, "login refused"),
        ({"ca": "other-ca.crt"}, TlsError, "server certificate not trusted"),
        ({"host": "localhost-typo.invalid"}, BrokerUnreachableError, "cannot resolve host"),
        ({"cert": None}, TlsError, "client certificate refused"),
    ],
)
def test_failures_say_what_is_wrong(
    pki: Path, tls_broker: Broker, tmp_path: Path, change: dict[str, str | None], error: type[Exception], words: str
) -> None:
    settings = tls_settings(pki, tls_broker, tmp_path, password=change.get("password") or "s3cret")
    if "ca" in change:
        settings = replace(settings, ca_file=pki / str(change["ca"]))
    if "host" in change:
        settings = replace(settings, host=str(change["host"]))
    if "cert" in change:
        settings = replace(settings, cert_file=None, key_file=None)
    with pytest.raises(error) as err:
        connect(settings)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_refused_port_and_unreadable_password_file(tmp_path: Path) -> None:
    with pytest.raises(BrokerUnreachableError, match="connection refused"):
        connect(MqttSettings(host="127.0.0.1", port=free_port(), client_id="x"))
    with pytest.raises(ConfigError, match="the MQTT password file does not exist"):
        connect(MqttSettings(host="127.0.0.1", port=free_port(), username="u", password_file=tmp_path / "none"))


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_last_will_on_abrupt_loss_and_none_on_clean_disconnect(broker: Broker, protocol: str) -> None:
    recorder = Recorder(broker.host, broker.port)
    settings = MqttSettings(host=broker.host, port=broker.port, client_id="PC-7", protocol=protocol)
    topic = recorder.topics.state("PC-7")
    will = Will(topic, b"offline")

    async def abrupt() -> None:
        c = MqttConnection(settings, will=will)
        await c.connect()
        await c.publish(topic, b"online", retain=True)
        c.abort(ConnectionLostError("test"))  # no DISCONNECT: the broker must send the will

    async def clean() -> None:
        c = MqttConnection(settings, will=will)
        await c.connect()
        await c.publish(topic, b"online", retain=True)
        await c.disconnect()

    try:
        asyncio.run(abrupt())
        wait_until(lambda: recorder.states() == ["online", "offline"], 10, "the last will")
        asyncio.run(clean())
        wait_until(lambda: recorder.states()[2:] == ["online"], 10, "online")
        asyncio.run(asyncio.sleep(0.5))
        assert recorder.states() == ["online", "offline", "online"]  # no will after a clean disconnect
    finally:
        recorder.close()


def test_publish_fails_when_the_broker_goes_away(broker: Broker) -> None:
    async def go() -> None:
        c = MqttConnection(MqttSettings(host=broker.host, port=broker.port, client_id="PC-8", keepalive_s=5))
        await c.connect()
        broker.kill()
        reason = await asyncio.wait_for(c.closed, 10)
        assert isinstance(reason, ConnectionLostError)
        with pytest.raises(ConnectionLostError):
            await c.publish("a/b", b"x")

    asyncio.run(go())


def test_a_queued_burst_over_tls_arrives_whole(pki: Path, tls_broker: Broker, tmp_path: Path) -> None:
    """A backlog drained at full speed over TLS, acknowledged one by one as the
    collector does: TLS records carry many packets, read in bounded rounds; every
    message arrives, in order."""
    settings = tls_settings(pki, tls_broker, tmp_path)
    count = 5000

    async def go() -> list[int]:
        got: list[int] = []

        def deliver(delivery: Delivery) -> None:
            got.append(int(delivery.payload))
            receiver.ack(delivery.mid, delivery.qos)

        receiver = MqttConnection(settings, client_id="burst-rx", on_delivery=deliver, session_expiry_s=300)
        await receiver.connect()
        await receiver.subscribe("burst/#", 1)
        await receiver.disconnect()  # the broker queues for the session meanwhile
        sender = MqttConnection(settings, client_id="burst-tx")
        await sender.connect()
        await asyncio.wait_for(asyncio.gather(*(sender.publish("burst/n", str(i).encode(), qos=1)
                                                for i in range(count))), 30)  # fmt: skip
        await sender.disconnect()
        receiver = MqttConnection(
            settings, client_id="burst-rx", on_delivery=deliver, session_expiry_s=300, receive_maximum=1000
        )
        await receiver.connect()
        deadline = asyncio.get_running_loop().time() + 20
        while len(got) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await receiver.disconnect()
        return got

    assert asyncio.run(go()) == list(range(count))


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_acknowledged_many_at_once_nothing_comes_again(broker: Broker, protocol: str) -> None:
    """A backlog of QoS 1 and QoS 2 messages, acknowledged as the collector does
    after a commit: all that arrived since the last round at once (``ack_many``,
    whose PUBACKs leave in one write). The broker takes every acknowledgement:
    everything arrives once (a QoS 2 message once its PUBREL is in, so not in
    order), and the next session gets nothing again."""
    settings = MqttSettings(host=broker.host, port=broker.port, client_id="batch-rx", protocol=protocol)
    count = 1000

    async def go() -> tuple[list[int], list[int]]:
        got: list[int] = []
        unacked: list[tuple[int, int]] = []

        def flush() -> None:
            receiver.ack_many(unacked)
            unacked.clear()

        def deliver(delivery: Delivery) -> None:
            got.append(int(delivery.payload))
            if not unacked:
                asyncio.get_running_loop().call_soon(flush)
            unacked.append((delivery.mid, delivery.qos))

        receiver = MqttConnection(settings, on_delivery=deliver, session_expiry_s=300)
        await receiver.connect()
        await receiver.subscribe("batch/1", 1)
        await receiver.subscribe("batch/2", 2)
        await receiver.disconnect()  # the broker queues for the session meanwhile
        sender = MqttConnection(replace(settings, client_id="batch-tx"))
        await sender.connect()
        for window in range(0, count, 10):  # within the broker's receive maximum (20)
            await asyncio.wait_for(asyncio.gather(*(
                sender.publish(f"batch/{1 + (i % 7 == 0)}", str(i).encode(), qos=1 + (i % 7 == 0))
                for i in range(window, window + 10)
            )), 10)  # fmt: skip
        await sender.disconnect()
        receiver = MqttConnection(settings, on_delivery=deliver, session_expiry_s=300, receive_maximum=1000)
        await receiver.connect()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while len(got) < count and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the last acknowledgements leave
        await receiver.disconnect()
        first, got = got, []
        receiver = MqttConnection(settings, on_delivery=deliver, session_expiry_s=300)
        await receiver.connect()
        await asyncio.sleep(1.0)
        await receiver.disconnect()
        return first, got

    first, again = asyncio.run(go())
    assert sorted(first) == list(range(count))
    assert again == []
