"""ETA accuracy as ``activecalls-collector eta score`` measures it, every method on the same trips.

Trips of 1-15 minutes where the car drove fairly directly (collector.etascore),
each drive replayed in time order so only its past informs a prediction; the
error of a trip is |predicted - actual| / actual. Printed per drive (trips,
median, p90), then the median of the per-drive medians and the pooled median
and p90, for:

  model            the current default model (straight line x 1.35, priority 4
                   profile, no turnout): the baseline
  model, learned   the same, scaled by what the learner made of the drive so far
  roads            the embedded road router on the OSM extract (synthetic drives)
  roads, learned   the road router scaled the same way

Drives: the four recorded drives in tests/data/drives (no road graph: they are
in Germany and Switzerland), and SYNTHETIC drives over the real Chesterfield
roads: ``activecalls-sim drive --osm`` tours (random junctions 1.5-6 km apart,
12 km) with drivers of three kinds (speed capped at 50/70/130 km/h, stopping at
30/50/70 % of the junctions with signals or a give-way for 10/20/30 s), the
receiver's reported (noisy) positions at 1 Hz as the recording.

    python bench/eta_score.py [SYNTHETIC]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

# Run as a script, this folder comes first on the path, where bench/collector.py
# would shadow the collector package: the repository goes in front of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.calibrate import Track, load_jsonl
from collector.etascore import LearnedPredictor, Predictor, ReferencePredictor, Score, score
from collector.learn import ModelReference, Reference
from collector.roads.times import RoadTimes, pair_times
from common.paths import DEFAULT_OSM_EXTRACT, data_file
from simulators.drive import DriveConfig, DriveSim
from simulators.roads import load_paths, random_tour

REPO = Path(__file__).resolve().parents[1]
DRIVES = REPO / "tests" / "data" / "drives"


def synthetic_drives(count: int) -> list[tuple[str, Track]]:
    paths = load_paths(data_file(DEFAULT_OSM_EXTRACT))
    drives = []
    for seed in range(count):
        route = random_tour(paths, random.Random(seed), length_m=12_000)
        config = DriveConfig(route, kmh=(50.0, 70.0, 130.0)[seed % 3], stop_prob=(0.3, 0.5, 0.7)[seed % 3],
                             stop_s=(10.0, 20.0, 30.0)[(seed // 3) % 3], seed=seed)  # fmt: skip
        reported: list[tuple[float, float, float]] = []

        def keep(truth: dict[str, object], into: list[tuple[float, float, float]] = reported) -> None:
            where = truth.get("reported")
            if truth.get("type") == "position" and isinstance(where, dict):
                into.append((float(truth["offset_ms"]) / 1000, where["lat"], where["lon"]))  # type: ignore[arg-type]

        for _ in DriveSim(config, on_truth=keep).epochs():
            pass
        drives.append((f"chesterfield tour {seed} (cap {config.kmh:.0f} km/h)", Track.from_points(reported)))
    return drives


def methods(roads: Reference | None) -> dict[str, Callable[[], Predictor]]:
    out: dict[str, Callable[[], Predictor]] = {
        "model": lambda: ReferencePredictor(ModelReference()),
        "model, learned": lambda: LearnedPredictor(ModelReference()),
    }
    if roads is not None:
        out["roads"] = lambda: ReferencePredictor(roads)
        out["roads, learned"] = lambda: LearnedPredictor(roads)
    return out


def show(title: str, drives: list[tuple[str, Track]], roads: Reference | None) -> dict[str, Score]:
    print(f"\n{title}")
    found: dict[str, Score] = {}
    for name, make in methods(roads).items():
        started = time.perf_counter()
        found[name] = score(drives, make)
        print(f"-- {name} ({time.perf_counter() - started:.1f} s)")
        for line in found[name].lines():
            print(f"   {line}")
    print("summary: method, median of the per-drive medians, pooled median, pooled p90")
    for name, s in found.items():
        print(f"   {name:<16} {s.median_of_medians * 100:6.1f} %  {s.pooled_median * 100:6.1f} %  "
              f"{s.pooled_p90 * 100:6.1f} %")  # fmt: skip
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    synthetic = int(args[0]) if args else 12
    recorded = [(p.stem, load_jsonl(p)) for p in sorted(DRIVES.glob("*.jsonl"))]
    show(f"Recorded drives ({DRIVES.relative_to(REPO)}; goal: median of medians <= 25 %, pooled p90 <= 80 %)",
         recorded, None)  # fmt: skip
    if synthetic:
        graph_times = RoadTimes(load_paths(data_file(DEFAULT_OSM_EXTRACT)).graph)
        show(f"Synthetic drives on the Chesterfield roads ({synthetic}; goal with the road graph: median <= 15 %)",
             synthetic_drives(synthetic), partial(pair_times, graph_times))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
