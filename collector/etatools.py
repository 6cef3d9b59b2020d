"""The work behind ``activecalls-collector eta score``: read drives, build the method, score. A thin shell.

The scoring itself (trips, online replay, figures) is :mod:`collector.etascore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from collector.calibrate import Track, TrackError, load_jsonl
from collector.etascore import LearnedPredictor, Predictor, ReferencePredictor, Score, score
from collector.learn import ModelReference, Reference
from common.errors import ActiveCallsError

__all__ = ["ScoreError", "load_drive", "score_files"]


class ScoreError(ActiveCallsError):
    """A drive or an extract that cannot be scored on (one line)."""


def load_drive(path: Path) -> Track:
    """A drive: JSON lines of {"time", "lat", "lon"}, or an NMEA recording (decoded as the agent does)."""
    try:
        head = path.open("rb").read(512).lstrip()
    except OSError as exc:
        raise ScoreError(f"{path}: {exc.strerror or exc}") from None
    if head.startswith(b"{"):
        try:
            return load_jsonl(path)
        except TrackError as exc:
            raise ScoreError(str(exc)) from None
    from agent.decoder import NmeaDecoder

    decoder = NmeaDecoder(skip_comments=True)
    fixes = []
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 16):
            fixes += decoder.feed(chunk)
    fixes += decoder.finish()
    points = {f.time.timestamp(): (f.lat, f.lon) for f in fixes}
    if len(points) < 2:
        raise ScoreError(f"{path}: fewer than two positions (neither JSON lines of time, lat, lon nor NMEA with fixes)")
    return Track.from_points((t, lat, lon) for t, (lat, lon) in points.items())


def _reference(osm: Path | None) -> Reference:
    if osm is None:
        return ModelReference()
    from collector.roads.graph import RoadGraphError
    from collector.roads.osm import load_graph
    from collector.roads.times import RoadTimes, pair_times

    try:
        graph, _ = load_graph(osm)
    except RoadGraphError as exc:
        raise ScoreError(str(exc)) from None
    return partial(pair_times, RoadTimes(graph))


def score_files(paths: Sequence[Path], *, osm: Path | None = None, learn: bool = True) -> Score:
    """Score the collector's ETA method on recorded drives: the model (or, with ``osm``,
    the road router), learning from each drive's past unless ``learn`` is False."""
    drives = [(path.name, load_drive(path)) for path in paths]
    reference = _reference(osm)

    def make() -> Predictor:
        return LearnedPredictor(reference) if learn else ReferencePredictor(reference)

    return score(drives, make)
