"""The road graph: how long it takes to build, and to answer a round of ETAs.

In one run, printing each figure with its target:

  chesterfield  read data/osm/chesterfield-s40.osm.pbf and build its drivable
                graph (pyosmium + numpy)                            target < 1 s
  500 x 50      UNITS units to each of INCIDENTS incidents on it: snap every
                unit once, one cut-off Dijkstra per incident (the embedded
                router's whole round)                               target < 50 ms
                baseline: the textbook one-to-many way, one Dijkstra from each
                unit (forward graph), same answers checked, and the ratio
  county        a synthetic county (560 x 560 street grid: 313,600 junctions,
                94,000 km of road) built in a child process, whose peak memory
                (ru_maxrss) is the figure                target < 10 s, < 500 MB
                and 500 x 50 on it with a 20-minute cut-off         target < 1 s

    python bench/roads.py [UNITS] [INCIDENTS]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Run as a script, this folder comes first on the path, where bench/collector.py
# would shadow the collector package: the repository goes in front of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from collector.roads.graph import RoadGraph
from collector.roads.osm import load_graph
from collector.roads.times import RoadTimes
from common.paths import DEFAULT_OSM_EXTRACT, data_file

CUTOFF_S = 1800.0
COUNTY_CUTOFF_S = 1200.0
COUNTY_SIDE = 560


def random_points(graph: RoadGraph, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """Points near the roads: a random junction, moved up to 150 m."""
    pick = rng.integers(0, graph.nodes, count)
    return (
        graph.node_lat[pick] + rng.uniform(-150, 150, count) / 111_000,
        graph.node_lon[pick] + rng.uniform(-150, 150, count) / 67_000,
    )


def round_of(times: RoadTimes, lat, lon, incidents, cutoff: float) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """The embedded router's round: snap all units once, a Dijkstra per incident."""
    sources = times.snap(lat, lon)
    return [times.table(sources, a, b, cutoff_s=cutoff).duration_s for a, b in incidents]


def one_to_many_baseline(times: RoadTimes, lat, lon, incidents) -> np.ndarray:  # type: ignore[no-untyped-def]
    """One forward Dijkstra from each unit's next junction (units snapped to junctions: cruder, and slower)."""
    g = times.graph
    tail, head, cost, _ = g.edge_arrays()
    forward = csr_matrix((cost, (tail, head)), shape=(g.nodes, g.nodes))
    unit_nodes = times.snapper.graph.start[times.snap(lat, lon).piece]
    inc_nodes = [int(g.start[times.snap([a], [b]).piece[0]]) for a, b in incidents]
    out = np.empty((len(unit_nodes), len(inc_nodes)))
    for i, node in enumerate(unit_nodes):
        out[i] = dijkstra(forward, indices=int(node), limit=CUTOFF_S)[inc_nodes]
    return out


def county_child(units: int, incidents: int) -> None:
    """In a fresh process: build the synthetic county, time a round, print JSON."""
    import resource

    from collector.roads.graph import build_graph
    from collector.roads.synthetic import grid_ways

    started = time.perf_counter()
    graph = build_graph(grid_ways(COUNTY_SIDE, COUNTY_SIDE))
    times = RoadTimes(graph)
    built = time.perf_counter() - started
    rng = np.random.default_rng(2)
    # Units and incidents over a 30 x 30 km part of the county, as one force area's busy half.
    centre = np.flatnonzero(
        (np.abs(graph.node_lat - graph.node_lat.mean()) < 0.135)
        & (np.abs(graph.node_lon - graph.node_lon.mean()) < 0.22)
    )
    pick = rng.choice(centre, units + incidents)
    lat, lon = graph.node_lat[pick[:units]], graph.node_lon[pick[:units]]
    incs = list(zip(graph.node_lat[pick[units:]].tolist(), graph.node_lon[pick[units:]].tolist()))
    rounds = []
    for _ in range(3):
        t0 = time.perf_counter()
        found = round_of(times, lat, lon, incs, COUNTY_CUTOFF_S)
        rounds.append(time.perf_counter() - t0)
    reached = float(np.mean([np.isfinite(f).mean() for f in found]))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"describe": graph.describe(), "build_s": built, "round_s": min(rounds), "peak_mb": peak_mb,
                      "reached": reached}))  # fmt: skip


def main() -> None:
    if sys.argv[1:2] == ["--county-child"]:
        county_child(int(sys.argv[2]), int(sys.argv[3]))
        return
    units = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    incidents = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    path = data_file(DEFAULT_OSM_EXTRACT)
    builds = [load_graph(path)[1] for _ in range(3)]
    graph, _ = load_graph(path)
    print(f"chesterfield: {graph.describe()}")
    print(f"  read + build: {min(builds):.2f} s (median of 3 {statistics.median(builds):.2f} s; target < 1 s)")

    times = RoadTimes(graph)
    rng = np.random.default_rng(1)
    lat, lon = random_points(graph, units, rng)
    incs = list(zip(*(a.tolist() for a in random_points(graph, incidents, rng))))
    ours = []
    for _ in range(15):
        t0 = time.perf_counter()
        found = round_of(times, lat, lon, incs, CUTOFF_S)
        ours.append(time.perf_counter() - t0)
    base = []
    for _ in range(3):
        t0 = time.perf_counter()
        reference = one_to_many_baseline(times, lat, lon, incs)
        base.append(time.perf_counter() - t0)
    matrix = np.column_stack(found)
    both = np.isfinite(matrix) & np.isfinite(reference)
    # The baseline starts and ends at junctions, not at the points: compare the bulk only.
    agree = np.median(np.abs(matrix[both] - reference[both]))
    print(f"  {units} x {incidents}: {min(ours) * 1000:.1f} ms (median of 15 {statistics.median(ours) * 1000:.1f} ms; "
          f"target < 50 ms); baseline one Dijkstra per unit {min(base) * 1000:.0f} ms (best of 3) -> "
          f"{min(base) / min(ours):.0f}x; median |difference| {agree:.0f} s "
          "(the baseline snaps to junctions)")  # fmt: skip

    child = subprocess.run([sys.executable, __file__, "--county-child", str(units), str(incidents)],
                           capture_output=True, text=True, check=True)  # fmt: skip
    county = json.loads(child.stdout)
    print(f"county (synthetic): {county['describe']}")
    print(f"  build: {county['build_s']:.1f} s (target < 10 s), peak memory {county['peak_mb']:.0f} MB "
          f"(target < 500 MB, the whole process)")  # fmt: skip
    minutes = COUNTY_CUTOFF_S / 60
    print(f"  {units} x {incidents} with a {minutes:.0f}-minute cut-off: {county['round_s'] * 1000:.0f} ms "
          f"(target < 1 s); {county['reached'] * 100:.0f} % of pairs within the cut-off")  # fmt: skip


if __name__ == "__main__":
    main()
