"""``fleet``: N simulated units publishing to the broker, for loading the collector.

Each unit is what an agent is on the wire (``common.wire``): its own MQTT
session with a retained ``state`` of ``online`` and a last will of
``offline``, a retained ``pos`` per fix (QoS 1), and after an outage its
backlog on ``track`` (QoS 1, at most ``MAX_TRACK_FIXES`` per message,
oldest first) while new fixes go on ``pos``.

Efficiency, in one process and one thread: one paho client per unit (a
unit needs its own session for its last will), all driven by one
``selectors`` loop through paho's external-loop API (``loop_read`` when a
socket is readable, ``loop_write`` when paho has bytes queued, announced by
its ``on_socket_register_write`` callback, ``loop_misc`` once a second for
keep-alives). There is no thread per client and no polling of idle
sockets, so 500 units at 1 Hz cost a few per cent of one core; the number
of connections is exactly ``--units``. Units publish spread evenly over each
period rather than all at once, as a real fleet does.

Motion is pure (:class:`UnitPlan`): each unit drives its own closed loop
around its home at its own speed, deterministic with the seed: on the roads of
an OpenStreetMap extract (``--osm``: through three junctions near home and
back), or else a polygon of 8 corners.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import resource
import selectors
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from common.fix import UTC, Fix
from common.wire import MAX_TRACK_FIXES, Topics, UnitState, WireFix, encode_fix, encode_state, encode_track
from simulators.geo import Polyline, offset

__all__ = ["FleetConfig", "FleetReport", "UnitPlan", "plan_units", "run_fleet"]

CHESTERFIELD: Final = (53.2350, -1.4210)


@dataclass(frozen=True, slots=True)
class FleetConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    fleet: str = "derbyshire"
    units: int = 500
    hz: float = 1.0
    duration_s: float = 60.0
    outage: float = 0.0  # fraction of units that lose their connection
    outage_at_s: float | None = None  # default: a quarter into the run
    outage_for_s: float | None = None  # default: a quarter of the run
    centre: tuple[float, float] = CHESTERFIELD
    radius_km: float = 5.0
    seed: int = 0
    prefix: str = "SIM"
    username: str | None = None
    password: str | None = None
    osm: Path | None = None  # drive the roads of this OpenStreetMap extract, not polygons
    keepalive_s: int = 60
    drain_s: float = 15.0  # how long to wait for the last acknowledgements

    def __post_init__(self) -> None:
        checks = [
            (self.units >= 1, "--units must be >= 1"),
            (0 < self.hz <= 10, "--hz must be within (0, 10]"),
            (self.duration_s > 0, "--duration must be positive"),
            (0.0 <= self.outage <= 1.0, "--outage must be a fraction within 0..1"),
            (self.radius_km > 0, "--radius-km must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        Topics(self.fleet)  # validates the fleet id
        WireFix(self.unit_id(self.units - 1), 1, Fix(dt.datetime(2026, 1, 1, tzinfo=UTC), 0.0, 0.0))

    def unit_id(self, index: int) -> str:
        return f"{self.prefix}-{index + 1:04d}"

    @property
    def outage_window(self) -> tuple[float, float]:
        start = self.duration_s / 4 if self.outage_at_s is None else self.outage_at_s
        length = self.duration_s / 4 if self.outage_for_s is None else self.outage_for_s
        return start, start + length


@dataclass(frozen=True, slots=True)
class UnitPlan:
    """One unit's patrol loop and speed, and whether it suffers the outage."""

    unit: str
    line: Polyline
    speed: float  # m/s
    phase: float  # fraction of a period: when in each period this unit reports
    start_s: float  # distance along the loop at t = 0
    offline: bool

    def fix_at(self, t: float, time: dt.datetime) -> Fix:
        s = (self.start_s + self.speed * t) % self.line.length
        lat, lon, heading = self.line.point(s)
        return Fix(time, round(lat, 7), round(lon, 7), alt=90.0, speed=round(self.speed, 2),
                   track=round(heading, 1) % 360.0, mode=3, hdop=0.9, sats=9)  # fmt: skip


