"""``activecalls-agent run``: the shells wired together, for years unattended.

GPS bytes -> :class:`~agent.decoder.NmeaDecoder` -> :class:`~agent.policy.ReportPolicy`
-> :class:`~agent.outbox.Outbox` (committed, numbered) -> :class:`~agent.publisher.Publisher`.

Nothing here gives up: a missing receiver is retried, a broker that is down is
retried, a full or failing disk is logged and retried. systemd hears
``READY=1`` once the outbox is open and the source started, ``WATCHDOG=1``
from the main loop, and a ``STATUS=`` line on every change. SIGTERM (or
SIGINT) stops reading, commits what was decided, publishes ``offline`` and
exits within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Final

from agent.config import AgentConfig
from agent.decoder import NmeaDecoder
from agent.outbox import Outbox, OutboxError
from agent.policy import Reason, ReportPolicy
from agent.publisher import Publisher
from agent.source import GpsHealth, SerialSource, SourceState
from common.backoff import Backoff
from common.fix import Fix, format_time
from common.sdnotify import Notifier, watchdog_interval
from common.wire import Topics, encode_diag

__all__ = ["AgentService", "Counters", "build_diag", "run"]

log = logging.getLogger("agent")

TICK_S: Final = 1.0
SHUTDOWN_BUDGET_S: Final = 3.0  # systemd allows more; the issue promises < 5 s
WRITER_GRACE_S: Final = 0.5  # for the writer's last batch, before the publisher's share of the budget


@dataclass
class Counters:
    fixes: int = 0  # fixes decoded from the receiver
    reported: int = 0  # chosen by the policy and committed to the outbox
    jumps: int = 0
    outbox_errors: int = 0


def _version() -> str:
    try:
        return metadata.version("activecalls")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def build_diag(
    *,
    now: dt.datetime,
    uptime_s: float,
    source: SourceState,
    source_detail: str,
    last_fix: Fix | None,
    fix_fresh: bool,
    counters: Counters,
    decoder: dict[str, int],
    backlog: int,
    dropped: int,
    last_seq: int,
    sent: int,
    gps_reconnects: int,
    mqtt_sessions: int,
    untaken: int = 0,
) -> dict[str, Any]:
    """The ``diag`` message's fields (docs/wire.md lists them). Pure."""
    fix_kind = "none"
    if last_fix is not None and fix_fresh:
        fix_kind = "3d" if last_fix.mode == 3 else "2d"
    return {
        "time": format_time(now),
        "version": _version(),
        "uptime_s": round(uptime_s),
        "source": source.value,
        "source_detail": source_detail,
        "fix": fix_kind,
        "last_fix": format_time(last_fix.time) if last_fix else None,
        "sats": last_fix.sats if last_fix else None,
        "hdop": last_fix.hdop if last_fix else None,
        "backlog": backlog,
        "dropped": dropped,
        "seq": last_seq,
        "sent": sent,
        "untaken": untaken,
        "decoded": decoder.get("sentences", 0),
        "rejected": decoder.get("checksum_rejected", 0) + decoder.get("malformed", 0),
        "junk": decoder.get("junk", 0),
        "duplicates": decoder.get("duplicates", 0),
        "missed_epochs": decoder.get("missed_epochs", 0),
        "fixes": counters.fixes,
        "reported": counters.reported,
        "jumps": counters.jumps,
        "outbox_errors": counters.outbox_errors,
        "gps_reconnects": gps_reconnects,
        "mqtt_sessions": mqtt_sessions,
    }


