"""MQTT connection shared by every Active Calls service: settings, TLS, asyncio.

- :class:`MqttSettings` and :func:`mqtt_settings` read a ``[mqtt]`` TOML table
  (:mod:`common.tomlconfig`), so the agent and the collector configure a broker
  connection with the same keys and the same errors. A password file with
  ``tls = false`` is refused unless the broker is this machine (loopback).
  Password and key files must be private (:mod:`common.secrets`).
- :class:`MqttConnection` runs one paho-mqtt 2.x session on the asyncio loop
  (paho's callbacks only resolve futures, as aiomqtt does): TLS with a CA file,
  client certificate and key (mTLS), username plus a password read from a file,
  MQTT 5 by default or 3.1.1, a last will, and ``TCP_NODELAY`` on the socket
  (paho leaves Nagle on, which holds a small publish 10-40 ms in the kernel).
  One object is one session: after it ends, make a new one.
- :func:`connect_with_retry` reconnects with :class:`common.backoff.Backoff`
  (jittered exponential, capped at ``backoff_max_s``).

Errors form one small tree under :class:`MqttError`, split by what a person
would do about them: :class:`BrokerUnreachableError`, :class:`TlsError`,
:class:`AuthError`, :class:`ConnectionLostError`, :class:`PublishRefusedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from common import pahospeed
from common.backoff import Backoff
from common.errors import ActiveCallsError
from common.secrets import check_private, read_password
from common.tomlconfig import ConfigError, Table

__all__ = [
    "PROTOCOLS",
    "AuthError",
    "BrokerUnreachableError",
    "ConnectionLostError",
    "Delivery",
    "MqttConnection",
    "MqttError",
    "MqttSettings",
    "NoSubscribersError",
    "PublishRefusedError",
    "TlsError",
    "check_secrets",
    "Will",
    "connect_with_retry",
    "mqtt_settings",
    "is_loopback",
    "tls_context",
]

log = logging.getLogger(__name__)

PROTOCOLS: Final = {"5": MQTTProtocolVersion.MQTTv5, "3.1.1": MQTTProtocolVersion.MQTTv311}
# CONNACK reason codes that mean "your credentials", not "the broker is broken".
_AUTH_FAILURES: Final = {"Not authorized", "Bad user name or password", "Client identifier not valid", "Banned"}
T = TypeVar("T")


class MqttError(ActiveCallsError):
    """Base of every MQTT connection error; ``str()`` is a one-line reason."""


class BrokerUnreachableError(MqttError):
    """No TCP connection: refused, unresolvable host, timeout, no route."""


class TlsError(MqttError):
    """The TLS handshake failed: untrusted or mismatched server certificate,
    or the broker refused our client certificate."""


class AuthError(MqttError):
    """The broker answered and refused the login (username, password, client id)."""


class ConnectionLostError(MqttError):
    """The session ended (network, keepalive, broker shutdown) or never began."""


class PublishRefusedError(MqttError):
    """The broker acknowledged a publish with a failure reason (MQTT 5), e.g. an ACL."""


class NoSubscribersError(MqttError):
    """MQTT 5 PUBACK 0x10 "No matching subscribers" to a publish that asked for
    one (``require_subscriber``): the broker kept nothing for anyone (a
    retained message aside), so the sender must keep the message."""


# PUBACK reason 0x10: accepted, but no subscription (and no persistent session) matched.
NO_MATCHING_SUBSCRIBERS: Final = 0x10


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach and log in to one broker (the ``[mqtt]`` table)."""

    host: str = "localhost"
    port: int = 1883
    protocol: str = "5"  # "5" or "3.1.1"
    client_id: str = ""  # the service fills in its default (the agent: its unit id)
    username: str | None = None
    password_file: Path | None = None
    tls: bool = False
    ca_file: Path | None = None  # None with tls: the system's trusted CAs
    cert_file: Path | None = None  # client certificate (mTLS) ...
    key_file: Path | None = None  # ... and its private key
    keepalive_s: int = 60
    connect_timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    max_inflight: int = 8  # messages a publisher leaves awaiting PUBACK at once

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def mqtt_settings(table: Table, *, default_client_id: str) -> MqttSettings:
    """Read a ``[mqtt]`` table (rejecting unknown keys) into MqttSettings."""
    tls_keys = ("ca_file", "cert_file", "key_file")
    tls = table.get_bool("tls", any(k in table for k in tls_keys))
    ca_file = table.get_path("ca_file", None)
    cert_file = table.get_path("cert_file", None)
    key_file = table.get_path("key_file", None)
    if (cert_file is None) != (key_file is None):
        raise table.error("cert_file" if key_file is not None else "key_file", "cert_file and key_file go together")
    username = table.get_str("username", None)
    password_file = table.get_path("password_file", None)
    if password_file is not None and username is None:
        raise table.error("password_file", "needs a username too")
    initial = table.get_float("backoff_initial_s", 1.0, low=0.0, low_exclusive=True)
    settings = MqttSettings(
        host=table.get_str("host", "localhost"),
        port=table.get_int("port", 8883 if tls else 1883, low=1, high=65535),
        protocol=table.get_choice("protocol", tuple(PROTOCOLS), "5"),
        client_id=table.get_str("client_id", default_client_id),
        username=username,
        password_file=password_file,
        tls=tls,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        keepalive_s=table.get_int("keepalive_s", 60, low=5, high=65535),
        connect_timeout_s=table.get_float("connect_timeout_s", 10.0, low=0.0, low_exclusive=True),
        backoff_initial_s=initial,
        backoff_max_s=table.get_float("backoff_max_s", 60.0, low=initial),
        max_inflight=table.get_int("max_inflight", 8, low=1, high=1000),
    )
    if not tls and any(k in table for k in tls_keys):
        raise table.error("tls", "is false, but ca_file/cert_file/key_file are set")
    if password_file is not None and not tls and not is_loopback(settings.host):
        raise table.error(
            "password_file",
            f"the password would cross the network to {settings.host} in clear: set tls = true (with ca_file), "
            "or log in with a client certificate instead",
        )
    table.check_unknown()
    return settings


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (a password to it never crosses a network)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_secrets(settings: MqttSettings) -> None:
    """Raise ConfigError now if the key or password file is missing, unreadable or
    not private: a service checks this before it starts, instead of retrying a
    login that cannot work."""
    if settings.key_file is not None:
        check_private(settings.key_file, "MQTT client key")
    if settings.password_file is not None:
        read_password(settings.password_file)


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """Verify the broker (CA file or system CAs, host name) and present our certificate if set."""
    try:
        context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"cannot load the CA file: {reason}", path=settings.ca_file) from None
    if settings.cert_file is not None and settings.key_file is not None:
        check_private(settings.key_file, "MQTT client key")
        try:
            context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise ConfigError(f"cannot load the client certificate or key: {reason}", path=settings.cert_file) from None
    return context


