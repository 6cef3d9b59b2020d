"""The public feed inside the collector service, end to end: positions,
statuses and a call published to a real Mosquitto, the service (with a
``[public]`` section) storing them and publishing its snapshots, and an
anonymous subscriber to ``public/#`` checking what it receives.

The service runs on a clock 60 times faster than real time (one real second
is a simulated minute) so that the delays, floored to the minute, pass in a
few seconds; each tick still runs the real store, policy, files and broker.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import time
from pathlib import Path

import pytest

from collector.public import grid_for, unit_pseudonym, utm_epsg
from collector.public.shell import CALLS_FILE, UNITS_FILE
from common.fix import Fix
from common.wire import DutyStatus, Incident, IncidentStatus, WireFix, encode_fix, encode_incident, encode_status
from tests.conftest import Broker
from tests.integration.collectorkit import TOPICS, Client, ServiceThread, load, wait_until, write_config
from tests.public_checks import check_absent, check_calls, check_units

pytestmark = pytest.mark.integration

SPEED = 60.0
START = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC).timestamp()
SECRET = b"0cc175b9c0f1b6a831c399e269772661"
PUBLIC = """
[public]
secret_file = "secret"
public_dir = "www"
state_file = "public-state.json"
publish_every_s = 1
unit_delay_s = 120
call_delay_s = 60
"""


class FastClock:
    def __init__(self) -> None:
        self.origin = time.monotonic()

    def __call__(self) -> float:
        return START + (time.monotonic() - self.origin) * SPEED

    def utc(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self(), dt.UTC)


def test_the_service_publishes_a_feed_an_anonymous_reader_can_check(broker: Broker, tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(SECRET + b"\n")
    (tmp_path / "secret").chmod(0o600)
    config = load(write_config(tmp_path, port=broker.port, extra=PUBLIC))
    policy = config.public.policy
    clock = FastClock()
    collector = ServiceThread(config, clock=clock).start()
    dispatch, reader = Client(broker.port), Client(broker.port)
    reader.subscribe("public/#")
    received: list[tuple[dt.datetime, str, bytes]] = []

    def drain() -> None:
        while True:
            try:
                _, topic, payload = reader.received.get_nowait()
            except queue.Empty:
                return
            received.append((clock.utc(), topic, payload))

    def shown() -> bool:
        drain()
        docs = [json.loads(p) for _, t, p in received[-4:]]
        return len(docs) == 4 and all(doc["features"] for doc in docs)

    try:
        for unit, status in (("PC-7", DutyStatus.AVAILABLE), ("PC-8", DutyStatus.UNAVAILABLE)):
            dispatch.publish(TOPICS.status(unit), encode_status(status), retain=True)
        opened = clock.utc()
        call = Incident("INC-77", "Shoplifting", 3, 53.236, -1.418, IncidentStatus.OPEN, opened)
        dispatch.publish(TOPICS.incident(call.id), encode_incident(call), retain=True)
        seq = 0
        deadline = time.monotonic() + 20
        while not shown():  # cars drive east until both documents show something
            assert time.monotonic() < deadline, f"nothing shown after 20 s: {received[-2:]}"
            seq += 1
            now = clock.utc()
            for k, unit in enumerate(("PC-7", "PC-8")):
                fix = Fix(now, 53.235 + 0.01 * k, -1.421 + seq * 2e-4, speed=12.0, mode=3)
                dispatch.publish(TOPICS.pos(unit), encode_fix(WireFix(unit, seq, fix)), retain=True, wait=False)
            dispatch.flush()
            time.sleep(0.1)

        # The files are the snapshots the reader received.
        www = tmp_path / "www"
        for name, topic in ((UNITS_FILE, TOPICS.public_units), (CALLS_FILE, TOPICS.public_calls)):
            sent = (topic, (www / name).read_bytes())
            wait_until(lambda sent=sent: drain() or sent in [(t, p) for _, t, p in received], 5, name)
    finally:
        dispatch.close()
        reader.close()
        assert collector.stop() == 0

    grid = grid_for(utm_epsg(53.235, -1.421), policy.cell_m)
    today = clock.utc().date()
    seen = set()
    for now, topic, payload in received:
        check_absent(payload, ["PC-7", "PC-8", "INC-77", "Shoplifting"])
        doc = json.loads(payload)
        if topic == TOPICS.public_units:
            check_units(doc, policy=policy, grid=grid, now=now)
            seen |= {f["properties"]["unit"] for f in doc["features"]}
        else:
            assert topic == TOPICS.public_calls
            check_calls(doc, policy=policy, grid=grid, now=now)
            assert all(f["properties"]["category"] == "theft" for f in doc["features"])
    # The available car is shown under its pseudonym of the day; the one on a break never.
    assert seen == {unit_pseudonym(SECRET, "PC-7", today)}
    state = json.loads((tmp_path / "public-state.json").read_bytes())
    assert set(state["units"]) == {"PC-7", "PC-8"}
