"""The collector's broker session: connect, subscribe, publish, reconnect.

One persistent MQTT 5 session (clean start off, ``session_expiry_s``) with
manual acknowledgements: the broker keeps queuing the fleet's messages while
the collector is away, and a message is acknowledged only by the
:class:`~collector.writer.StoreWriter`, after its commit. Each delivery is
handed to ``on_delivery(connection, delivery)`` on the loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable

from collector.config import CollectorConfig
from collector.counters import ServiceCounters
from common.backoff import Backoff
from common.mqtt import Delivery, MqttConnection, MqttError, connect_with_retry
from common.wire import TopicKind, Topics

__all__ = ["SHARED_KINDS", "SUBSCRIBED_KINDS", "BrokerSession", "subscriptions", "view_subscriptions"]

log = logging.getLogger("collector")

SUBSCRIBED_KINDS = (TopicKind.POS, TopicKind.TRACK, TopicKind.STATE, TopicKind.STATUS)


# With a shared group, N collectors split these (each message goes to one of them,
# which stores it); the rarer ones (states, statuses, incidents) every collector
# takes whole: each keeps the whole fleet's state for its ETAs.
SHARED_KINDS = (TopicKind.POS, TopicKind.TRACK)


def subscriptions(topics: Topics, shared_group: str | None = None) -> list[str]:
    """The topic filters the collector subscribes to; with a group, the positions
    as a shared subscription (``$share/<group>/...``)."""
    filters = [topics.unit_filter(kind) for kind in SUBSCRIBED_KINDS] + [topics.incidents_filter]
    if not shared_group:
        return filters
    shared = {topics.unit_filter(kind) for kind in SHARED_KINDS}
    return [f"$share/{shared_group}/{f}" if f in shared else f for f in filters]


def view_subscriptions(topics: Topics) -> list[str]:
    """What a collector in a shared group also takes whole, at QoS 0, on a second
    connection: every unit's newest position, for its fleet state (not stored)."""
    return [topics.unit_filter(TopicKind.POS)]


class BrokerSession:
    def __init__(
        self,
        config: CollectorConfig,
        topics: Topics,
        on_delivery: Callable[[MqttConnection, Delivery], None],
        counters: ServiceCounters,
        *,
        on_status: Callable[[str | None], None] = lambda _text: None,
        on_publish_error: Callable[[BaseException], None] = lambda _exc: None,
        view: bool = False,
    ) -> None:
        """``view``: the fleet-view connection of a collector in a shared group
        (:func:`view_subscriptions` at QoS 0, client id ``<id>-view``, no
        persistent session: what it misses while away, the retained topics bring)."""
        self.config = config
        self.topics = topics
        self.on_delivery = on_delivery
        self.counters = counters
        self.on_status = on_status
        self.on_publish_error = on_publish_error
        self.connection: MqttConnection | None = None
        self.view = view
        self.subscribed = asyncio.Event()  # set while subscribed (tests and check wait on it)

    @property
    def connected(self) -> bool:
        return self.connection is not None and self.connection.connected

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """Publish at QoS 1 if connected (False if not: the caller's next round
        will bring it again); a broker refusal is reported, never raised."""
        connection = self.connection
        if connection is None or not connection.connected:
            return False
        future = connection.publish(topic, payload, qos=1, retain=retain)
        future.add_done_callback(self._published_done)
        return True

    def _published_done(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and (exc := future.exception()) is not None:
            self.counters.publish_errors += 1
            self.on_publish_error(exc)

    async def run(self, stopping: asyncio.Event) -> None:
        settings = self.config.mqtt
        ingest = self.config.ingest
        backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s)
        filters = view_subscriptions(self.topics) if self.view else subscriptions(self.topics, ingest.shared_group)
        qos = 0 if self.view else 1

        if self.view and ingest.view_cert_file is not None:  # an identity of its own (config.py says why)
            settings = dataclasses.replace(settings, cert_file=ingest.view_cert_file, key_file=ingest.view_key_file)

        def make() -> MqttConnection:
            holder: list[MqttConnection] = []
            connection = MqttConnection(
                settings,
                client_id=f"{settings.client_id}-view" if self.view else None,
                on_delivery=lambda d: self.on_delivery(holder[0], d),
                session_expiry_s=None if self.view else ingest.session_expiry_s,
                receive_maximum=ingest.receive_maximum,
            )
            holder.append(connection)
            return connection

        def failed(exc: Exception, delay: float) -> None:
            log.warning("broker: %s; retrying in %.1f s", exc, delay)
            self.on_status(f"broker unreachable: {exc}")

        while not stopping.is_set():
            connection = await connect_with_retry(make, backoff, stopping, failed)
            if connection is None:
                return
            self.connection = connection
            self.counters.sessions += 1
            try:
                for topic_filter in filters:
                    await connection.subscribe(topic_filter, qos)
            except MqttError as exc:
                log.error("broker: %s", exc)
                connection.abort(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), backoff.next_delay())
                continue
            log.info("connected to %s as %s; subscribed to %s", settings.url, settings.client_id, ", ".join(filters))
            self.subscribed.set()
            self.on_status(None)
            stopper = asyncio.create_task(stopping.wait())
            await asyncio.wait((connection.closed, stopper), return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            self.subscribed.clear()
            if not stopping.is_set():
                log.warning("%s", connection.closed.result())
                self.on_status(None)

    async def disconnect(self) -> None:
        if self.connection is not None:
            await self.connection.disconnect()
