"""``fleet``: N simulated units publishing to the broker, for loading the collector.

Each unit is what an agent is on the wire (``common.wire``): its own MQTT
session with a retained ``state`` of ``online`` and a last will of
``offline``, a retained ``pos`` per fix (QoS 1), and after an outage its
backlog on ``track`` (QoS 1, at most ``MAX_TRACK_FIXES`` per message,
oldest first) while new fixes go on ``pos``.

Each session is the agents' own :class:`common.mqtt.MqttConnection` (one
MQTT stack for the whole project), so the load generator speaks what an
agent speaks to the production broker: TLS with a client certificate per
unit (``cert_dir``: ``<unit>.crt`` and ``<unit>.key``, as
``deploy/pki/make-lab-pki`` writes them under ``units/``), or a username and
password file. All sessions share one asyncio loop and one thread; paho's
callbacks only resolve futures, so 500 units at 1 Hz cost a few per cent of
one core and the number of connections is exactly ``--units``. Units
publish spread evenly over each period rather than all at once, as a real
fleet does.

Motion is pure (:class:`UnitPlan`): each unit drives its own closed loop
around its home at its own speed, deterministic with the seed: on the roads of
an OpenStreetMap extract (``--osm``: through three junctions near home and
back), or else a polygon of 8 corners.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
import random
import resource
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from common.fix import UTC, Fix
from common.mqtt import ConnectionLostError, MqttConnection, MqttError, MqttSettings, Will
from common.tomlconfig import ConfigError
from common.wire import MAX_TRACK_FIXES, Topics, UnitState, WireFix, encode_fix, encode_state, encode_track
from simulators.geo import Polyline, offset

__all__ = ["FleetConfig", "FleetError", "FleetReport", "UnitPlan", "plan_units", "run_fleet"]

CHESTERFIELD: Final = (53.2350, -1.4210)
CONNECTS_AT_ONCE: Final = 32  # TCP and TLS handshakes in flight together (each in a short thread)


class FleetError(ConnectionError):
    """The fleet cannot start: no broker there, or credentials it cannot use."""


@dataclass(frozen=True, slots=True)
class FleetConfig:
    mqtt: MqttSettings = field(default_factory=lambda: MqttSettings(host="127.0.0.1", port=1883, keepalive_s=60))
    cert_dir: Path | None = None  # <unit>.crt and <unit>.key for each unit (TLS client certificates)
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
    osm: Path | None = None  # drive the roads of this OpenStreetMap extract, not polygons
    drain_s: float = 15.0  # how long to wait for the last acknowledgements

    def __post_init__(self) -> None:
        checks = [
            (self.units >= 1, "--units must be >= 1"),
            (0 < self.hz <= 10, "--hz must be within (0, 10]"),
            (self.duration_s > 0, "--duration must be positive"),
            (0.0 <= self.outage <= 1.0, "--outage must be a fraction within 0..1"),
            (self.radius_km > 0, "--radius-km must be positive"),
            (self.cert_dir is None or self.mqtt.tls, "--cert-dir needs TLS"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        Topics(self.fleet)  # validates the fleet id
        WireFix(self.unit_id(self.units - 1), 1, Fix(dt.datetime(2026, 1, 1, tzinfo=UTC), 0.0, 0.0))

    def unit_id(self, index: int) -> str:
        return f"{self.prefix}-{index + 1:04d}"

    def settings_for(self, unit: str) -> MqttSettings:
        """The unit's own login: its client id, and its certificate if there is a cert_dir."""
        if self.cert_dir is None:
            return dataclasses.replace(self.mqtt, client_id=unit)
        return dataclasses.replace(self.mqtt, client_id=unit, cert_file=self.cert_dir / f"{unit}.crt",
                                   key_file=self.cert_dir / f"{unit}.key")  # fmt: skip

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
    """The shell around one plan: its broker session, seq, backlog, in-flight messages."""

    def __init__(self, plan: UnitPlan, runner: _Runner) -> None:
        self.plan = plan
        self.runner = runner
        self.settings = runner.config.settings_for(plan.unit)
        self.seq = 0
        self.backlog: list[WireFix] = []
        self.inflight = 0
        self.connection: MqttConnection | None = None
        self.down = False  # in the outage

    @property
    def connected(self) -> bool:
        return self.connection is not None and self.connection.connected

    async def connect(self) -> bool:
        topics = self.runner.topics
        will = Will(topics.state(self.plan.unit), encode_state(UnitState.OFFLINE), qos=1, retain=True)
        connection = MqttConnection(self.settings, will=will)
        report = self.runner.report
        try:
            await connection.connect()
        except (MqttError, ConfigError) as exc:
            report.refused += 1
            self.runner.last_error = str(exc)
            return False
        self.connection = connection
        report.connects += 1
        connection.closed.add_done_callback(lambda _f: self._closed(connection))
        self._publish(topics.state(self.plan.unit), encode_state(UnitState.ONLINE), report.state, retain=True)
        # The backlog kept while offline, oldest first (new fixes go on pos).
        while self.backlog:
            batch, self.backlog = self.backlog[:MAX_TRACK_FIXES], self.backlog[MAX_TRACK_FIXES:]
            self._publish(topics.track(self.plan.unit), encode_track(self.plan.unit, batch), report.track, len(batch))
        return True

    def _closed(self, connection: MqttConnection) -> None:
        if self.connection is connection:
            self.connection = None
            if not self.runner.finishing:
                self.runner.report.disconnects += 1

    def _publish(self, topic: str, payload: bytes, counter: Counter, fixes: int = 0, retain: bool = False) -> None:
        assert self.connection is not None
        future = self.connection.publish(topic, payload, qos=1, retain=retain)
        counter.sent += 1
        self.inflight += 1
        report = self.runner.report
        if fixes:
            report.track_fixes.sent += fixes

        def done(f: asyncio.Future[None]) -> None:
            self.inflight -= 1
            if not f.cancelled() and f.exception() is None:
                counter.acked += 1
                if fixes:
                    report.track_fixes.acked += fixes

        future.add_done_callback(done)

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
        if self.connection is not None:
            self.connection.abort(ConnectionLostError("simulated outage"))

    async def restore(self) -> None:
        self.down = False
        await self.connect()

    async def goodbye(self) -> None:
        """A clean end: state offline, then DISCONNECT (the broker drops the will)."""
        if self.connection is None or not self.connection.connected:
            return
        self._publish(self.runner.topics.state(self.plan.unit), encode_state(UnitState.OFFLINE),
                      self.runner.report.state, retain=True)  # fmt: skip


