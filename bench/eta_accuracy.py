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

Real drives: the recorded drives directory (``--drives``; by default
``../shared/drives`` beside the repository). Their README gives sources and
licences; jumps of the GPS are filtered out before use.

Synthetic drives with ground truth (the simulators' ``drive`` command) are the
other half: ``synthetic_drives()`` is the hook that supplies them; until the
simulators provide drives it reports that they are unavailable. The evaluation
then calibrates on drives of one route geometry and evaluates on the others.

    python bench/eta_accuracy.py [--drives DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from collector.calibrate import DriveSamples, ErrorStats, Track, calibrate, drive_samples, evaluate, load_jsonl
from collector.eta import TravelModel

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DRIVES = (REPO.parent / "shared" / "drives", Path("/work/shared/drives"))
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


def synthetic_drives() -> list[Drive]:
    """Hook for the synthetic half: drives made by the simulators' ``drive``
    command, with exact arrival times, each tagged with its route so that
    calibration and evaluation never share a route geometry. Return
    ``drives_from_tracks([(name, route_id, track), ...])``; raise LookupError
    while the simulators cannot make them."""
    raise LookupError("the simulators' drive command is not available yet")


def predictions(drive: Drive, model: TravelModel) -> np.ndarray:  # type: ignore[type-arg]
    return model.travel_time(drive.samples.geodesic_m, PRIORITY)


def report(title: str, drives: Sequence[Drive]) -> None:
    default = TravelModel(turnout_s=0.0)
    print(f"\n{title}: predictions from 1 to 15 minutes before arrival")
    print(f"{'drive':<55} {'points':>6}  {'straight 50 km/h':>24}  {'default model':>24}  {'calibrated on others':>24}")
    print(f"{'':<55} {'':>6}  " + "  ".join(f"{'median / p90 / bias (s)':>24}" for _ in range(3)))
    totals: dict[str, list[np.ndarray]] = {"straight": [], "default": [], "calibrated": []}  # type: ignore[type-arg]
    fits = []
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
            fit = calibrate(DriveSamples.concat(others))
            calibrated = fit.model(PRIORITY, default)
            stats["calibrated"] = evaluate(predictions(drive, calibrated), actual)
            totals["calibrated"].append(predictions(drive, calibrated) - actual)
            fits.append((drive.name, fit))
        cells = [_cell(stats.get(k)) for k in ("straight", "default", "calibrated")]
        print(f"{drive.name:<55} {len(actual):>6}  " + "  ".join(f"{c:>24}" for c in cells))
    pooled = [_cell(_pooled(totals[k])) for k in ("straight", "default", "calibrated")]
    print(f"{'all drives':<55} {sum(len(d.samples) for d in drives):>6}  " + "  ".join(f"{c:>24}" for c in pooled))
    print("\ncalibrations (each on the drives other than the one named):")
    for name, fit in fits:
        print(f"  without {name}: {fit}")


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
    args = parser.parse_args(argv)
    directory = args.drives or next((d for d in DEFAULT_DRIVES if d.is_dir()), DEFAULT_DRIVES[0])
    if not directory.is_dir():
        print(f"eta_accuracy: no drives directory at {directory} (give one with --drives)", file=sys.stderr)
        return 2
    drives = real_drives(directory)
    if len(drives) < 2:
        print(f"eta_accuracy: need at least two drives in {directory}", file=sys.stderr)
        return 2
    report(f"Recorded drives in {directory}", drives)
    try:
        report("Synthetic drives (simulators)", synthetic_drives())
    except LookupError as exc:
        print(f"\nSynthetic drives: skipped ({exc}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
