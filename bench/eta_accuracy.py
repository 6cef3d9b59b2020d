"""How right are the ETAs? Predicted vs actual time to arrive, on real drives.

For every drive (``*.jsonl`` of time/lat/lon points), from every point 1 to 15
minutes before the drive's end, predict the time to reach the end from the
straight-line distance alone, and compare with the time the drive really took.
Per drive, print the median and 90th percentile of the absolute error (and the
median signed error: > 0 is pessimistic) for

  straight:   geodesic distance at a constant 50 km/h (the naive baseline)
  default:    the collector's default model (priority 4: ordinary driving,
              no turnout: the car is already moving)
  calibrated: the model calibrated (collector.calibrate) on the OTHER drives
              only, never on the one evaluated

Real drives: the recorded drives directory (``--drives``; by default the four
drives in ``tests/data/drives``). Their README gives sources and
licences; jumps of the GPS are filtered out before use.

Synthetic drives with ground truth are the other half: the simulators'
``drive`` planner (simulators.drive.plan: acceleration, braking for bends,
stops at junctions) drives each built-in route with SEEDS seeds (speed limit
40, 48, 56 km/h, stops drawn anew); each drive is split at its farthest point
from the start into an outbound drive (to the turning point) and a return
drive (back to the start), each ending at its destination at a known time.
Calibration never sees the route being evaluated: the drives of one route are
evaluated with the model calibrated on the other routes' drives.

    python bench/eta_accuracy.py [--drives DIR] [--synthetic SEEDS]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Run as a script, this folder comes first on the path, where bench/collector.py
# would shadow the collector package: the repository goes in front of it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from collector.calibrate import (
    Calibration,
    DriveSamples,
    ErrorStats,
    Track,
    calibrate,
    drive_samples,
    evaluate,
    load_jsonl,
)
from collector.eta import TravelModel, geodesic_m

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DRIVES = REPO / "tests" / "data" / "drives"
STRAIGHT_MPS = 50 / 3.6
PRIORITY = 4  # recorded drives are ordinary driving, not blue lights


@dataclass(frozen=True)
class Drive:
    name: str
    group: str  # drives of one group share route geometry: never calibrate and evaluate within one
    samples: DriveSamples


def drives_from_tracks(tracks: Sequence[tuple[str, str, Track]]) -> list[Drive]:
    """(name, route geometry group, track ending at the destination) -> drives."""
    return [Drive(name, group, drive_samples(track.without_jumps())) for name, group, track in tracks]


def real_drives(directory: Path) -> list[Drive]:
    # Each recording is its own route, so "the others" never share its geometry.
    return drives_from_tracks([(p.stem, p.stem, load_jsonl(p)) for p in sorted(directory.glob("*.jsonl"))])


def synthetic_drives(seeds: int = 3) -> list[Drive]:
    """Drives planned by the simulators on the built-in routes, with exact arrival
    times; each tagged with its route, so that calibration and evaluation never
    share a route geometry."""
    from simulators.drive import DriveConfig, plan
    from simulators.routes import builtin_names, load_route

    tracks = []
    for name in builtin_names():
        route = load_route(name)
        for seed in range(seeds):
            trajectory = plan(DriveConfig(route, kmh=(40.0, 48.0, 56.0)[seed % 3], seed=seed), random.Random(seed))
            # The true position every second (the planner's ground truth, no GNSS noise).
            times = np.arange(0.0, trajectory.duration_s, 1.0)
            points = [trajectory.line.point(trajectory.at(t)[0])[:2] for t in times]
            lat = np.array([p[0] for p in points])
            lon = np.array([p[1] for p in points])
            turn = int(np.argmax(geodesic_m(lat, lon, lat[0], lon[0])))  # the farthest point from the start
            for part, keep in (("out", slice(0, turn + 1)), ("back", slice(turn, None))):
                track = Track.from_points(zip(times[keep].tolist(), lat[keep].tolist(), lon[keep].tolist()))
                tracks.append((f"{name} seed {seed} {part}", name, track))
    return drives_from_tracks(tracks)


def predictions(drive: Drive, model: TravelModel) -> np.ndarray:  # type: ignore[type-arg]
    return model.travel_time(drive.samples.geodesic_m, PRIORITY)


def report(title: str, drives: Sequence[Drive]) -> None:
    default = TravelModel(turnout_s=0.0)
    print(f"\n{title}: predictions from 1 to 15 minutes before arrival")
    print(f"{'drive':<55} {'points':>6}  {'straight 50 km/h':>24}  {'default model':>24}  {'calibrated on others':>24}")
    print(f"{'':<55} {'':>6}  " + "  ".join(f"{'median / p90 / bias (s)':>24}" for _ in range(3)))
    totals: dict[str, list[np.ndarray]] = {"straight": [], "default": [], "calibrated": []}  # type: ignore[type-arg]
    fits: dict[str, Calibration] = {}  # by the group left out: the same for every drive of a group
    for drive in drives:
        others = [d.samples for d in drives if d.group != drive.group]
        actual = drive.samples.remaining_s
        straight = drive.samples.geodesic_m / STRAIGHT_MPS
        stats: dict[str, ErrorStats] = {
            "straight": evaluate(straight, actual),
            "default": evaluate(predictions(drive, default), actual),
        }
        totals["straight"].append(straight - actual)
        totals["default"].append(predictions(drive, default) - actual)
        if others:
            fit = fits.get(drive.group) or calibrate(DriveSamples.concat(others))
            fits[drive.group] = fit
            calibrated = fit.model(PRIORITY, default)
            stats["calibrated"] = evaluate(predictions(drive, calibrated), actual)
            totals["calibrated"].append(predictions(drive, calibrated) - actual)
        cells = [_cell(stats.get(k)) for k in ("straight", "default", "calibrated")]
        print(f"{drive.name:<55} {len(actual):>6}  " + "  ".join(f"{c:>24}" for c in cells))
    pooled = [_cell(_pooled(totals[k])) for k in ("straight", "default", "calibrated")]
    print(f"{'all drives':<55} {sum(len(d.samples) for d in drives):>6}  " + "  ".join(f"{c:>24}" for c in pooled))
    print("\ncalibrations (each on the drives other than the ones named):")
    for group, fit in fits.items():
        print(f"  without {group}: {fit}")


def _pooled(errors: list[np.ndarray]) -> ErrorStats | None:  # type: ignore[type-arg]
    if not errors:
        return None
    error = np.concatenate(errors)
    return evaluate(error, np.zeros_like(error))


def _cell(stats: ErrorStats | None) -> str:
    if stats is None or stats.n == 0:
        return "-"
    return f"{stats.median_abs_s:.0f} / {stats.p90_abs_s:.0f} / {stats.bias_s:+.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--drives", type=Path, help="directory of recorded drives (*.jsonl)")
    parser.add_argument("--synthetic", type=int, default=3, metavar="SEEDS",
                        help="synthetic drives per route and direction (0: none)")  # fmt: skip
    args = parser.parse_args(argv)
    directory: Path = args.drives or DEFAULT_DRIVES
    if not directory.is_dir():
        print(f"eta_accuracy: no drives directory at {directory} (give one with --drives)", file=sys.stderr)
        return 2
    drives = real_drives(directory)
    if len(drives) < 2:
        print(f"eta_accuracy: need at least two drives in {directory}", file=sys.stderr)
        return 2
    report(f"Recorded drives in {directory}", drives)
    if args.synthetic > 0:
        report("Synthetic drives (simulators' drive planner; calibrated on the other routes)",
               synthetic_drives(args.synthetic))  # fmt: skip
    else:
        print("\nSynthetic drives: skipped (--synthetic 0).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