def plan_units(config: FleetConfig) -> list[UnitPlan]:
    rng = random.Random(config.seed)
    paths = None
    if config.osm is not None:
        from simulators.roads import load_paths, patrol_loop

        paths = load_paths(config.osm)
    offline = set(rng.sample(range(config.units), round(config.units * config.outage)))
    plans = []
    for i in range(config.units):
        bearing = rng.uniform(0, 2 * math.pi)
        distance = config.radius_km * 1000 * math.sqrt(rng.random())
        lat0, lon0 = offset(*config.centre, distance * math.sin(bearing), distance * math.cos(bearing))
        radius = rng.uniform(400.0, 1500.0)
        if paths is not None:
            line = Polyline(patrol_loop(paths, rng, lat0, lon0, radius))
        else:
            corners = []
            for k in range(8):
                angle = 2 * math.pi * k / 8 + rng.uniform(-0.2, 0.2)
                r = radius * rng.uniform(0.7, 1.3)
                corners.append(offset(lat0, lon0, r * math.sin(angle), r * math.cos(angle)))
            line = Polyline([*corners, corners[0]])
        plans.append(UnitPlan(config.unit_id(i), line, rng.uniform(20.0, 60.0) / 3.6, i / config.units,
                              rng.uniform(0, line.length), i in offline))  # fmt: skip
    return plans


@dataclass(slots=True)
class Counter:
    sent: int = 0
    acked: int = 0


@dataclass(slots=True)
class FleetReport:
    pos: Counter = field(default_factory=Counter)
    track: Counter = field(default_factory=Counter)  # messages
    track_fixes: Counter = field(default_factory=Counter)  # fixes inside them
    state: Counter = field(default_factory=Counter)
    connects: int = 0
    disconnects: int = 0
    refused: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    stopped: bool = False

    @property
    def positions_acked(self) -> int:
        return self.pos.acked + self.track_fixes.acked

    def lines(self) -> list[str]:
        c = self
        return [
            f"pos:    sent {c.pos.sent}, acknowledged {c.pos.acked}",
            f"track:  sent {c.track.sent} messages ({c.track_fixes.sent} fixes), acknowledged {c.track.acked} "
            f"({c.track_fixes.acked} fixes)",
            f"state:  sent {c.state.sent}, acknowledged {c.state.acked}",
            f"sessions: {c.connects} connected, {c.disconnects} dropped, {c.refused} refused",
            f"positions acknowledged: {c.positions_acked}",
            f"cpu: {c.cpu_s:.2f} s over {c.wall_s:.1f} s wall ({100 * c.cpu_s / max(c.wall_s, 1e-9):.1f}% of one core)",
        ]


class _Unit:
    """The shell around one plan: its paho client, seq, backlog, in-flight messages."""

    def __init__(self, plan: UnitPlan, runner: _Runner) -> None:
        self.plan = plan
        self.runner = runner
        self.seq = 0
        self.backlog: list[WireFix] = []
        self.inflight: dict[int, tuple[Counter, int]] = {}  # mid -> (counter, fixes)
        self.connected = False
        self.down = False  # in the outage
        c = self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=plan.unit, clean_session=True)
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        topics = runner.topics
        c.will_set(topics.state(plan.unit), encode_state(UnitState.OFFLINE), qos=1, retain=True)
        if runner.config.username is not None:
            c.username_pw_set(runner.config.username, runner.config.password)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_socket_open = runner.socket_open
        c.on_socket_close = runner.socket_close
        c.on_socket_register_write = runner.register_write
        c.on_socket_unregister_write = runner.unregister_write

    def _publish(self, topic: str, payload: bytes, counter: Counter, fixes: int = 0, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        counter.sent += 1
        self.inflight[info.mid] = (counter, fixes)
        if fixes:
            self.runner.report.track_fixes.sent += fixes

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        report = self.runner.report
        if reason.is_failure:
            report.refused += 1
            return
        self.connected = True
        report.connects += 1
        topics = self.runner.topics
        self._publish(topics.state(self.plan.unit), encode_state(UnitState.ONLINE), report.state, retain=True)
        # The backlog kept while offline, oldest first (new fixes go on pos).
        while self.backlog:
            batch, self.backlog = self.backlog[:MAX_TRACK_FIXES], self.backlog[MAX_TRACK_FIXES:]
            self._publish(topics.track(self.plan.unit), encode_track(self.plan.unit, batch), report.track, len(batch))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self.connected:
            self.runner.report.disconnects += 1
        self.connected = False

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        entry = self.inflight.pop(mid, None)
        if entry is None:
            return
        counter, fixes = entry
        counter.acked += 1
        if fixes:
            self.runner.report.track_fixes.acked += fixes

    def report_fix(self, t: float, now: dt.datetime) -> None:
        self.seq += 1
        wire_fix = WireFix(self.plan.unit, self.seq, self.plan.fix_at(t, now))
        if self.connected and not self.down:
            self._publish(self.runner.topics.pos(self.plan.unit), encode_fix(wire_fix), self.runner.report.pos,
                          retain=True)  # fmt: skip
        else:
            self.backlog.append(wire_fix)

    def drop(self) -> None:
        """Lose the connection abruptly (no DISCONNECT): the broker sends the will."""
        self.down = True
        sock = self.client.socket()
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self) -> None:
        self.down = False
        try:
            self.client.reconnect()
        except OSError:
            self.runner.report.refused += 1


