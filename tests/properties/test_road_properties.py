"""Travel times on road graphs: what must hold whatever the network and the points."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from collector.eta import geodesic_m
from collector.roads.graph import OsmWay, RoadGraph, RoadGraphError, build_graph
from collector.roads.profile import DEFAULT_SPEEDS_KMH, RoadProfile
from collector.roads.snap import Snapped
from collector.roads.synthetic import grid_ways
from collector.roads.times import RoadTimes
from tests.roadkit import point, reference_time

LAT0, LON0 = 53.2, -1.45
STREETS = ("primary", "secondary", "tertiary", "residential", "service")
ONEWAY = (None, None, "yes", "-1")


@st.composite
def networks(draw: st.DrawFn) -> tuple[RoadGraph, RoadProfile]:
    """A street grid of random size, classes, directions and junction costs, some streets missing."""
    rows, cols = draw(st.integers(2, 6)), draw(st.integers(2, 6))
    ways = grid_ways(rows, cols, spacing_m=draw(st.floats(40.0, 400.0)), origin=(LAT0, LON0))
    kept = []
    for way in ways:
        if draw(st.integers(0, 9)) == 0:
            continue  # a street the grid lacks
        tags = {"highway": draw(st.sampled_from(STREETS))}
        oneway = draw(st.sampled_from(ONEWAY))
        if oneway:
            tags["oneway"] = oneway
        kept.append(OsmWay(way.id, way.nodes, way.lat, way.lon, tags))
    assume(kept)
    signals = draw(st.sets(st.integers(1, rows * cols), max_size=4))
    profile = RoadProfile(
        speeds_kmh={k: v * draw(st.floats(0.5, 1.5)) for k, v in DEFAULT_SPEEDS_KMH.items()},
        signals_s=draw(st.floats(0.0, 20.0)),
        give_way_s=draw(st.floats(0.0, 10.0)),
        junction_s=draw(st.floats(0.0, 5.0)),
    )
    try:
        return build_graph(kept, signals, profile), profile
    except RoadGraphError:  # nothing connected is left
        assume(False)
        raise


def road_points(graph: RoadGraph, data: st.DataObject, count: int) -> Snapped:
    """Points exactly on routable pieces (as a snap of a point on the road returns them)."""
    routable = np.flatnonzero(graph.routable)
    pieces = np.array([data.draw(st.sampled_from(routable.tolist())) for _ in range(count)], dtype=np.int64)
    fractions = np.array([data.draw(st.floats(0.0, 1.0)) for _ in range(count)])
    return Snapped(pieces, fractions * graph.length_m[pieces], np.zeros(count))


def one(snapped: Snapped, i: int) -> Snapped:
    return Snapped(snapped.piece[i : i + 1], snapped.offset_m[i : i + 1], snapped.distance_m[i : i + 1])


@settings(max_examples=60, deadline=None)
@given(networks(), st.data())
def test_times_and_distances_agree_with_a_plain_dijkstra_on_the_split_graph(
    net: tuple[RoadGraph, RoadProfile], data: st.DataObject
) -> None:
    graph, profile = net
    times = RoadTimes(graph, profile)
    dest = road_points(graph, data, 1)
    anywhere = road_points(graph, data, 4)
    # Half the sources on the destination's own road piece: ahead of it, behind it, one-way or not.
    fractions = np.array([data.draw(st.floats(0.0, 1.0)) for _ in range(4)])
    same = Snapped(np.repeat(dest.piece, 4), fractions * graph.length_m[dest.piece[0]], np.zeros(4))
    sources = Snapped(*(np.concatenate([getattr(anywhere, f), getattr(same, f)]) for f in Snapped.__slots__))
    found = times.table_to(sources, dest)
    for i in range(len(sources)):
        expected_s, expected_m = reference_time(graph, point(sources, i), point(dest, 0))
        # Every graph kept is strongly connected: a route always exists.
        assert math.isfinite(expected_s)
        # Packed weights round each edge to the millisecond.
        assert abs(found.duration_s[i] - expected_s) <= 0.002 * (graph.pieces + 2)
        assert abs(found.distance_m[i] - expected_m) <= max(1.0, 1e-3 * expected_m) or math.isclose(
            found.duration_s[i], expected_s, abs_tol=0.002 * (graph.pieces + 2)
        )


@settings(max_examples=60, deadline=None)
@given(networks(), st.data(), st.floats(0.0, 600.0))
def test_a_cutoff_never_hides_a_unit_within_it(
    net: tuple[RoadGraph, RoadProfile], data: st.DataObject, cutoff: float
) -> None:
    graph, profile = net
    times = RoadTimes(graph, profile)
    sources, dest = road_points(graph, data, 8), road_points(graph, data, 1)
    full = times.table_to(sources, dest)
    cut = times.table_to(sources, dest, cutoff_s=cutoff)
    within = full.duration_s <= cutoff - 0.01  # the cut-off is applied to whole milliseconds
    assert np.allclose(cut.duration_s[within], full.duration_s[within])
    assert np.allclose(cut.distance_m[within], full.distance_m[within])
    beyond = full.duration_s > cutoff + 0.01
    assert np.all(np.isnan(cut.duration_s[beyond]))


@settings(max_examples=60, deadline=None)
@given(networks(), st.data())
def test_road_distance_is_never_shorter_than_the_straight_line_nor_faster_than_the_fastest_road(
    net: tuple[RoadGraph, RoadProfile], data: st.DataObject
) -> None:
    graph, profile = net
    times = RoadTimes(graph, profile)
    sources, dest = road_points(graph, data, 8), road_points(graph, data, 1)
    found = times.table_to(sources, dest)
    src_ll = np.array([times.snapper.position(*point(sources, i)) for i in range(len(sources))])
    dst_ll = times.snapper.position(*point(dest, 0))
    straight = geodesic_m(src_ll[:, 0], src_ll[:, 1], dst_ll[0], dst_ll[1])
    assert np.all(found.distance_m >= straight - 0.5)
    fastest = max(profile.speeds_kmh.values()) / 3.6
    assert np.all(found.duration_s >= found.distance_m / fastest - 0.01)


@settings(max_examples=60, deadline=None)
@given(networks(), st.data())
def test_through_a_junction_is_never_faster_than_the_best_route(
    net: tuple[RoadGraph, RoadProfile], data: st.DataObject
) -> None:
    """The triangle inequality, through a junction (where the graph allows any turn)."""
    graph, profile = net
    times = RoadTimes(graph, profile)
    a, c = road_points(graph, data, 1), road_points(graph, data, 1)
    node = data.draw(st.integers(0, graph.nodes - 1))
    at = np.flatnonzero((graph.start == node) & graph.routable)
    at_end = np.flatnonzero((graph.end == node) & graph.routable)
    junction = (
        Snapped(at[:1], np.zeros(1), np.zeros(1))
        if len(at)
        else Snapped(at_end[:1], graph.length_m[at_end[:1]], np.zeros(1))
    )
    assume(len(junction))
    direct = times.table_to(a, c).duration_s[0]
    via = times.table_to(a, junction).duration_s[0] + times.table_to(junction, c).duration_s[0]
    assert direct <= via + 0.002 * (graph.pieces + 2)