class AgentService:
    def __init__(self, config: AgentConfig, notifier: Notifier | None = None) -> None:
        self.config = config
        self.notifier = notifier or Notifier()
        self.topics = Topics(config.fleet)
        self.decoder = NmeaDecoder(week_rollover_reference=config.gps.week_rollover_reference)
        self.policy = ReportPolicy(config.report)
        self.health = GpsHealth(config.gps.no_data_s, config.gps.no_fix_s)
        self.counters = Counters()
        self.stopping = asyncio.Event()
        self.last_fix: Fix | None = None
        self._pending: list[Fix] = []  # decided, not yet committed
        self._pending_event = asyncio.Event()
        self._writer_stopping = False
        self._started = time.monotonic()
        self._status = ""
        self._source_state: SourceState | None = None
        self._diag_sent = False  # this broker session has had a diag message
        self._source_tried = asyncio.Event()  # the first open of the GPS source succeeded or failed
        self.outbox: Outbox | None = None
        self.publisher: Publisher | None = None
        self.source: SerialSource | None = None

    # -- receive path (on the loop, called by the reader thread's deliveries)

    def _on_open(self) -> None:
        self._source_tried.set()
        self.health.opened(time.monotonic())
        log.info("GPS: opened %s at %d baud", self.config.gps.port, self.config.gps.baud)
        self._update()

    def _on_closed(self, reason: str) -> None:
        self._source_tried.set()
        was = self.health.error
        self.health.closed(reason)
        if reason != was:
            log.warning("GPS: %s; retrying", reason)
        self._update()

    def _on_chunk(self, data: bytes) -> None:
        now = time.monotonic()
        self.health.data(now)
        try:
            fixes = self.decoder.feed(data)
        except Exception:  # a decoder bug must not stop the car reporting
            log.exception("decoder failed on %d bytes; skipped", len(data))
            return
        for fix in fixes:
            self._take(fix, now)

    def _take(self, fix: Fix, now: float) -> None:
        self.health.fix(now)
        self.counters.fixes += 1
        self.last_fix = fix
        decision = self.policy.decide(fix)
        if decision.jump:
            self.counters.jumps += 1
            action = "dropped" if decision.reason is Reason.JUMP else "flagged"
            log.info("implausible jump at %s (%s)", format_time(fix.time), action)
        if decision.report:
            self._pending.append(fix)
            self._pending_event.set()

    async def _writer(self) -> None:
        """Commit decided fixes in batches (one transaction per wakeup), then publish."""
        assert self.outbox is not None and self.publisher is not None
        backoff = Backoff(0.2, 10.0)
        while not self._writer_stopping:
            await self._pending_event.wait()
            self._pending_event.clear()
            await self._commit_pending(backoff)

    async def _commit_pending(self, backoff: Backoff | None = None) -> None:
        assert self.outbox is not None and self.publisher is not None
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                entries = await self.outbox.put(batch)
            except Exception as exc:  # disk full, I/O error: keep the fixes in memory, retry
                self._pending[:0] = batch
                self.counters.outbox_errors += 1
                log.error("outbox: cannot store %d fixes: %s", len(batch), exc)
                if backoff is None:
                    return
                await asyncio.sleep(backoff.next_delay())
                continue
            if backoff is not None:
                backoff.reset()
            self.counters.reported += len(entries)
            self.publisher.live(entries)

    # -- status

    def _update(self, *, publish: bool = True) -> None:
        """Recompute the status line; on change tell systemd, the log and the broker."""
        now = time.monotonic()
        state = self.health.state(now)
        if state != self._source_state and self._source_state is not None:
            if state in (SourceState.NO_DATA, SourceState.NO_FIX):
                log.warning("%s", self.health.describe(now))
            elif state is SourceState.OK:
                log.info("GPS: ok")
        changed = state != self._source_state
        self._source_state = state
        publisher = self.publisher
        if publisher is None or self.outbox is None:
            return
        broker = f"broker {'connected' if publisher.connected else 'disconnected'}"
        if not publisher.connected and publisher.last_error:
            broker += f" ({publisher.last_error})"
        status = f"{self.health.describe(now)}; {broker}; backlog {self.outbox.count}"
        if status != self._status:
            self._status = status
            self.notifier.status(status)
        if publish and (changed or not self._diag_sent):
            self._publish_diag()

    def diag(self) -> dict[str, Any]:
        assert self.outbox is not None and self.publisher is not None
        now = time.monotonic()
        return build_diag(
            now=dt.datetime.now(dt.UTC),
            uptime_s=now - self._started,
            source=self.health.state(now),
            source_detail=self.health.error,
            last_fix=self.last_fix,
            fix_fresh=self.health.last_fix is not None and now - self.health.last_fix < self.config.gps.no_fix_s,
            counters=self.counters,
            decoder=self.decoder.stats.as_dict(),
            backlog=self.outbox.count,
            dropped=self.outbox.dropped,
            last_seq=self.outbox.last_seq,
            sent=self.publisher.sent,
            untaken=self.publisher.untaken,
            gps_reconnects=self.source.reconnects if self.source else 0,
            mqtt_sessions=self.publisher.sessions,
        )

    def _publish_diag(self) -> None:
        if self.publisher is None or not self.publisher.connected:
            return
        payload = encode_diag(self.config.unit, self.diag())
        self.publisher.publish_extra(self.topics.diag(self.config.unit), payload, qos=0, retain=True)
        self._diag_sent = True

    def _on_broker_change(self) -> None:
        if self.publisher is not None and not self.publisher.connected:
            self._diag_sent = False  # send a fresh one on the next session
        self._update()

    # -- lifecycle

    async def run(self) -> int:
        c = self.config
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            self.outbox = await Outbox.open(c.outbox.path, max_fixes=c.outbox.max_fixes, keep_every=c.outbox.keep_every)
        except (OutboxError, ValueError) as exc:
            log.error("outbox: %s", exc)
            return 1
        log.info("outbox %s: %d fixes waiting, last seq %d", c.outbox.path, self.outbox.count, self.outbox.last_seq)
        self.publisher = Publisher(
            c.mqtt, self.topics, c.unit, self.outbox, batch_size=c.outbox.batch_size, on_change=self._on_broker_change
        )
        self.publisher.remember_latest(await self.outbox.newest())
        self.source = SerialSource(
            c.gps.port, c.gps.baud, on_open=self._on_open, on_chunk=self._on_chunk, on_closed=self._on_closed
        )
        self.source.start()
        tasks = [
            asyncio.create_task(self.publisher.run(self.stopping), name="publisher"),
            asyncio.create_task(self._writer(), name="writer"),
        ]
        # READY once the first open of the source has an outcome, so that the status line
        # says whether the receiver is there. A missing receiver does not hold the start
        # back: it is retried, and the outbox keeps draining meanwhile.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._source_tried.wait(), 5.0)
        self._update(publish=False)
        self.notifier.ready(self._status)
        log.info("agent %s of fleet %s running (config %s)", c.unit, c.fleet, c.path)
        try:
            await self._main_loop()
        finally:
            await self._shutdown(tasks)
        return 0

    async def _main_loop(self) -> None:
        interval = min(TICK_S, watchdog_interval() or TICK_S)
        next_diag = time.monotonic() + self.config.diag_interval_s
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), interval)
            self.notifier.watchdog()
            self._update()
            if time.monotonic() >= next_diag:
                next_diag = time.monotonic() + self.config.diag_interval_s
                self._publish_diag()

    async def _shutdown(self, tasks: Sequence[asyncio.Task[None]]) -> None:
        self.notifier.stopping()
        log.info("stopping")
        if self.source is not None:
            await asyncio.to_thread(self.source.stop, 0.5)
        for fix in self.decoder.finish():
            self._take(fix, time.monotonic())
        # The writer finishes the batch it holds (stored *and* handed to the
        # publisher, which then sends it before the disconnect); cancelled only if
        # that takes too long (a failing disk, retrying).
        writer = tasks[1]
        self._writer_stopping = True
        self._pending_event.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(writer, WRITER_GRACE_S)
        if self.outbox is not None and self.publisher is not None:
            await self._commit_pending()
            await self.publisher.shutdown(timeout=SHUTDOWN_BUDGET_S - 1.0)
        publisher_task = tasks[0]
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(publisher_task, 1.0)
        if self.outbox is not None:
            await self.outbox.close()
        log.info("stopped; %d fixes waiting in the outbox", self.outbox.count if self.outbox else 0)


def run(config: AgentConfig, *, log_level: str = "INFO") -> int:
    """Configure logging once and run the agent until SIGTERM; the exit status."""
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    return asyncio.run(AgentService(config).run())
