"""drive: deterministic, decodes cleanly, stays near the route, truth agrees with the trace."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import pytest

from agent.decoder import NmeaDecoder
from common.fix import Fix
from simulators.drive import DriveConfig, DriveSim, parse_tunnels
from simulators.geo import Polyline, distance_m
from simulators.routes import Route, RouteError, builtin_names, load_route, parse_geojson, parse_gpx


def run(config: DriveConfig) -> tuple[bytes, list[dict[str, Any]], NmeaDecoder, list[Fix]]:
    truth: list[dict[str, Any]] = []
    sim = DriveSim(config, on_truth=truth.append)
    truth[:0] = sim.header()
    data = b"".join(e.data for e in sim.epochs())
    decoder = NmeaDecoder()
    fixes = decoder.feed(data) + decoder.finish()
    return data, truth, decoder, fixes


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_route_decodes_clean_and_stays_near_the_road(name: str) -> None:
    route = load_route(name)
    noise = 4.0
    _, truth, decoder, fixes = run(DriveConfig(route, seed=3, noise_m=noise, stop_prob=0.3))
    assert decoder.stats.rejected_checksum == 0 and decoder.stats.malformed == 0
    positions = [r for r in truth if r["type"] == "position"]
    assert len(fixes) == len(positions) > 100
    line = Polyline(route.points)
    worst = max(line.distance_to(f.lat, f.lon) for f in fixes)
    assert worst <= 4 * noise, f"{name}: a fix {worst:.1f} m from the route"
    # Ground truth agrees with the trace: same times, reported = decoded, true point on the route.
    for fix, record in zip(fixes, positions):
        assert fix.time == dt.datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        assert abs(fix.lat - record["reported"]["lat"]) < 1e-6 and abs(fix.lon - record["reported"]["lon"]) < 1e-6
        assert distance_m(fix.lat, fix.lon, record["lat"], record["lon"]) <= 3 * noise + 0.01
        assert line.distance_to(record["lat"], record["lon"]) < 0.05
    # Vertex arrivals: every vertex once, in order, in time, where the truth says the car was.
    vertices = [r for r in truth if r["type"] == "vertex"]
    assert [v["vertex"] for v in vertices] == list(range(len(route.points)))
    assert [v["offset_ms"] for v in vertices] == sorted(v["offset_ms"] for v in vertices)
    by_time = {r["offset_ms"]: r for r in positions}
    for v in vertices:
        at = by_time.get(v["offset_ms"] // 1000 * 1000)
        if at is not None:  # the position a moment before arrival is within one second's driving
            assert distance_m(at["lat"], at["lon"], v["lat"], v["lon"]) <= 48 / 3.6 + 0.5


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    config = DriveConfig(load_route("town-centre-ring"), seed=7)
    assert run(config)[0] == run(config)[0]
    assert run(DriveConfig(load_route("town-centre-ring"), seed=8))[0] != run(config)[0]


def test_speed_profile_and_stops() -> None:
    config = DriveConfig(load_route("a61-derby-road"), kmh=60, stop_prob=1.0, stop_s=10, noise_m=0)
    sim = DriveSim(config)
    speeds = sim.trajectory.speed
    assert max(speeds) <= 60 / 3.6 + 1e-6 and max(speeds) > 55 / 3.6
    # Accelerations within the limits (50 ms steps).
    steps = [(b - a) / 0.05 for a, b in itertools.pairwise(speeds)]
    assert max(steps) <= config.accel + 1e-6
    assert len(sim.trajectory.stops) == len([v for v in config.route.stops if v > 0])  # every junction but the start
    assert all(5 <= dwell <= 15 for _, dwell in sim.trajectory.stops)


def test_rate_talker_sentences_tunnel() -> None:
    config = DriveConfig(load_route("town-centre-ring"), hz=5, talker="GN", sentences=("RMC", "GGA"),
                         tunnels=((20, 10),), duration_s=60)  # fmt: skip
    data, truth, _, fixes = run(config)
    assert data.startswith(b"$GNRMC") and b"GSA" not in data
    gaps = {round((b.time - a.time).total_seconds(), 3) for a, b in itertools.pairwise(fixes)}
    assert gaps == {0.2, 10.2}  # 5 Hz, and one 10 s tunnel
    assert not any(dt.datetime(2026, 1, 5, 8, 0, 20, tzinfo=dt.UTC) <= f.time < dt.datetime(2026, 1, 5, 8, 0, 30,
                   tzinfo=dt.UTC) for f in fixes)  # fmt: skip
    assert [r["fix"] for r in truth if r["type"] == "position"].count(False) == 50
    assert parse_tunnels(["1:2", "3.5:4"]) == ((1.0, 2.0), (3.5, 4.0))
    with pytest.raises(ValueError):
        parse_tunnels(["12"])


def test_route_files(tmp_path: Any) -> None:
    gpx = ('<gpx xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
           '<trkpt lat="53.1" lon="-1.4"><ele>80</ele></trkpt><trkpt lat="53.11" lon="-1.41"><ele>85</ele></trkpt>'
           "</trkseg></trk></gpx>")  # fmt: skip
    route = parse_gpx(gpx, name="t")
    assert route.points == ((53.1, -1.4), (53.11, -1.41)) and route.altitudes == (80.0, 85.0)
    geojson = {"type": "Feature", "properties": {"name": "x"},
               "geometry": {"type": "LineString", "coordinates": [[-1.4, 53.1], [-1.41, 53.11]]}}  # fmt: skip
    path = tmp_path / "r.geojson"
    path.write_text(json.dumps(geojson))
    assert load_route(str(path)).points == route.points
    with pytest.raises(RouteError):
        parse_geojson('{"type": "Point", "coordinates": [0, 0]}', name="p")
    with pytest.raises(RouteError):
        load_route("no-such-route")
    with pytest.raises(RouteError):
        Route("one", ((53.0, -1.0),))


def test_duration_ends_the_drive_during_a_stop() -> None:
    """--duration 60 is 60 s of stream, also when the 60th second falls in a stop's dwell."""
    ended_in_a_stop = 0
    for seed in range(6):
        config = DriveConfig(load_route("a61-derby-road"), stop_prob=1.0, stop_s=40, seed=seed, duration_s=60)
        trajectory = DriveSim(config).trajectory
        assert 60 <= trajectory.duration_s <= 60.05 + 1e-6, (seed, trajectory.duration_s)  # one 50 ms step
        ended_in_a_stop += trajectory.speed[-1] == 0.0
    assert ended_in_a_stop  # the case in point happened
