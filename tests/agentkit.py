"""Helpers for the agent's integration tests: synthetic drives as NMEA, config
files, a real ``activecalls-agent`` process, and a subscriber that records
what reaches the broker."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from agent.formatter import format_fix
from common.fix import Fix
from common.wire import TopicKind, Topics, decode_fix, decode_track

START = dt.datetime(2026, 11, 28, 9, 0, 0, tzinfo=dt.UTC)


def drive(n: int, *, start: dt.datetime = START, hz: float = 1.0, speed: float = 13.4) -> list[Fix]:
    """``n`` fixes of a car circling at ``speed`` m/s (every fix worth reporting with interval_s = 0)."""
    out = []
    for i in range(n):
        angle = i / (600.0 * hz)
        out.append(
            Fix(
                start + dt.timedelta(seconds=i / hz),
                round(53.235 + 0.01 * math.sin(angle), 7),
                round(-1.421 + 0.015 * math.cos(angle), 7),
                alt=90.0,
                speed=speed,
                track=round((math.degrees(angle) + 90.0) % 360.0, 2),
                mode=3,
                hdop=0.9,
                sats=9,
            )
        )
    return out


def epochs(fixes: list[Fix]) -> list[bytes]:
    """One chunk of NMEA (GGA GSA RMC VTG) per fix, as a receiver sends them."""
    return [b"".join(format_fix(f)) for f in fixes]


def write_config(folder: Path, *, port: int, gps: str, fleet: str = "test", unit: str = "PC-101", **extra: str) -> Path:
    """A config for tests: fast backoff, every moving fix reported. ``extra``: section -> TOML lines."""
    sections = {
        "gps": f'port = "{gps}"\nno_data_s = 2\nno_fix_s = 3\n',
        "mqtt": f'host = "127.0.0.1"\nport = {port}\nbackoff_initial_s = 0.2\nbackoff_max_s = 1.0\n'
        "connect_timeout_s = 3\n",
        "report": "interval_s = 0\ndiag_interval_s = 5\n",
        "outbox": f'path = "{folder / "outbox.sqlite"}"\n',
    }
    for name, lines in extra.items():
        # A key given in ``extra`` replaces the default line of that key (TOML forbids repeating one).
        keys = {line.split("=")[0].strip() for line in lines.splitlines() if "=" in line}
        defaults = sections.get(name, "").splitlines(keepends=True)
        kept = [line for line in defaults if line.split("=")[0].strip() not in keys]
        sections[name] = "".join(kept) + lines
    text = f'unit = "{unit}"\nfleet = "{fleet}"\n' + "".join(f"[{k}]\n{v}" for k, v in sections.items())
    path = folder / "agent.toml"
    path.write_text(text)
    return path


def agent_command() -> list[str]:
    return [str(Path(sys.executable).with_name("activecalls-agent"))]


@dataclass
class AgentProcess:
    """A real ``activecalls-agent run`` process, stopped by PID at teardown."""

    config: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [*agent_command(), "run", "--config", str(self.config), "--log-level", "DEBUG"],
            stdout=self._log_file, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
        )  # fmt: skip

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def terminate(self, timeout: float = 10.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.kill()

    def stop(self) -> None:
        self.kill()
        if hasattr(self, "_log_file"):
            self._log_file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float


class Recorder:
    """Subscribes to every unit topic of a fleet and keeps what arrives, with arrival times."""

    def __init__(self, host: str, port: int, fleet: str = "test", *, persistent: bool = False) -> None:
        """``persistent``: a session the broker keeps (and queues for) across a broker restart."""
        self.topics = Topics(fleet)
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"recorder-{os.getpid()}-{id(self)}", clean_session=not persistent
        )
        self._client.reconnect_delay_set(0.1, 0.2)  # type: ignore[arg-type]  # floats work
        self._client.on_message = self._on_message
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{self.topics.root}/units/#", qos=1)
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *_args: subscribed.set()
        self._client.connect(host, port)
        self._client.loop_start()
        # Only once subscribed does it see what is published next (not just what stays retained).
        if not subscribed.wait(10):
            self.close()
            raise AssertionError(f"the recorder could not subscribe on {host}:{port} within 10 s")

    def _on_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Received(message.topic, bytes(message.payload), message.retain, time.monotonic()))

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def of(self, kind: TopicKind) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if self.topics.match(m.topic).kind is kind]

    def fixes(self) -> Iterator[tuple[TopicKind, int, Fix, float]]:
        """(topic kind, seq, fix, arrival) of every fix received, pos and track, in arrival order."""
        with self._lock:
            messages = list(self.messages)
        for m in messages:
            kind = self.topics.match(m.topic).kind
            if kind is TopicKind.POS:
                wire = decode_fix(m.payload)
                yield kind, wire.seq, wire.fix, m.at
            elif kind is TopicKind.TRACK:
                for wire in decode_track(m.payload):
                    yield kind, wire.seq, wire.fix, m.at

    def seqs(self) -> set[int]:
        return {seq for _k, seq, _f, _t in self.fixes()}

    def states(self) -> list[str]:
        return [m.payload.decode() for m in self.of(TopicKind.STATE)]

    def diags(self) -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.of(TopicKind.DIAG)]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