class _Runner:
    def __init__(self, config: FleetConfig, say: Callable[[str], None]) -> None:
        self.config = config
        self.say = say
        self.topics = Topics(config.fleet)
        self.report = FleetReport()
        self.selector = selectors.DefaultSelector()
        self.stop = False

    # paho's external-loop callbacks: keep the selector in step with each socket.
    def socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.selector.register(sock, selectors.EVENT_READ, client)

    def socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        try:
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)
        except (KeyError, ValueError):
            pass

    def unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        try:
            self.selector.modify(sock, selectors.EVENT_READ, client)
        except (KeyError, ValueError):
            pass

    def pump(self, timeout: float) -> None:
        for key, events in self.selector.select(timeout):
            client: mqtt.Client = key.data
            if events & selectors.EVENT_READ:
                client.loop_read()
            if events & selectors.EVENT_WRITE:
                client.loop_write()

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop = True

    def run(self, plans: list[UnitPlan]) -> FleetReport:
        cfg, report = self.config, self.report
        units = [_Unit(plan, self) for plan in plans]
        for unit in units:
            try:
                unit.client.connect(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
            except OSError as exc:
                raise ConnectionError(f"cannot connect to {cfg.host}:{cfg.port}: {exc.strerror or exc}") from None
            self.pump(0)
        deadline = time.monotonic() + 30
        while report.connects + report.refused < len(units) and time.monotonic() < deadline and not self.stop:
            self.pump(0.05)
        self.say(f"{report.connects} of {len(units)} units connected")
        period = 1.0 / cfg.hz
        ticks = round(cfg.duration_s * cfg.hz)
        outage_from, outage_to = cfg.outage_window
        # Reporting schedule: unit i reports at (k + phase_i) * period, k = 0 .. ticks-1.
        order = sorted(units, key=lambda u: u.plan.phase)
        cpu0 = _cpu()
        start = time.monotonic()
        wall0 = dt.datetime.now(UTC)
        next_misc = start + 1.0
        k = i = 0
        dropped = restored = False
        while k < ticks and not self.stop:
            unit = order[i]
            due = start + (k + unit.plan.phase) * period
            now = time.monotonic()
            if now < due:
                self.pump(min(due - now, 0.05))
            else:
                t = now - start
                if not dropped and t >= outage_from and cfg.outage:
                    dropped = True
                    for u in units:
                        if u.plan.offline:
                            u.drop()
                    self.say(f"outage: {sum(u.plan.offline for u in units)} units offline")
                if dropped and not restored and t >= outage_to:
                    restored = True
                    for u in units:
                        if u.plan.offline:
                            u.restore()
                    self.say("outage over: units reconnect and send their backlog")
                stamp = wall0 + dt.timedelta(seconds=t)
                unit.report_fix(t, stamp.replace(microsecond=stamp.microsecond // 1000 * 1000))
                i += 1
                if i == len(order):
                    i, k = 0, k + 1
            if now >= next_misc:
                next_misc = now + 1.0
                for u in units:
                    if not u.down:
                        u.client.loop_misc()
        if dropped and not restored:
            for u in units:
                if u.plan.offline:
                    u.restore()
        # Last acknowledgements, then a clean goodbye: state offline, DISCONNECT.
        deadline = time.monotonic() + cfg.drain_s
        while any(u.inflight or u.backlog for u in units) and time.monotonic() < deadline and not self.stop:
            self.pump(0.05)
        for u in units:
            if u.connected:
                u._publish(self.topics.state(u.plan.unit), encode_state(UnitState.OFFLINE), report.state, retain=True)
        deadline = time.monotonic() + 5
        while any(u.inflight for u in units if u.connected) and time.monotonic() < deadline:
            self.pump(0.05)
        for u in units:
            if u.connected:
                u.connected = False  # a goodbye, not a dropped session
                u.client.disconnect()
                u.client.loop_write()
        report.wall_s = time.monotonic() - start
        report.cpu_s = _cpu() - cpu0
        report.stopped = self.stop
        for u in units:
            sock = u.client.socket()
            if sock is not None:
                self.socket_close(u.client, None, sock)
                sock.close()
        self.selector.close()
        return report


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_fleet(config: FleetConfig, *, say: Callable[[str], None] = lambda line: None) -> FleetReport:
    """Connect the units, publish for ``duration_s``, wait for acknowledgements, report."""
    runner = _Runner(config, say)
    previous = {sig: signal.signal(sig, runner.on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        # One descriptor per unit plus a few: raise the soft limit if it is too low.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < config.units + 64:
            wanted = config.units + 64 if hard == resource.RLIM_INFINITY else min(hard, config.units + 64)
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        return runner.run(plan_units(config))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
