"""The production broker configuration, run for real: lab PKI, render, the two Mosquittos.

``start_secure_broker`` starts both brokers of the rendered configuration
(:func:`simulators.securebroker.start_secure_brokers`: the private one for
vehicles and services, the public one for the feed, fed by its bridge), so
the tests exercise exactly what an administrator installs. ``Probe`` is a
small synchronous MQTT client: no background thread, the test decides when
it reads (``pump``), which is how a subscriber "stalls".

Shared by the broker, attack and public feed tests and bench/broker_queue.py.
"""

from __future__ import annotations

import datetime as dt
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from common.fix import Fix
from common.wire import WireFix, encode_fix
from simulators.securebroker import MAKE_LAB_PKI, RENDER, Ports, SecureBrokers, start_secure_brokers
from simulators.securebroker import make_lab_pki as make_lab_pki
from tests.conftest import Broker

__all__ = ["MAKE_LAB_PKI", "RENDER", "ConnectRefused", "Message", "Ports", "Probe", "SecureBroker",
           "make_lab_pki", "position", "positions", "rss_bytes", "start_secure_broker"]  # fmt: skip

LOOPBACK = "127.0.0.1"

Listener = Literal["vehicle", "service", "public"]


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc status")


@dataclass
class SecureBroker:
    """Both brokers of the rendered Active Calls configuration, and the probes made on them."""

    brokers: SecureBrokers
    probes: list[Probe] = field(default_factory=list)

    @property
    def broker(self) -> Broker:
        """The private broker (vehicles, services)."""
        return self.brokers.private

    @property
    def public_broker(self) -> Broker:
        return self.brokers.public

    @property
    def fleet(self) -> str:
        return self.brokers.fleet

    @property
    def ports(self) -> Ports:
        return self.brokers.ports

    @property
    def etc(self) -> Path:
        return self.brokers.etc

    @property
    def pki(self) -> Path:
        return self.brokers.pki

    @property
    def pid(self) -> int:
        return self.broker.process.pid

    def rss_bytes(self) -> int:
        """Resident memory of the private broker."""
        return rss_bytes(self.pid)

    def probe(
        self,
        listener: Listener,
        identity: str | None,
        *,
        client_id: str = "",
        clean: bool = True,
        pki: Path | None = None,
        protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
        session_expiry: int = 3600,
    ) -> Probe:
        """A connected client on ``listener``; ``identity`` is a certificate
        under the PKI ("units/PC-101", "services/collector") or None (none)."""
        port = getattr(self.ports, listener)
        probe = Probe(
            port,
            client_id=client_id or f"probe-{len(self.probes)}",
            clean=clean,
            transport="websockets" if listener == "public" else "tcp",
            protocol=protocol,
            session_expiry=session_expiry,
        )
        if listener != "public":
            probe.use_tls(pki or self.pki, identity)
        self.probes.append(probe)
        probe.connect()
        return probe

    def unconnected_probe(self, listener: Listener, client_id: str) -> Probe:
        """A TCP client for ``listener`` with no TLS set up yet; the test
        configures it (or not) and calls ``connect``."""
        probe = Probe(
            getattr(self.ports, listener),
            client_id=client_id,
            clean=True,
            transport="tcp",
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        self.probes.append(probe)
        return probe

    def stop(self) -> None:
        for probe in self.probes:
            probe.close()
        self.brokers.stop()


def position(unit: str, seq: int) -> WireFix:
    """A realistic reported fix of ``unit`` (one second apart by ``seq``)."""
    start = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
    fix = Fix(
        start + dt.timedelta(seconds=seq),
        53.235 + seq * 1e-6,
        -1.421,
        alt=92.4,
        speed=13.4,
        track=271.5,
        mode=3,
        hdop=0.9,
        sats=9,
    )
    return WireFix(unit, seq, fix)


def positions(unit: str, count: int) -> list[bytes]:
    """``count`` pos payloads of ``unit``, seq 1..count."""
    return [encode_fix(position(unit, seq)) for seq in range(1, count + 1)]


def start_secure_broker(
    workdir: Path, fleet: str, *, pki: Path, render_options: Sequence[str] = (), bridged: bool = True
) -> SecureBroker:
    """Render the configuration for ``fleet`` with ``pki`` and start both brokers."""
    return SecureBroker(start_secure_brokers(workdir, fleet, pki=pki, render_options=render_options, bridged=bridged))


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class ConnectRefused(Exception):
    """The broker (or the TLS handshake) refused the connection."""


class Probe:
    """A paho client driven by hand: nothing is read until ``pump`` runs."""

    def __init__(
        self,
        port: int,
        *,
        client_id: str,
        clean: bool,
        transport: Literal["tcp", "websockets"],
        protocol: MQTTProtocolVersion,
        session_expiry: int = 3600,
    ) -> None:
        self.port = port
        self.messages: list[Message] = []
        self.connack: ReasonCode | None = None
        self.disconnected = False
        self._acked: set[int] = set()
        self.puback_codes: dict[int, ReasonCode] = {}  # MQTT 5: why a publish was refused
        self._granted: dict[int, list[ReasonCode]] = {}
        v5 = protocol == MQTTProtocolVersion.MQTTv5
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            transport=transport,
            protocol=protocol,
            clean_session=None if v5 else clean,
        )
        self._v5 = v5
        self._clean = clean
        self._session_expiry = session_expiry
        # Unlimited windows on the client side: the broker's limits are under test.
        self.client.max_inflight_messages_set(0)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect

    def use_tls(self, pki: Path, identity: str | None) -> None:
        cert = key = None
        if identity is not None:
            cert, key = str(pki / f"{identity}.crt"), str(pki / f"{identity}.key")
        self.client.tls_set(ca_certs=str(pki / "ca.crt"), certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED)

    # -- callbacks (paho's thread is ours: they run inside pump) --
    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        self.connack = rc

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.messages.append(Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)))

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, rc: ReasonCode, _p: object) -> None:
        self._acked.add(mid)
        self.puback_codes[mid] = rc

    def _on_subscribe(self, _c: mqtt.Client, _u: object, mid: int, codes: list[ReasonCode], _p: object) -> None:
        self._granted[mid] = codes

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, _rc: ReasonCode, _p: object) -> None:
        self.disconnected = True

    # -- driving --
    def connect(self, timeout: float = 10.0) -> None:
        try:
            if self._v5:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = 0 if self._clean else self._session_expiry
                self.client.connect(LOOPBACK, self.port, keepalive=60, clean_start=self._clean, properties=props)
            else:
                self.client.connect(LOOPBACK, self.port, keepalive=60)
        except (OSError, ssl.SSLError) as exc:  # TLS handshake refused, connection reset
            raise ConnectRefused(f"connect to port {self.port}: {exc}") from exc
        self.pump_until(lambda: self.connack is not None or self.disconnected, timeout, "CONNACK")
        if self.connack is None or self.connack.is_failure:
            raise ConnectRefused(f"CONNACK {self.connack}")

    def pump(self, seconds: float = 0.0) -> None:
        """Let paho read and write for about ``seconds`` (at least one pass)."""
        deadline = time.monotonic() + seconds
        while True:
            rc = self.client.loop(timeout=0.01)
            if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
                self.disconnected = True
                return
            if time.monotonic() >= deadline:
                return

    def pump_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {timeout} s")
            rc = self.client.loop(timeout=0.05)
            if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
                self.disconnected = True
                if not done():
                    raise ConnectionError(f"disconnected ({rc.name}) while waiting for {what}")

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 10.0) -> list[ReasonCode]:
        result, mid = self.client.subscribe(topic, qos)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionError(f"subscribe {topic}: {result.name}")
        self.pump_until(lambda: mid in self._granted, timeout, f"SUBACK for {topic}")
        return self._granted.pop(mid)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Queue a publish; returns its mid (wait with ``wait_acked``)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"publish {topic}: {info.rc.name}")
        return info.mid

    def publish_burst(
        self, topic: str, payloads: Sequence[bytes], *, window: int = 2000, retain: bool = False, timeout: float = 120.0
    ) -> None:
        """Publish every payload at QoS 1 with up to ``window`` unacknowledged
        (packet ids are 16-bit, so never more than 65535), until all are acked."""
        deadline = time.monotonic() + timeout
        outstanding: set[int] = set()
        for payload in payloads:
            while len(outstanding) >= window:
                self._loop_once(deadline, "PUBACKs of the burst")
                outstanding -= self._acked
                self._acked.clear()
            outstanding.add(self.publish(topic, payload, qos=1, retain=retain))
        self.wait_acked(outstanding, max(0.0, deadline - time.monotonic()))

    def _loop_once(self, deadline: float, what: str) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} in time")
        rc = self.client.loop(timeout=0.05)
        if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
            self.disconnected = True
            raise ConnectionError(f"disconnected ({rc.name}) while waiting for {what}")

    def wait_acked(self, mids: Iterable[int], timeout: float = 30.0) -> None:
        wanted = set(mids)
        self.pump_until(lambda: wanted <= self._acked, timeout, f"PUBACK for {len(wanted)} message(s)")
        self._acked -= wanted

    def wait_for(self, topic: str, payload: bytes, timeout: float = 10.0) -> list[Message]:
        """Read until ``payload`` arrives on ``topic``; return everything received
        before it (and clear it), since a broker keeps one client's order."""
        scanned = 0
        found: int | None = None

        def arrived() -> bool:  # scans each message once: bursts are 10^5 long
            nonlocal scanned, found
            for index in range(scanned, len(self.messages)):
                if self.messages[index].topic == topic and self.messages[index].payload == payload:
                    found = index
                    return True
            scanned = len(self.messages)
            return False

        self.pump_until(arrived, timeout, f"{payload!r} on {topic}")
        assert found is not None
        before, self.messages = self.messages[:found], self.messages[found + 1 :]
        return before

    def close(self) -> None:
        try:
            if not self.disconnected:
                self.client.disconnect()
                self.pump(0.05)
        finally:
            sock = self.client.socket()
            if sock is not None:
                sock.close()
