from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from collector.calibrate import (
    DriveSamples,
    Track,
    TrackError,
    calibrate,
    cut_at_arrival,
    drive_samples,
    evaluate,
    load_jsonl,
)
from collector.eta import SpeedProfile, TravelModel, geodesic_m
from tests.conftest import DATA

DRIVES = DATA / "drives"
BAREFOOT = DRIVES / "barefoot__x0001-001.jsonl"
MUNICH = DRIVES / "genivi__munich-gps.jsonl"


def test_the_fit_recovers_known_parameters() -> None:
    rng = np.random.default_rng(3)
    geo = rng.uniform(300, 15_000, 2000)
    truth = SpeedProfile(cruise_mps=17.0, accel_mps2=0.09)
    path = 1.3 * geo * rng.uniform(0.97, 1.03, len(geo))
    remaining = truth.travel_time(1.3 * geo) + rng.normal(0, 5, len(geo))
    fit = calibrate(DriveSamples(geo, path, remaining))
    assert fit.circuity == pytest.approx(1.3, abs=0.01)
    assert fit.profile.cruise_mps == pytest.approx(17.0, abs=1.0)
    assert fit.profile.accel_mps2 == pytest.approx(0.09, rel=0.15)
    assert fit.fit.median_abs_s < 10 and fit.samples == 2000
    assert "circuity 1.3" in str(fit)
    with pytest.raises(ValueError, match="at least 10"):
        calibrate(DriveSamples(geo[:5], path[:5], remaining[:5]))


def test_samples_are_the_points_1_to_15_minutes_before_the_end() -> None:
    # A straight drive north at 10 m/s for 20 minutes.
    t = np.arange(0, 1201, 1.0)
    lat = 53.0 + t * 10 / 111_250
    track = Track(t, lat, np.full_like(t, -1.0))
    samples = drive_samples(track)
    assert samples.remaining_s.min() == 60 and samples.remaining_s.max() == 900 and len(samples) == 841
    assert np.allclose(samples.path_m, samples.geodesic_m, rtol=1e-6)
    assert samples.path_m[0] == pytest.approx(9000, rel=0.01)


def test_jumps_are_removed() -> None:
    t = np.arange(10, dtype=float)
    lat = 53.0 + t * 10 / 111_250
    lat[4] += 0.01  # 1.1 km away for one second
    track = Track(t, lat, np.full_like(t, -1.0)).without_jumps()
    assert len(track) == 9 and 4.0 not in track.time.tolist()
    assert len(Track(np.array([0.0, 0.0]), np.array([1.0, 1.0]), np.array([1.0, 1.0])).without_jumps()) == 1


def test_cut_at_arrival() -> None:
    t = np.arange(0, 600, 1.0)
    lat = 53.0 + t * 10 / 111_250  # north at 10 m/s
    track = Track(t, lat, np.full_like(t, -1.0))
    destination = (float(lat[400]), -1.0)
    part = cut_at_arrival(track, *destination, start=100.0, radius_m=50.0)
    assert part is not None and part.time[0] == 100.0 and part.time[-1] == pytest.approx(395.0, abs=1)
    assert cut_at_arrival(track, 54.0, -1.0, start=0.0) is None  # never got there
    assert cut_at_arrival(track, *destination, start=599.5) is None


def test_load_jsonl_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"time": "2026-11-28T09:00:00Z", "lat": 1, "lon": 1}\n{"time": "noon", "lat": 1, "lon": 1}\n')
    with pytest.raises(TrackError, match="line 2"):
        load_jsonl(bad)
    with pytest.raises(TrackError, match="opening"):
        load_jsonl(tmp_path / "missing.jsonl")


def test_recorded_drives_calibrate_and_beat_the_defaults_on_their_own_data() -> None:
    barefoot = load_jsonl(BAREFOOT)
    cleaned = barefoot.without_jumps()
    assert len(barefoot) - len(cleaned) >= 1  # the 470 m jump
    speeds = geodesic_m(cleaned.lat[:-1], cleaned.lon[:-1], cleaned.lat[1:], cleaned.lon[1:]) / np.diff(cleaned.time)
    assert speeds.max() < 70
    samples = drive_samples(cleaned)
    fit = calibrate(samples)
    assert 1.0 <= fit.circuity <= 2.0
    default = TravelModel()
    before = evaluate(default.travel_time(samples.geodesic_m, 4), samples.remaining_s)
    after = evaluate(fit.model(priority=4).travel_time(samples.geodesic_m, 4), samples.remaining_s)
    assert after.median_abs_s < before.median_abs_s
    assert math.isfinite(after.p90_abs_s) and after.n == len(samples)

    # Fitted on one drive, measured on another: finite, and not absurd.
    munich = drive_samples(load_jsonl(MUNICH).without_jumps())
    other = evaluate(fit.model(priority=4).travel_time(munich.geodesic_m, 4), munich.remaining_s)
    assert other.n > 500 and other.median_abs_s < 900
