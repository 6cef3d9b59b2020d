"""``/metrics``: the collector in Prometheus text format (prometheus-client), and ``/healthz``'s answer.

Most figures are the service's own counters (:class:`~collector.counters.ServiceCounters`,
the ingest's :class:`~collector.ingest.IngestStats`), read at scrape time by
:class:`ServiceMetrics`, so nothing is counted twice. What only the dispatch
listener sees (web requests by status, the fix-to-ETA lag of each report
published, the board's event clients) is counted here. docs/dispatch.md lists
them with example alerting rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from common.wire import EtaReport

if TYPE_CHECKING:
    from collector.dispatch.events import EventHub
    from collector.service import CollectorService

__all__ = ["DispatchMetrics", "health"]

PREFIX = "activecalls_"


class ServiceMetrics(Collector):
    """The running service's counters and state, as metric families at scrape time."""

    def __init__(self, service: CollectorService, hub: EventHub, clock: Callable[[], float]) -> None:
        self.service = service
        self.hub = hub
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        s, c = self.service.ingest.stats, self.service.counters
        yield CounterMetricFamily(PREFIX + "messages", "MQTT messages received", value=s.messages)
        rejected = CounterMetricFamily(PREFIX + "messages_rejected", "Messages rejected, by reason", labels=["reason"])
        for reason, n in sorted(s.rejected.items()):
            rejected.add_metric([str(reason.value)], n)
        yield rejected
        yield CounterMetricFamily(PREFIX + "positions_stored", "Fixes written to the database", value=c.fixes_stored)
        yield CounterMetricFamily(PREFIX + "store_errors", "Failed database writes", value=c.store_errors)
        yield CounterMetricFamily(PREFIX + "publish_errors", "Publishes the broker refused", value=c.publish_errors)
        yield CounterMetricFamily(PREFIX + "dead_letters", "Messages parked as dead letters", value=c.dead_letters)
        yield SummaryMetricFamily(PREFIX + "eta_recompute_seconds", "ETA rounds and the time they took",
                                  count_value=c.eta_rounds, sum_value=c.eta_seconds)  # fmt: skip
        yield CounterMetricFamily(PREFIX + "eta_published", "ETA reports published", value=c.eta_published)
        yield CounterMetricFamily(PREFIX + "public_snapshots_published", "Public feed snapshots published",
                                  value=c.public_snapshots)  # fmt: skip
        queues = GaugeMetricFamily(PREFIX + "queue_depth", "Work waiting, by queue", labels=["queue"])
        queues.add_metric(["store_acks"], self.service.writer.pending_acks)
        queues.add_metric(["board_events"], sum(q.qsize() for q in self.hub.clients))
        yield queues
        table = self.service.fleet.table(self.clock())
        yield GaugeMetricFamily(PREFIX + "units", "Units known", value=len(table.units))
        yield GaugeMetricFamily(PREFIX + "units_connected", "Units whose agent is connected",
                                value=int((~table.offline).sum()))  # fmt: skip
        yield GaugeMetricFamily(PREFIX + "units_stale", "Units whose newest fix is stale", value=int(table.stale.sum()))
        yield GaugeMetricFamily(PREFIX + "incidents_open", "Open incidents", value=len(self.service.incidents.open()))
        yield GaugeMetricFamily(PREFIX + "broker_connected", "1 while connected to the broker",
                                value=int(self.service.session.connected))  # fmt: skip
        yield GaugeMetricFamily(PREFIX + "board_clients", "Event stream clients", value=len(self.hub.clients))


class DispatchMetrics:
    """A registry of its own (never the process-wide one): the service's figures and the listener's."""

    def __init__(self, service: CollectorService, hub: EventHub, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.clock = clock
        self.registry.register(ServiceMetrics(service, hub, clock))
        self.requests = Counter(PREFIX + "web_requests", "Dispatch listener requests, by status",
                                ["status"], registry=self.registry)  # fmt: skip
        self.logins_failed = Counter(PREFIX + "dispatch_logins_failed", "Failed logins and refused tokens",
                                     registry=self.registry)  # fmt: skip
        self.fix_to_eta = Histogram(
            PREFIX + "fix_to_eta_seconds",
            "Age of the freshest fix in each ETA report, when it is published",
            buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=self.registry,
        )

    def eta_published(self, report: EtaReport) -> None:
        if report.units:
            freshest = min(row.fix_age_s for row in report.units)
            lag = self.clock() - report.computed.timestamp() + freshest
            self.fix_to_eta.observe(max(0.0, lag))

    def text(self) -> bytes:
        return generate_latest(self.registry)


def health(service: CollectorService) -> tuple[bool, str]:
    """Ready, or not ready with the reason: what a load balancer and an operator both need."""
    if service.stopping.is_set():
        return False, "stopping"
    if not service.session.connected:
        return False, "not connected to the broker"
    if not service.session.subscribed.is_set():
        return False, "connected, not yet subscribed"
    return True, f"ready: {len(service.fleet)} units, {len(service.incidents.open())} open incidents"
