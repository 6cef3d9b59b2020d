"""The collector on the roads: road ETAs published by the real service, and an arrival measured
(dispatch, a unit stopping at the incident) that ``eta report`` then prints."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
from pathlib import Path

import pytest

from common.paths import DEFAULT_OSM_EXTRACT, data_file
from common.wire import (
    DutyStatus,
    EtaMethod,
    Incident,
    IncidentStatus,
    UnitState,
    encode_incident,
    encode_state,
    encode_status,
)
from tests.conftest import Broker
from tests.integration.collectorkit import COLLECTOR, TOPICS, Client, ServiceThread, fix, load, wait_until
from tests.integration.collectorkit import write_config as write_collector_config

pytestmark = pytest.mark.integration
STATION = (53.2338, -1.4264)
RAILWAY = (53.2381, -1.4200)


def test_road_etas_and_a_measured_arrival(broker: Broker, tmp_path: Path) -> None:
    extra = f'[eta]\nosm = "{data_file(DEFAULT_OSM_EXTRACT)}"\n[staleness]\nreport_interval_s = 5\n'
    config_path = write_collector_config(tmp_path, port=broker.port, extra=extra)
    collector = ServiceThread(load(config_path)).start()
    client = Client(broker.port)
    try:
        wait_until(lambda: collector.call(lambda s: s.eta.router is not None), 10, "road graph loaded")
        client.subscribe(TOPICS.incidents_filter + "/eta")
        client.publish(TOPICS.state("PC-1"), encode_state(UnitState.ONLINE), retain=True)
        client.publish(TOPICS.status("PC-1"), encode_status(DutyStatus.AVAILABLE), retain=True)
        client.fix(fix("PC-1", 1, *STATION))
        incident = Incident("I-1", "theft", 2, *RAILWAY, IncidentStatus.OPEN, dt.datetime.now(dt.UTC))
        client.publish(TOPICS.incident("I-1"), encode_incident(incident), retain=True)
        _, report = client.next_eta(5.0)
        (row,) = report.units
        assert row.method is EtaMethod.ROUTER and report.recommended == "PC-1"
        assert 700 < row.distance_m < 2000  # round the town centre's one-way streets; 590 m as the crow flies
        # Dispatched, drives there and stops: one arrival, with the ETA predicted at dispatch.
        client.publish(TOPICS.incident("I-1"), encode_incident(dataclasses.replace(incident, units=("PC-1",))),
                       retain=True)  # fmt: skip
        wait_until(lambda: collector.call(lambda s: s.arrivals.pending()) == [("I-1", "PC-1")], 5, "dispatch seen")
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        client.fix(dataclasses.replace(fix("PC-1", 2, RAILWAY[0] + 0.0003, RAILWAY[1], at=later)))  # passing, 10 m/s
        stopped = fix("PC-1", 3, RAILWAY[0] + 0.0002, RAILWAY[1], at=later + dt.timedelta(seconds=2))
        client.fix(dataclasses.replace(stopped, fix=dataclasses.replace(stopped.fix, speed=0.5)))
        wait_until(lambda: not collector.call(lambda s: s.arrivals.pending()), 5, "arrival detected")
    finally:
        client.close()
        assert collector.stop() == 0
    out = subprocess.run([*COLLECTOR, "eta", "report", "--config", str(config_path)], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout  # fmt: skip
    assert "1 arrivals measured, 1 with an ETA at dispatch" in out
    assert "method router" in out and "priority 2" in out
