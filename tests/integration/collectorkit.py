"""Helpers for the collector's integration tests: config files, the service
running in a thread of the test process (its own event loop) or as a real
``activecalls-collector run`` process, and a paho client publishing and
recording what reaches the broker."""

from __future__ import annotations

import asyncio
import datetime as dt
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from collector.config import CollectorConfig, load_config
from collector.service import CollectorService
from common.fix import Fix
from common.wire import EtaReport, Topics, WireFix, decode_eta, encode_fix

FLEET = "test"
TOPICS = Topics(FLEET)
COLLECTOR = [sys.executable, "-m", "collector.cli"]


def write_config(folder: Path, *, port: int, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "collector.toml"
    path.write_text(
        f'fleet = "{FLEET}"\n[mqtt]\nhost = "127.0.0.1"\nport = {port}\nbackoff_initial_s = 0.1\nbackoff_max_s = 0.5\n'
        f'[store]\npath = "collector.sqlite"\nsynchronous = "NORMAL"\n{extra}'
    )
    return path


def fix(unit: str, seq: int, lat: float, lon: float, *, at: dt.datetime | None = None) -> WireFix:
    when = at or dt.datetime.now(dt.UTC)
    return WireFix(unit, seq, Fix(when.replace(microsecond=when.microsecond // 1000 * 1000), lat, lon, speed=10.0))


class ServiceThread:
    """A CollectorService on its own event loop in a thread; ``call`` runs a
    function on that loop (the service's state is only touched there)."""

    def __init__(self, config: CollectorConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.service: CollectorService | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.result: int | BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="collector", daemon=True)

    def _main(self) -> None:
        async def go() -> int:
            self.loop = asyncio.get_running_loop()
            self.service = CollectorService(self.config, clock=self.clock)
            self._ready.set()
            return await self.service.run(handle_signals=False)

        try:
            self.result = asyncio.run(go())
        except BaseException as exc:
            self.result = exc
        finally:
            self._ready.set()

    def start(self, timeout: float = 10.0) -> ServiceThread:
        self._thread.start()
        self._ready.wait(timeout)
        self.call(lambda s: None)
        wait_until(lambda: self.call(lambda s: s.session.subscribed.is_set()), timeout, "collector subscribed")
        return self

    def call(self, fn: Callable[[CollectorService], Any], timeout: float = 5.0) -> Any:
        assert self.loop is not None and self.service is not None, f"service not running: {self.result!r}"
        # A service that stopped (a config refused at start, say) says so, not "Event loop is closed".
        assert not self.loop.is_closed(), f"the service stopped with {self.result!r}: see its log above"
        service = self.service

        async def run() -> Any:
            return fn(service)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> int | BaseException | None:
        if self.loop is not None and self.service is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.service.stopping.set)
        self._thread.join(15)
        return self.result


class CollectorProcess:
    """``activecalls-collector run`` as a real process; stopped by PID."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.log = config.parent / "collector.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> CollectorProcess:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([*COLLECTOR, "run", "--config", str(self.config)], stderr=log)
        process = self.process
        wait_until(lambda: "subscribed to" in self.log.read_text()[offset:] or process.poll() is not None,
                   timeout, "collector process subscribed")  # fmt: skip
        assert self.process.poll() is None, self.log.read_text()
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> int | None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return None if self.process is None else self.process.returncode


class Client:
    """A paho client (its own network thread): publishes at QoS 1 and waits for
    PUBACKs, records what arrives on its subscriptions."""

    def __init__(self, port: int, client_id: str = "") -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.received: queue.Queue[tuple[float, str, bytes]] = queue.Queue()
        self.client.on_message = lambda _c, _u, m: self.received.put((time.monotonic(), m.topic, bytes(m.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.pending: list[paho.MQTTMessageInfo] = []

    def publish(self, topic: str, payload: bytes, *, retain: bool = False, wait: bool = True) -> None:
        info = self.client.publish(topic, payload, 1, retain)
        self.pending.append(info)
        if wait:
            self.flush()

    def fix(self, wire_fix: WireFix, *, wait: bool = True) -> None:
        self.publish(TOPICS.pos(wire_fix.unit), encode_fix(wire_fix), retain=True, wait=wait)

    def flush(self, timeout: float = 10.0) -> None:
        for info in self.pending:
            info.wait_for_publish(timeout)
        self.pending.clear()

    def subscribe(self, topic_filter: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_a: done.set()
        self.client.subscribe(topic_filter, 1)
        assert done.wait(5), "no SUBACK"

    def next_eta(self, timeout: float, accept: Callable[[EtaReport], bool] = lambda r: True) -> tuple[float, EtaReport]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching ETA report")
            try:
                at, topic, payload = self.received.get(timeout=left)
            except queue.Empty:
                continue
            if payload and topic.endswith("/eta"):
                report = decode_eta(payload)
                if accept(report):
                    return at, report

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for: {what}")
        time.sleep(0.02)


def load(path: Path) -> CollectorConfig:
    return load_config(path)