class _Runner:
    def __init__(self, config: FleetConfig, say: Callable[[str], None]) -> None:
        self.config = config
        self.say = say
        self.topics = Topics(config.fleet)
        self.report = FleetReport()
        self.stop = asyncio.Event()
        self.finishing = False
        self.last_error = ""

    async def _connect_all(self, units: list[_Unit]) -> None:
        gate = asyncio.Semaphore(CONNECTS_AT_ONCE)

        async def one(unit: _Unit) -> None:
            async with gate:
                if not self.stop.is_set():
                    await unit.connect()

        await asyncio.gather(*(one(u) for u in units))

    async def _pause(self, seconds: float) -> None:
        # A plain sleep: a wait_for on the stop event would make a task per fix.
        await asyncio.sleep(min(seconds, 0.25))

    async def run(self, plans: list[UnitPlan]) -> FleetReport:
        cfg, report = self.config, self.report
        units = [_Unit(plan, self) for plan in plans]
        await self._connect_all(units)
        if report.connects == 0:
            port = cfg.mqtt.port
            hint = (f"is a broker running there? Start one with 'mosquitto -p {port}', or give --host/--port"
                    if "refused" in self.last_error else "check the options")  # fmt: skip
            raise FleetError(f"no unit could connect: {self.last_error}; {hint}")
        self.say(f"{report.connects} of {len(units)} units connected")
        period = 1.0 / cfg.hz
        ticks = round(cfg.duration_s * cfg.hz)
        outage_from, outage_to = cfg.outage_window
        # Reporting schedule: unit i reports at (k + phase_i) * period, k = 0 .. ticks-1.
        order = sorted(units, key=lambda u: u.plan.phase)
        loop = asyncio.get_running_loop()
        cpu0 = _cpu()
        start = loop.time()
        wall0 = dt.datetime.now(UTC)
        dropped = restored = False
        restoring: list[asyncio.Task[None]] = []
        k = i = 0
        while k < ticks and not self.stop.is_set():
            unit = order[i]
            due = start + (k + unit.plan.phase) * period
            if (wait := due - loop.time()) > 0:
                await self._pause(wait)
                continue
            t = loop.time() - start
            if not dropped and t >= outage_from and cfg.outage:
                dropped = True
                for u in units:
                    if u.plan.offline:
                        u.drop()
                self.say(f"outage: {sum(u.plan.offline for u in units)} units offline")
            if dropped and not restored and t >= outage_to:
                restored = True
                restoring = [asyncio.create_task(u.restore()) for u in units if u.plan.offline]
                self.say("outage over: units reconnect and send their backlog")
            stamp = wall0 + dt.timedelta(seconds=t)
            unit.report_fix(t, stamp.replace(microsecond=stamp.microsecond // 1000 * 1000))
            i += 1
            if i == len(order):
                i, k = 0, k + 1
        if dropped and not restored:
            restoring = [asyncio.create_task(u.restore()) for u in units if u.plan.offline]
        await asyncio.gather(*restoring)
        # Last acknowledgements, then a clean goodbye: state offline, DISCONNECT.
        deadline = loop.time() + cfg.drain_s
        while any(u.inflight or (u.backlog and u.connected) for u in units) and loop.time() < deadline:
            if self.stop.is_set():
                break
            await asyncio.sleep(0.05)
        self.finishing = True
        for u in units:
            await u.goodbye()
        deadline = loop.time() + 5
        while any(u.inflight for u in units if u.connected) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.gather(*(u.connection.disconnect(0.5) for u in units if u.connection is not None))
        report.wall_s = loop.time() - start
        report.cpu_s = _cpu() - cpu0
        report.stopped = self.stop.is_set()
        return report


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_fleet(config: FleetConfig, *, say: Callable[[str], None] = lambda line: None) -> FleetReport:
    """Connect the units, publish for ``duration_s``, wait for acknowledgements, report.
    Raises :class:`FleetError` if no unit could connect."""
    # One descriptor per unit plus a few: raise the soft limit if it is too low.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < config.units + 64:
        wanted = config.units + 64 if hard == resource.RLIM_INFINITY else min(hard, config.units + 64)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    async def main() -> FleetReport:
        runner = _Runner(config, say)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.stop.set)
        try:
            return await runner.run(plan_units(config))
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    started = time.monotonic()
    report = asyncio.run(main())
    report.wall_s = report.wall_s or time.monotonic() - started
    return report
