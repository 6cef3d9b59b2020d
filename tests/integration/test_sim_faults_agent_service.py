"""Each fault kind, injected by the simulator into a live pty, survived by the real agent service.

The companion of test_sim_faults_agent.py (which watches the receive path
alone): here ``activecalls-agent run`` reads the faulty device and publishes to
a real Mosquitto. "Survives" means the process is still running after the
fault, keeps publishing fixes whose GPS time is after the fault, stops cleanly
on SIGTERM, and the fault shows in its diagnostics where the agent counts it.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from common.wire import TopicKind
from tests.agentkit import AgentProcess, Recorder, wait_until, write_config
from tests.conftest import Broker, start_broker
from tests.integration.sim_helpers import sim_process

pytestmark = pytest.mark.integration

START = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)  # the simulator's default start
FAULT_AT_S = 4  # drive seconds; the fault specs below act around here
Diag = dict[str, Any]

# What each fault must do to the agent's counters (at 5 Hz, 12 s of drive,
# seed 3): each check fails for a run without that fault.
CASES: list[tuple[str, Callable[[Diag], bool]]] = [
    ("checksum=0.3", lambda d: d["rejected"] > 5),
    ("drop=0.3", lambda d: d["missed_epochs"] >= 1),  # whole epochs lost
    ("garbage=0.3", lambda d: d["junk"] > 5),
    ("truncate=0.3", lambda d: d["rejected"] > 5),
    ("dup=0.3", lambda d: d["duplicates"] > 5),
    ("jump=0.2", lambda d: d["jumps"] > 0),
    ("rollover", lambda d: d["last_fix"].startswith("2026-")),  # 2006 dates corrected by 1024 weeks
    ("stall=3@4", lambda d: 10 <= d["missed_epochs"] <= 20),  # 3 s at 5 Hz: ~15 epochs never sent
    ("unplug=1@4", lambda d: d["gps_reconnects"] >= 1),
]


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = start_broker(tmp_path_factory.mktemp("faults-broker"))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.parametrize(("spec", "shows"), CASES, ids=[c[0].split("=")[0].split("@")[0] for c in CASES])
def test_agent_service_survives(
    tmp_path: Path, shared_broker: Broker, spec: str, shows: Callable[[Diag], bool]
) -> None:
    device = tmp_path / "gps0"
    unit = "PC-" + spec.split("=")[0].split("@")[0]
    config = write_config(tmp_path, port=shared_broker.port, gps=str(device), unit=unit,
                          report="diag_interval_s = 1\n")  # fmt: skip
    recorder = Recorder(shared_broker.host, shared_broker.port)
    agent = AgentProcess(config, tmp_path / "agent.log")
    # 5 Hz at speed 4: 20 epochs a second of wall time; 12 s of drive cover the fault and the recovery.
    args = ["drive", "--route", "a61-derby-road", "--pty", str(device), "--hz", "5", "--speed", "4",
            "--duration", "12", "--faults", spec, "--seed", "3", "--receiver", "none"]  # fmt: skip
    try:
        with sim_process(*args) as (sim, _):
            agent.start()
            try:
                assert sim.wait(timeout=20) == 0
            except subprocess.TimeoutExpired:  # the simulator waits for a reader: did the agent die?
                pytest.fail(f"the simulator did not finish; agent output:\n{agent.output()[-2000:]}")
        wait_until(lambda: len(recorder.diags()) > 0 and recorder.diags()[-1]["decoded"] > 0, 10, "a diag message")
        assert agent.process is not None and agent.process.poll() is None, agent.output()[-2000:]
        times = [fix.time.replace(year=2026) for kind, _seq, fix, _at in recorder.fixes() if kind is TopicKind.POS]
        assert any(t >= START + dt.timedelta(seconds=FAULT_AT_S + 4) for t in times), "fixes after the fault"
        diag = recorder.diags()[-1]
        assert shows(diag), f"{spec}: not seen in the agent's diagnostics: {diag}"
        assert agent.terminate() == 0
    finally:
        agent.stop()
        recorder.close()
