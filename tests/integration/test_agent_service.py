"""The agent as it runs in a car: a real ``activecalls-agent run`` process, a
real Mosquitto, a pty standing in for the receiver.

The device path is a symlink to the pty, as ``/dev/serial/by-id/...`` is to
``/dev/ttyACM0``: unplugging removes it, replugging makes it point at a new pty.
"""

from __future__ import annotations

import os
import pty
import random
import socket
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.wire import TopicKind
from tests.agentkit import AgentProcess, Recorder, drive, epochs, wait_until, write_config
from tests.conftest import Broker

pytestmark = pytest.mark.integration


class Receiver:
    """A pluggable fake receiver: a pty behind a stable symlink, fed by a thread."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.controller = -1
        self._follower = -1
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def plug(self) -> None:
        with self._lock:
            self.controller, self._follower = pty.openpty()
            tty.setraw(self._follower)
            os.symlink(os.ttyname(self._follower), self.link)

    def unplug(self) -> None:
        with self._lock:
            self.link.unlink(missing_ok=True)
            for fd in (self.controller, self._follower):
                if fd >= 0:
                    os.close(fd)
            self.controller = self._follower = -1

    def write(self, data: bytes) -> bool:
        with self._lock:
            if self.controller < 0:
                return False
            try:
                os.write(self.controller, data)
            except OSError:
                return False
            return True

    def feed(self, chunks: list[bytes], hz: float) -> None:
        """Write one chunk every 1/hz s in the background (skipped while unplugged)."""

        def run() -> None:
            for chunk in chunks:
                if self._stop.wait(1.0 / hz):
                    return
                self.write(chunk)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop_feed(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def close(self) -> None:
        self.stop_feed()
        self.unplug()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    r = Receiver(tmp_path / "gps")
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[AgentProcess]]:
    started: list[AgentProcess] = []
    try:
        yield started
    finally:
        for a in started:
            a.stop()


def start_agent(agents: list[AgentProcess], config: Path, **env: str) -> AgentProcess:
    a = AgentProcess(config, config.parent / "agent.log", env=env)
    a.start()
    agents.append(a)
    return a


def assert_exactly_once_in_order(recorder: Recorder, expected: set[int]) -> None:
    """Every expected seq arrived; after de-duplication each topic saw seqs in increasing order;
    a seq always carried the same fix."""
    content: dict[int, object] = {}
    order: dict[TopicKind, list[int]] = {TopicKind.POS: [], TopicKind.TRACK: []}
    seen: dict[TopicKind, set[int]] = {TopicKind.POS: set(), TopicKind.TRACK: set()}
    for kind, seq, fix, _at in recorder.fixes():
        assert content.setdefault(seq, fix) == fix, f"seq {seq} repeated with different content"
        if seq not in seen[kind]:
            seen[kind].add(seq)
            order[kind].append(seq)
    missing = expected - set(content)
    assert not missing, f"{len(missing)} reported fixes never arrived, e.g. {sorted(missing)[:10]}"
    for kind, seqs in order.items():
        assert seqs == sorted(seqs), f"{kind} out of seq order"


def test_run_reports_fixes_notifies_systemd_and_stops_cleanly(
    tmp_path: Path, broker: Broker, receiver: Receiver, agents: list[AgentProcess]
) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = tmp_path / "notify"
    notify.bind(str(notify_path))
    notify.settimeout(10)
    recorder = Recorder(broker.host, broker.port)
    try:
        receiver.plug()
        agent = start_agent(
            agents, write_config(tmp_path, port=broker.port, gps=str(receiver.link)),
            NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC="1000000",
        )  # fmt: skip
        messages: list[tuple[float, str]] = []

        def listen_until(word: str) -> None:
            while True:
                text = notify.recv(4096).decode()
                messages.append((time.monotonic(), text))
                if word in text:
                    return

        listen_until("READY=1")
        wait_until(lambda: "online" in recorder.states(), 10, "online state")
        fixes = drive(30)
        receiver.feed(epochs(fixes), hz=20)
        # The last epoch is emitted once the next one starts: all but the last are reported.
        wait_until(lambda: len(recorder.seqs()) >= 29, 15, "29 fixes on the broker")
        pos = recorder.of(TopicKind.POS)
        assert all(m.retain is False for m in pos)  # live delivery to a subscriber: retain flag cleared
        listen_until("WATCHDOG=1")
        t0 = messages[-1][0]
        listen_until("WATCHDOG=1")
        assert messages[-1][0] - t0 < 1.0  # WatchdogSec=1 s: pinged at least every 0.5 s
        assert any("STATUS=" in text and "broker connected" in text for _t, text in messages)

        started = time.monotonic()
        assert agent.terminate(timeout=10) == 0
        assert time.monotonic() - started < 5.0
        listen_until("STOPPING=1")
        wait_until(lambda: recorder.states()[-1:] == ["offline"], 5, "offline state")
        assert_exactly_once_in_order(recorder, set(range(1, 30)))
        diag = recorder.diags()[-1]
        assert diag["unit"] == "PC-101" and diag["source"] in ("ok", "connecting")
    finally:
        recorder.close()
        notify.close()
    # A new subscriber sees the last position (retained) and the offline state.
    late = Recorder(broker.host, broker.port)
    try:
        wait_until(lambda: len(late.of(TopicKind.POS)) == 1 and late.states() == ["offline"], 5, "retained")
        assert late.of(TopicKind.POS)[0].retain
        # The last epoch, completed by the shutdown, is reported then and goes out before the disconnect.
        assert max(late.seqs()) == 30
    finally:
        late.close()


def test_missing_device_is_retried_and_receiver_replug_resumes_without_restart(
    tmp_path: Path, broker: Broker, receiver: Receiver, agents: list[AgentProcess]
) -> None:
    recorder = Recorder(broker.host, broker.port)
    try:
        agent = start_agent(agents, write_config(tmp_path, port=broker.port, gps=str(receiver.link)))
        wait_until(lambda: agent.output().count("no such device") >= 1, 15, "a failed open in the log")
        wait_until(lambda: any(d["source"] == "disconnected" for d in recorder.diags()), 10, "diag: disconnected")
        receiver.plug()
        wait_until(lambda: "GPS: opened" in agent.output(), 15, "the agent to open the device")
        first = drive(20)
        for chunk in epochs(first):
            receiver.write(chunk)
            time.sleep(0.02)
        wait_until(lambda: len(recorder.seqs()) >= 19, 10, "fixes before the unplug")
        receiver.unplug()  # the receiver is pulled out mid-drive
        wait_until(lambda: "retrying" in agent.output().split("GPS: opened")[-1], 10, "the agent to notice")
        receiver.plug()
        wait_until(lambda: agent.output().count("GPS: opened") >= 2, 15, "the agent to reopen the device")
        later = drive(20, start=first[-1].time + (first[1].time - first[0].time) * 5)
        for chunk in epochs(later):
            receiver.write(chunk)
            time.sleep(0.02)
        wait_until(lambda: len(recorder.seqs()) >= 38, 10, "fixes after the replug")
        assert agent.process is not None and agent.process.poll() is None  # the same process throughout
        assert_exactly_once_in_order(recorder, set(range(1, 39)))
    finally:
        recorder.close()


@pytest.mark.slow
def test_broker_down_30_s_then_back_every_fix_once_in_order_live_resumes(
    tmp_path: Path, broker: Broker, receiver: Receiver, agents: list[AgentProcess]
) -> None:
    recorder = Recorder(broker.host, broker.port, persistent=True)
    try:
        receiver.plug()
        agent = start_agent(agents, write_config(tmp_path, port=broker.port, gps=str(receiver.link)))
        wait_until(lambda: "online" in recorder.states(), 10, "online state")
        hz = 5
        fixes = drive(45 * hz, hz=hz)
        receiver.feed(epochs(fixes), hz=hz)
        wait_until(lambda: len(recorder.seqs()) >= 3 * hz, 10, "fixes before the outage")
        broker.stop()
        time.sleep(30)
        outage_seq_max = max(recorder.seqs())
        broker.start()
        back = time.monotonic()
        # Live position resumes within 2 s of the broker's return (reconnect backoff is capped at 1 s).
        wait_until(
            lambda: any(k is TopicKind.POS and s > outage_seq_max + 30 * hz - 10 for k, s, _f, _t in recorder.fixes()),
            10, "live pos after the outage",
        )  # fmt: skip
        first_live = min(
            t for k, s, _f, t in recorder.fixes() if k is TopicKind.POS and s > outage_seq_max + 30 * hz - 10
        )
        assert first_live - back < 2.5
        time.sleep(1.5)  # live fixes keep flowing after the outage
        receiver.close()
        assert agent.terminate() == 0
        last = max(recorder.seqs())
        assert_exactly_once_in_order(recorder, set(range(1, last + 1)))
        assert last >= outage_seq_max + 31 * hz
        assert len(recorder.of(TopicKind.TRACK)) >= 1  # the outage went out as backlog
    finally:
        recorder.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_reported_fix(
    tmp_path: Path, broker: Broker, receiver: Receiver, agents: list[AgentProcess]
) -> None:
    recorder = Recorder(broker.host, broker.port)
    rng = random.Random(20261128)
    config = write_config(tmp_path, port=broker.port, gps=str(receiver.link))
    try:
        receiver.plug()
        hz = 20
        receiver.feed(epochs(drive(40 * hz, hz=hz)), hz=hz)
        kills = 0
        while kills < 6:
            agent = start_agent(agents, config)  # all runs append to one log
            wait_until(lambda a=agent, k=kills: a.output().count(" running (config") > k, 20, "the agent to start")
            time.sleep(rng.uniform(0.2, 1.5))
            agent.kill()
            kills += 1
        agent = start_agent(agents, config)
        time.sleep(2)
        receiver.close()
        assert agent.terminate() == 0
    finally:
        recorder.close()
    out = agent.output()
    assert "0 fixes waiting in the outbox" in out.rsplit("stopping", 1)[-1], out[-2000:]
    seqs = recorder.seqs()
    assert len(seqs) > 50
    # No gap: every seq ever committed was delivered; no seq with two contents.
    assert_exactly_once_in_order(recorder, set(range(1, max(seqs) + 1)))


def test_outbox_commands_show_the_backlog_kept_while_the_broker_is_unreachable(
    tmp_path: Path, receiver: Receiver, agents: list[AgentProcess]
) -> None:
    import json
    import subprocess

    from tests.agentkit import agent_command
    from tests.conftest import free_port

    receiver.plug()
    config = write_config(tmp_path, port=free_port(), gps=str(receiver.link))
    agent = start_agent(agents, config)
    wait_until(lambda: "GPS: opened" in agent.output(), 15, "the agent to open the device")
    for chunk in epochs(drive(11)):
        receiver.write(chunk)
        time.sleep(0.02)
    wait_until(lambda: agent.output().count("connection refused") >= 1, 10, "a failed broker connection")
    time.sleep(0.5)
    assert agent.terminate() == 0
    # 10 fixes reported while running, the 11th flushed from the decoder at shutdown.
    assert "11 fixes waiting" in agent.output()
    run = [*agent_command(), "outbox"]
    stats = subprocess.run([*run, "stats", "--json", "--config", str(config)], capture_output=True, timeout=30)
    assert stats.returncode == 0, stats.stderr
    data = json.loads(stats.stdout)
    assert (data["backlog"], data["last_seq"], data["oldest_seq"], data["dropped"]) == (11, 11, 1, 0)
    export = subprocess.run([*run, "export", "--config", str(config)], capture_output=True, timeout=30)
    lines = [json.loads(line) for line in export.stdout.decode().splitlines()]
    assert [f["seq"] for f in lines] == list(range(1, 12)) and {f["unit"] for f in lines} == {"PC-101"}


def test_no_fix_then_no_data_are_reported_on_diag_and_in_the_log(
    tmp_path: Path, broker: Broker, receiver: Receiver, agents: list[AgentProcess]
) -> None:
    import datetime as dt

    from agent.formatter import format_no_fix

    recorder = Recorder(broker.host, broker.port)
    try:
        receiver.plug()
        agent = start_agent(agents, write_config(tmp_path, port=broker.port, gps=str(receiver.link)))
        wait_until(lambda: "GPS: opened" in agent.output(), 15, "the agent to open the device")
        start = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
        tunnel = [b"".join(format_no_fix(start + dt.timedelta(seconds=i / 5))) for i in range(60)]
        receiver.feed(tunnel, hz=5)  # 12 s of "no fix" epochs (no_fix_s = 3)
        wait_until(lambda: any(d["source"] == "no-fix" for d in recorder.diags()), 15, "diag: no-fix")
        assert recorder.diags()[-1]["fix"] == "none" and recorder.seqs() == set()
        receiver.stop_feed()  # then silence, the device still there (no_data_s = 2)
        wait_until(lambda: recorder.diags()[-1]["source"] == "no-data", 15, "diag: no-data")
        assert "GPS: no fix for" in agent.output() and "GPS: no data for" in agent.output()
    finally:
        recorder.close()
