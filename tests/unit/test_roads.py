"""The road graph: tags, graph building, snapping, the extract, the router in the ETA engine."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from collector.eta import EtaEngine, RouteRequest, geodesic_m
from collector.fleet import FleetState, StalenessPolicy
from collector.roads.graph import OsmWay, RoadGraphError, build_graph
from collector.roads.osm import load_graph, read_osm
from collector.roads.profile import RoadProfile, directions, maxspeed_kmh
from collector.roads.router import RoadRouter
from collector.roads.synthetic import grid_ways
from collector.roads.times import RoadTimes
from collector.router import route_all, router_candidates
from common.fix import Fix
from common.paths import DEFAULT_OSM_EXTRACT, data_file
from common.wire import DutyStatus, EtaMethod, Incident, IncidentStatus, WireFix

EXTRACT = data_file(DEFAULT_OSM_EXTRACT)
STATION = (53.2338, -1.4264)  # Beetwell Street, Chesterfield
DEG = 1 / 111_320  # about a metre of latitude


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"highway": "residential"}, (True, True)),
        ({"highway": "residential", "oneway": "yes"}, (True, False)),
        ({"highway": "residential", "oneway": "-1"}, (False, True)),
        ({"highway": "primary", "junction": "roundabout"}, (True, False)),
        ({"highway": "motorway"}, (True, False)),
        ({"highway": "motorway", "oneway": "no"}, (True, True)),
    ],
)
def test_directions_follow_the_oneway_tags(tags: dict[str, str], expected: tuple[bool, bool]) -> None:
    assert directions(tags) == expected


def test_which_ways_a_car_may_drive() -> None:
    profile = RoadProfile()
    assert profile.way({"highway": "footway"}) is None
    assert profile.way({"highway": "residential", "access": "private"}) is None
    assert profile.way({"highway": "residential", "access": "no", "motor_vehicle": "yes"}) is not None
    assert profile.way({"highway": "service", "service": "driveway"}) is None
    assert profile.way({"highway": "pedestrian"}) is None
    found = profile.way({"highway": "primary", "maxspeed": "30 mph"})
    assert found is not None and found[1] == pytest.approx(0.8 * 30 * 1.609344 / 3.6)
    fast_limit = profile.way({"highway": "residential", "maxspeed": "70"})
    assert fast_limit is not None and fast_limit[1] == pytest.approx(25 / 3.6)  # a limit never raises the speed


@pytest.mark.parametrize(
    ("value", "kmh"), [("50", 50.0), ("30 mph", 30 * 1.609344), ("20 km/h", 20.0), ("GB:nsl_single", None), ("", None)]
)
def test_maxspeed_values(value: str, kmh: float | None) -> None:
    assert maxspeed_kmh(value) == (None if kmh is None else pytest.approx(kmh))


def _way(way_id: int, nodes: list[int], **tags: str) -> OsmWay:
    # Node n sits n x 100 m east of the origin, or north for ids >= 100.
    lat = [53.0 + (n - 100) * 100 * DEG if n >= 100 else 53.0 for n in nodes]
    lon = [-1.5 if n >= 100 else -1.5 + n * 100 * DEG / 0.6018 for n in nodes]
    return OsmWay(way_id, nodes, lat, lon, {"highway": "residential", **tags})


def test_ways_are_cut_at_junctions_and_islands_dropped() -> None:
    ways = [
        _way(1, [0, 1, 2, 3], highway="primary"),  # a main road, 4 nodes
        _way(2, [101, 102, 0]),  # a side road joining it at node 0 from the north
        _way(3, [50, 51]),  # far away, connected to nothing
        _way(4, [1, 60], highway="footway"),  # not for cars
    ]
    graph = build_graph(ways)
    assert graph.nodes == 3  # junctions: 0 (the join), 3 (end), 101 (end); the island is dropped
    assert sorted(graph.node_osm.tolist()) == [0, 3, 101]
    assert graph.routable.sum() == 2
    kept = graph.routable
    assert sorted(graph.length_m[kept].tolist()) == pytest.approx([300.0, 300.0], abs=2.0)


def test_junction_costs_give_way_where_a_minor_road_meets_a_major_one() -> None:
    profile = RoadProfile(signals_s=9.0, give_way_s=5.0, junction_s=2.0)
    ways = [_way(1, [0, 1], highway="primary"), _way(2, [1, 2], highway="primary"), _way(3, [101, 1])]
    graph = build_graph(ways, profile=profile)
    side = int(np.flatnonzero(graph.way_id == 3)[0])
    main = int(np.flatnonzero(graph.way_id == 1)[0])
    assert graph.penalty_end_s[side] == 5.0  # the side road gives way at node 1
    assert graph.penalty_end_s[main] == 2.0  # the main road crosses a junction
    with_signals = build_graph(ways, signals={1}, profile=profile)
    assert with_signals.penalty_end_s[side] == with_signals.penalty_end_s[main] == 9.0


def test_a_oneway_street_is_driven_the_long_way_round() -> None:
    ways = grid_ways(3, 3, spacing_m=200.0)
    graph = build_graph(ways)
    times = RoadTimes(graph)
    # Row 0 is a primary road; make the same grid with its bottom row one-way westward.
    oneway = [OsmWay(w.id, w.nodes, w.lat, w.lon, {"highway": "residential", "oneway": "-1"} if w.id == 1 else
              {"highway": "residential"}) for w in ways]  # fmt: skip
    slow = RoadTimes(build_graph(oneway))
    west, east = (ways[0].lat[0], ways[0].lon[0]), (ways[0].lat[-1], ways[0].lon[-1])
    both = times.table(times.snap([west[0]], [west[1]]), *east)
    detour = slow.table(slow.snap([west[0]], [west[1]]), *east)
    assert both.distance_m[0] == pytest.approx(400.0, rel=0.01)
    assert detour.distance_m[0] == pytest.approx(800.0, rel=0.01)  # up, across and down again


def test_no_drivable_roads_is_a_one_line_error() -> None:
    with pytest.raises(RoadGraphError, match="no drivable roads"):
        build_graph([_way(1, [0, 1], highway="footway")])


def test_unreadable_extracts_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(RoadGraphError, match="no such OpenStreetMap file"):
        read_osm(tmp_path / "missing.osm.pbf")
    junk = tmp_path / "junk.osm.pbf"
    junk.write_bytes(b"\x00\x01 this is not protobuf" * 50)
    with pytest.raises(RoadGraphError, match="cannot read"):
        read_osm(junk)


def test_the_chesterfield_extract_makes_a_plausible_town() -> None:
    graph, _ = load_graph(EXTRACT)
    assert 4000 < graph.nodes < 8000 and 400 < graph.length_m[graph.routable].sum() / 1000 < 700
    times = RoadTimes(graph)
    # The police station to Chesterfield railway station: about 1 km by road through the centre.
    found = times.table(times.snap([STATION[0]], [STATION[1]]), 53.2381, -1.4200)
    straight = float(geodesic_m(*STATION, 53.2381, -1.4200))
    assert straight < found.distance_m[0] < 2.5 * straight
    assert 60 < found.duration_s[0] < 600


def _fleet_with(units: dict[str, tuple[float, float]]) -> FleetState:
    fleet = FleetState(StalenessPolicy(report_interval_s=5.0))
    now = dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)
    for unit, (lat, lon) in units.items():
        fleet.apply_fixes(unit, [WireFix(unit, 1, Fix(now, lat, lon))], now.timestamp())
        fleet.apply_status(unit, DutyStatus.AVAILABLE, now.timestamp())
    return fleet


def test_the_engine_uses_road_times_for_every_candidate_and_says_so() -> None:
    graph, _ = load_graph(EXTRACT)
    router = RoadRouter(graph)
    units = {f"PC-{i:02d}": (53.215 + 0.0015 * i, -1.47 + 0.002 * i) for i in range(30)}
    units["FAR"] = (53.50, -1.46)  # 30 km north: off the extract, no road within reach
    fleet = _fleet_with(units)
    incident = Incident("INC-1", "theft", 2, 53.2381, -1.4200, IncidentStatus.OPEN,
                        dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC))  # fmt: skip
    engine = EtaEngine()
    table = fleet.table(dt.datetime(2026, 1, 5, 8, 0, 1, tzinfo=dt.UTC).timestamp())
    requests = engine.route_requests(table, [incident], nearest=router_candidates(router))
    assert len(requests[0].units) == 31  # all of them, not the 25 nearest
    report = engine.reports(table, [incident], route_all(router, requests))[0]
    methods = {row.unit: row.method for row in report.units}
    assert methods.get("FAR", EtaMethod.MODEL) is EtaMethod.MODEL
    routed = [row for row in report.units if row.method is EtaMethod.ROUTER]
    assert len(routed) == 20  # max_units listed, all by road
    for row in routed:
        lat, lon = units[row.unit]
        assert row.distance_m >= float(geodesic_m(lat, lon, incident.lat, incident.lon)) - 50


def test_a_request_answered_alone_equals_the_batch() -> None:
    graph, _ = load_graph(EXTRACT)
    router = RoadRouter(graph)
    requests = [
        RouteRequest("A", ("u1", "u2"), ((53.23, -1.43), (53.25, -1.44)), (53.24, -1.41)),
        RouteRequest("B", ("u3",), ((53.22, -1.45),), (53.235, -1.425)),
    ]
    batch = router.tables(requests)
    for request in requests:
        alone = router.table(request)
        assert np.array_equal(alone.duration_s, batch[request.incident_id].duration_s)
    router.learned(np.full(9, 2.0), time_factor=1.5)
    slower = router.table(requests[0])
    assert np.all(slower.duration_s > 2.5 * batch["A"].duration_s - 60)