@dataclass(frozen=True, slots=True)
class Delivery:
    """A received message with what is needed to acknowledge it later (``manual_ack``)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool


@dataclass(frozen=True, slots=True)
class Will:
    """What the broker publishes for us when the connection dies uncleanly."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def _set_nodelay(_client: paho.Client, _userdata: Any, sock: Any) -> None:
    # Called by paho from the connecting thread: setsockopt only, no loop access.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _in_thread(loop: asyncio.AbstractEventLoop, fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run a blocking call in a daemon thread: unlike the default executor, a
    shutdown never waits for a connect stuck on an unanswering network."""
    future: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = fn()
        except BaseException as exc:  # delivered to the awaiting task
            with contextlib.suppress(RuntimeError):  # loop closed meanwhile
                loop.call_soon_threadsafe(deliver, None, exc)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, result, None)

    threading.Thread(target=target, name="mqtt-connect", daemon=True).start()
    return future


class MqttConnection:
    """One MQTT session on the running asyncio loop.

    ``await connect()`` returns once the broker accepted the login;
    ``publish()`` returns a future resolved by the PUBACK; ``closed`` resolves
    (with the reason) when the session ends, and every unacknowledged publish
    then fails with :class:`ConnectionLostError`.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str | None = None,
        will: Will | None = None,
        on_message: Callable[[str, bytes], None] | None = None,
        on_delivery: Callable[[Delivery], None] | None = None,
        session_expiry_s: int | None = None,
        receive_maximum: int | None = None,
    ) -> None:
        """``session_expiry_s`` set: a persistent session (MQTT 5: clean start off and
        this Session Expiry Interval; 3.1.1: clean session off), so the broker keeps
        our subscriptions and queues messages while we are away. ``on_delivery`` set:
        messages are acknowledged only by :meth:`ack` (paho's ``manual_ack``), so a
        receiver can acknowledge what it has stored and nothing else.
        ``receive_maximum`` (MQTT 5): how many unacknowledged messages the broker
        may send us at once."""
        self.settings = settings
        self.client_id = client_id or settings.client_id
        self._will = will
        self._on_message = on_message
        self._on_delivery = on_delivery
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self._subacks: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._loop = asyncio.get_running_loop()
        self._client: pahospeed.BufferedClient | None = None
        self._fd = -1
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._need_subscriber: set[int] = set()  # mids whose PUBACK 0x10 is an error
        self._connack: asyncio.Future[ReasonCode] = self._loop.create_future()
        self.closed: asyncio.Future[MqttError] = self._loop.create_future()
        self._misc_task: asyncio.Task[None] | None = None
        self._last_error = ""  # paho's last logged error: tells a TLS alert from a plain close
        self._handled = 0  # messages and acknowledgements paho has handed us: did a read make progress?

    @property
    def connected(self) -> bool:
        return self._connack.done() and not self.closed.done()

    def _make_client(self) -> pahospeed.BufferedClient:
        s = self.settings
        protocol = PROTOCOLS[s.protocol]
        pahospeed.install()
        client = pahospeed.BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=protocol,
            clean_session=None if protocol == MQTTProtocolVersion.MQTTv5 else self._session_expiry_s is None,
            reconnect_on_failure=False,
            manual_ack=self._on_delivery is not None,
        )
        client.connect_timeout = s.connect_timeout_s
        client.max_inflight_messages_set(0)  # no queue inside paho: the publisher bounds its own window
        client.max_queued_messages_set(0)
        if s.username is not None:
            client.username_pw_set(s.username, read_password(s.password_file) if s.password_file else None)
        if s.tls:
            client.tls_set_context(tls_context(s))
        if self._will is not None:
            w = self._will
            client.will_set(w.topic, w.payload, w.qos, w.retain)
        client.on_socket_open = _set_nodelay
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_paho_message
        client.on_subscribe = self._on_subscribe
        # Errors only: an on_log callback would make paho format a debug line for
        # every packet (a tenth of the receive path's CPU); a logger is asked first.
        client.enable_logger(_ErrorTap(self))  # type: ignore[arg-type]
        return client

    async def connect(self) -> None:
        """Open the session; raise a :class:`MqttError` subtype (or ConfigError for
        unreadable credential files) if the broker cannot be reached or refuses us."""
        s = self.settings
        client = self._client = self._make_client()
        try:
            options = self._connect_options()
            await _in_thread(self._loop, lambda: client.connect(s.host, s.port, s.keepalive_s, **options))
        except ssl.SSLCertVerificationError as exc:
            raise TlsError(f"{s.url}: server certificate not trusted: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            raise TlsError(f"{s.url}: TLS handshake failed: {exc.reason or exc}") from None
        except ssl.CertificateError as exc:
            raise TlsError(f"{s.url}: server certificate does not match the host name: {exc}") from None
        except socket.gaierror as exc:
            raise BrokerUnreachableError(f"{s.url}: cannot resolve host {s.host!r}: {exc.strerror}") from None
        except ConnectionRefusedError:
            raise BrokerUnreachableError(f"{s.url}: connection refused (broker down or wrong port)") from None
        except TimeoutError:
            raise BrokerUnreachableError(f"{s.url}: no answer within {s.connect_timeout_s:g} s") from None
        except OSError as exc:
            raise BrokerUnreachableError(f"{s.url}: {exc.strerror or exc}") from None
        sock = client.socket()
        if sock is None:  # closed while sending CONNECT: with TLS 1.3, our certificate was refused
            raise self._closed_early()
        self._fd = sock.fileno()
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._loop.add_reader(self._fd, self._readable)
        if client.want_write():
            self._loop.add_writer(self._fd, self._writable)
        self._misc_task = self._loop.create_task(self._misc())
        try:
            done, _ = await asyncio.wait(
                (self._connack, self.closed), timeout=s.connect_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:
            self._teardown(ConnectionLostError("cancelled"))
            raise
        if self._connack in done:
            code = self._connack.result()
            if not code.is_failure:
                return
            self._teardown(ConnectionLostError("login refused"))
            reason = code.getName()
            if reason in _AUTH_FAILURES:
                raise AuthError(f"{s.url}: login refused: {reason}")
            raise ConnectionLostError(f"{s.url}: broker refused the connection: {reason}")
        if self.closed in done:
            raise self._closed_early()
        self._teardown(ConnectionLostError("timeout"))
        raise BrokerUnreachableError(f"{s.url}: no CONNACK within {s.connect_timeout_s:g} s")

    def _connect_options(self) -> dict[str, Any]:
        if PROTOCOLS[self.settings.protocol] != MQTTProtocolVersion.MQTTv5:
            return {}
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if self._session_expiry_s is not None:
            properties.SessionExpiryInterval = self._session_expiry_s
        if self._receive_maximum is not None:
            properties.ReceiveMaximum = self._receive_maximum
        return {"clean_start": self._session_expiry_s is None, "properties": properties}

    def _closed_early(self) -> MqttError:
        """The broker hung up before CONNACK: with TLS that is its verdict on our certificate."""
        url = self.settings.url
        why = self._last_error or "connection closed before the broker answered"
        if self.settings.tls:
            return TlsError(f"{url}: broker closed the TLS session during login: {why} (client certificate refused?)")
        return ConnectionLostError(f"{url}: {why}")

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, require_subscriber: bool = False
    ) -> asyncio.Future[None]:
        """Send one message; the future resolves on PUBACK (QoS 1) or once
        handed to the socket (QoS 0), and fails if the session ends first.
        ``require_subscriber`` (QoS 1, MQTT 5): a PUBACK saying no subscriber
        matched fails it with :class:`NoSubscribersError`."""
        future: asyncio.Future[None] = self._loop.create_future()
        if not self.connected or self._client is None:
            future.set_exception(ConnectionLostError("not connected"))
            return future
        info = self._client.publish(topic, payload, qos, retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            future.set_exception(ConnectionLostError(f"publish failed: {paho.error_string(info.rc)}"))
        elif qos == 0:
            future.set_result(None)
        else:
            self._pending[info.mid] = future
            if require_subscriber:
                self._need_subscriber.add(info.mid)
        return future

    async def subscribe(self, topic_filter: str, qos: int = 1, *, timeout: float | None = None) -> None:
        """Subscribe and wait for the SUBACK; raise PublishRefusedError if the
        broker refused the filter (an ACL, shared subscriptions unsupported)."""
        if self._client is None or not self.connected:
            raise ConnectionLostError("not connected")
        result, mid = self._client.subscribe(topic_filter, qos)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionLostError(f"subscribe failed: {paho.error_string(result)}")
        future = self._subacks[mid] = self._loop.create_future()
        try:
            done, _ = await asyncio.wait((future, self.closed), timeout=timeout or self.settings.connect_timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            self._subacks.pop(mid, None)
        if future not in done:
            raise ConnectionLostError(f"no SUBACK for {topic_filter!r}")
        granted = future.result()
        if any(code.is_failure for code in granted):
            reason = ", ".join(code.getName() for code in granted)
            raise PublishRefusedError(f"broker refused the subscription {topic_filter!r}: {reason}")

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a message received through ``on_delivery`` (no-op if the
        session has ended: the broker will deliver it again to the next one)."""
        self.ack_many(((mid, qos),))

    def ack_many(self, deliveries: Iterable[tuple[int, int]]) -> None:
        """Acknowledge many messages, given as (mid, qos), in the order given: the
        PUBACKs of QoS 1 messages leave in one write (:func:`pahospeed.queue_pubacks`)
        instead of one packet and one ``send`` each. A no-op if the session has ended."""
        client = self._client
        if client is None or not self.connected:
            return
        pubacks: list[int] = []
        for mid, qos in deliveries:
            if qos == 1:
                pubacks.append(mid)
            elif qos == 2:  # PUBCOMP, after PUBREL: paho keeps that exchange's state
                pahospeed.queue_pubacks(client, pubacks)
                pubacks.clear()
                client.ack(mid, qos)
        pahospeed.queue_pubacks(client, pubacks)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def disconnect(self, timeout: float = 1.0) -> None:
        """Clean DISCONNECT (the broker then drops our last will) and wait for the close."""
        client = self._client
        if client is not None and self.connected:
            client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        self._teardown(ConnectionLostError("disconnected"))

    def abort(self, reason: MqttError) -> None:
        """End the session now, without DISCONNECT (the broker sends our will)."""
        self._teardown(reason)

    # -- paho callbacks: called on the loop thread from loop_read/loop_write/loop_misc

    def _on_connect(self, _c: paho.Client, _u: Any, _flags: Any, code: ReasonCode, _props: Any) -> None:
        if not self._connack.done():
            self._connack.set_result(code)

    def _on_disconnect(self, _c: paho.Client, _u: Any, _flags: Any, code: ReasonCode, _props: Any) -> None:
        reason = code.getName() if code.is_failure else "closed"
        if self._last_error and code.is_failure:
            reason = f"{reason} ({self._last_error})"
        self._teardown(ConnectionLostError(f"{self.settings.url}: connection lost: {reason}"))

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, code: ReasonCode, _props: Any) -> None:
        self._handled += 1
        future = self._pending.pop(mid, None)
        need_subscriber = mid in self._need_subscriber
        self._need_subscriber.discard(mid)
        if future is None or future.done():
            return
        if code.is_failure:
            future.set_exception(PublishRefusedError(f"broker refused a publish: {code.getName()}"))
        elif need_subscriber and code.value == NO_MATCHING_SUBSCRIBERS:
            future.set_exception(NoSubscribersError("the broker has no subscriber for it: No matching subscribers"))
        else:
            future.set_result(None)

    def _on_subscribe(self, _c: paho.Client, _u: Any, mid: int, codes: list[ReasonCode], _props: Any) -> None:
        future = self._subacks.get(mid)
        if future is not None and not future.done():
            future.set_result(list(codes))

    def _on_paho_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        self._handled += 1
        if self._on_delivery is not None:
            self._on_delivery(
                Delivery(message.topic, bytes(message.payload), message.mid, message.qos, bool(message.retain))
            )
        elif self._on_message is not None:
            self._on_message(message.topic, bytes(message.payload))

    def _on_socket_close(self, _c: paho.Client, _u: Any, _sock: Any) -> None:
        self._unregister()

    def _on_register_write(self, _c: paho.Client, _u: Any, _sock: Any) -> None:
        if self._fd >= 0:
            self._loop.add_writer(self._fd, self._writable)

    def _on_unregister_write(self, _c: paho.Client, _u: Any, _sock: Any) -> None:
        if self._fd >= 0:
            self._loop.remove_writer(self._fd)

    # -- event loop glue

    def _readable(self) -> None:
        # paho reads one packet per loop_read(); under a burst (a backlog after a
        # reconnection) reading on while messages keep coming saves an event-loop
        # round per packet. Whether a read handed us a message or an acknowledgement
        # is the sign to go on: asking the socket (a MSG_PEEK recv per packet) cost 8%
        # of the collector's ingest. A read that handed us nothing (no bytes, a
        # partial packet, a ping response) ends the round: the loop wakes us again
        # while the kernel holds bytes. Bytes already read (the client's buffer, or
        # decrypted by TLS) would not wake it, hence _bytes_pending. Bounded, so
        # that other tasks get their turn.
        for _ in range(_READS_PER_WAKEUP):
            client = self._client
            if client is None:
                return
            handled = self._handled
            if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return
            if self._handled == handled and not _bytes_pending(client):
                return
        if self._client is not None and _bytes_pending(self._client):
            self._loop.call_soon(self._readable)

    def _writable(self) -> None:
        if self._client is not None:
            self._client.loop_write()

    async def _misc(self) -> None:
        # Keepalive pings and their timeouts.
        while self._client is not None and not self.closed.done():
            await asyncio.sleep(1.0)
            if self._client is not None:
                self._client.loop_misc()

    def _unregister(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
            self._fd = -1

    def _teardown(self, reason: MqttError) -> None:
        """End the session once: fail what is pending, release the socket."""
        self._unregister()
        if not self.closed.done():
            self.closed.set_result(reason)
        pending, self._pending = self._pending, {}
        self._need_subscriber.clear()
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionLostError(str(reason)))
        client, self._client = self._client, None
        if client is not None:
            # Not now: this may run inside a paho callback, which holds a paho lock
            # that closing the socket takes again.
            self._loop.call_soon(_close_socket, client)
        if self._misc_task is not None and self._misc_task is not asyncio.current_task():
            self._misc_task.cancel()


_READS_PER_WAKEUP: Final = 64


def _bytes_pending(client: pahospeed.BufferedClient) -> bool:
    """Whether bytes already read from the socket wait, which no readiness event
    will announce: in the client's buffer, or decrypted by TLS."""
    if client.buffered:
        return True
    sock = client.socket()
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


class _ErrorTap:
    """What paho needs of a logger, keeping the last error for our messages."""

    def __init__(self, connection: MqttConnection) -> None:
        self._connection = connection

    def log(self, level: int, fmt: str, *args: Any) -> None:
        if level >= logging.ERROR:
            self._connection._last_error = fmt % args if args else fmt


def _close_socket(client: paho.Client) -> None:
    client.on_disconnect = None
    with contextlib.suppress(Exception):
        client._sock_close()  # paho has no public close without DISCONNECT


async def connect_with_retry(
    make: Callable[[], MqttConnection],
    backoff: Backoff,
    stopping: asyncio.Event,
    on_failure: Callable[[Exception, float], None],
) -> MqttConnection | None:
    """Connect, retrying with ``backoff`` until it works (or ``stopping`` is set:
    then None). ``on_failure(error, delay)`` reports each failed attempt."""
    while not stopping.is_set():
        connection = make()
        try:
            await connection.connect()
        except Exception as exc:  # MqttError, ConfigError (unreadable key file...), or a surprise: retry all
            delay = backoff.next_delay()
            on_failure(exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            continue
        backoff.reset()
        return connection
    return None
