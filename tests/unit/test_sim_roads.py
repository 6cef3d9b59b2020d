"""Simulated drives on real streets: routes over the extract's roads, their speeds, tours, fleets."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from collector.roads.times import RoadTimes
from common.paths import DEFAULT_OSM_EXTRACT, data_file
from simulators.drive import DriveConfig, DriveSim
from simulators.fleet import FleetConfig, plan_units
from simulators.geo import Polyline
from simulators.roads import load_paths, random_tour
from simulators.routes import builtin_names, load_route

EXTRACT = data_file(DEFAULT_OSM_EXTRACT)
SIM = [sys.executable, "-m", "simulators.cli"]


@pytest.fixture(scope="module")
def times() -> RoadTimes:
    return RoadTimes(load_paths(EXTRACT).graph)


def test_every_builtin_route_lies_on_the_roads(times: RoadTimes) -> None:
    for name in builtin_names():
        route = load_route(name)
        assert route.speeds is not None and len(route.speeds) == len(route.points) - 1
        lat, lon = (np.array(c) for c in zip(*route.points))
        assert np.max(times.snap(lat, lon).distance_m) < 1.0, name  # vertices are the roads' own nodes
        assert route.stops and all(0 < v < len(route.points) for v in route.stops)


def test_the_car_drives_each_road_at_its_speed_at_most() -> None:
    route = load_route("a61-sheffield-road")
    sim = DriveSim(DriveConfig(route, kmh=130.0, stop_prob=0.0, noise_m=0.0))
    line = sim.trajectory.line
    speeds = route.speeds
    assert speeds is not None
    for d, v in zip(sim.trajectory.distance[::20], sim.trajectory.speed[::20]):
        k = line.segment_at(d)
        assert v <= speeds[line.source_index[k]] + 1e-6
    assert max(sim.trajectory.speed) > 20.0  # the A61 is driven at its trunk speed


def test_a_random_tour_is_deterministic_and_on_the_roads(times: RoadTimes) -> None:
    paths = load_paths(EXTRACT)
    a = random_tour(paths, random.Random(5), length_m=6000)
    b = random_tour(paths, random.Random(5), length_m=6000)
    assert a == b and Polyline(a.points).length >= 6000
    lat, lon = (np.array(c) for c in zip(*a.points))
    assert np.max(times.snap(lat, lon).distance_m) < 1.0


def test_drive_osm_writes_nmea_and_a_bad_extract_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "tour.nmea"
    subprocess.run([*SIM, "drive", "--osm", str(EXTRACT), "--seed", "2", "--tour-km", "2", "-o", str(out)],
                   check=True, capture_output=True)  # fmt: skip
    assert out.read_bytes().count(b"$GPRMC") > 60
    junk = tmp_path / "junk.osm.pbf"
    junk.write_bytes(b"not an extract")
    bad = subprocess.run([*SIM, "drive", "--osm", str(junk), "-o", str(out)], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    both = subprocess.run([*SIM, "drive", "--osm", str(EXTRACT), "--route", "newbold", "-o", str(out)],
                          capture_output=True, text=True)  # fmt: skip
    assert both.returncode == 2 and "not both" in both.stderr


def test_the_load_generator_patrols_the_roads(times: RoadTimes) -> None:
    plans = plan_units(FleetConfig(units=4, osm=EXTRACT, seed=3))
    for plan in plans:
        points = [plan.fix_at(t, dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
                  for t in range(0, 600, 37)]  # fmt: skip
        snapped = times.snap([p.lat for p in points], [p.lon for p in points])
        assert np.max(snapped.distance_m) < 2.0


def test_eta_score_on_a_simulated_nmea_drive_with_the_roads(tmp_path: Path) -> None:
    """The issue's command end to end: an NMEA recording on real streets, scored with the graph."""
    nmea = tmp_path / "tour.nmea"
    subprocess.run([*SIM, "drive", "--osm", str(EXTRACT), "--seed", "4", "--tour-km", "6", "-o", str(nmea)],
                   check=True, capture_output=True)  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "collector.cli", "eta", "score", "--osm", str(EXTRACT), "--json",
                          str(nmea)], check=True, capture_output=True, text=True).stdout  # fmt: skip
    doc = json.loads(out)
    (drive,) = doc["drives"]
    assert drive["name"] == "tour.nmea" and drive["trips"] > 100
    assert doc["median_of_medians"] < 0.3  # a plain model is off by about half here (docs/eta.md)
