"""The ``Fix`` value: one position at one UTC instant, and its JSON form.

The agent's decoder makes them (:mod:`agent.fixes`), the wire carries them
(:mod:`common.wire`), the collector stores them and the simulators write them
as NMEA. Times are UTC with millisecond resolution, written as gpsd does.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Final

from common.errors import ActiveCallsError

__all__ = [
    "DAY_MS",
    "UTC",
    "Fix",
    "FixOutOfRangeError",
    "InvalidFixError",
    "format_time",
    "parse_time",
]

UTC: Final = dt.UTC
DAY_MS: Final = 86_400_000


class InvalidFixError(ActiveCallsError, ValueError):
    """A Fix field is missing, of the wrong type or out of range."""


class FixOutOfRangeError(InvalidFixError):
    """A Fix field of the right type whose value is outside its range (lat 91,
    negative speed): consumers count these apart from garbled payloads."""


def format_time(time: dt.datetime) -> str:
    """``2019-04-06T12:00:01.000Z``: UTC, milliseconds, as gpsd and our wire use.

    ``time`` must be UTC (a Fix's is): its ``+00:00`` becomes ``Z``."""
    return time.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_time(text: str) -> dt.datetime:
    """Inverse of :func:`format_time`; also accepts whole seconds and ``+00:00``."""
    if not isinstance(text, str) or not text.endswith(("Z", "+00:00")):
        raise InvalidFixError(f"time must be an ISO 8601 UTC string ending in Z, got {text!r}")
    try:
        parsed = dt.datetime.fromisoformat(text[:-1] if text.endswith("Z") else text)
    except ValueError:
        raise InvalidFixError(f"time is not ISO 8601: {text!r}") from None
    return parsed.replace(tzinfo=UTC)


_ZERO: Final = dt.timedelta(0)
_DEFAULT_MODE: Final = 2  # a fix that does not say: 2D
_REAL: Final = (float, int)
_RANGES: Final = (
    ("lat", -90.0, 90.0),
    ("lon", -180.0, 180.0),
    ("alt", -1_000.0, 100_000.0),
    ("speed", 0.0, 1_000.0),
    ("track", 0.0, 360.0),
    ("hdop", 0.0, 100.0),
)


def _check(name: str, value: Any, low: float, high: float) -> None:
    # type() rather than isinstance(): bool is an int but never a coordinate.
    if type(value) not in _REAL or not low <= value <= high:  # also rejects NaN
        if type(value) not in _REAL:
            raise InvalidFixError(f"{name} must be a number, got {value!r}")
        raise FixOutOfRangeError(f"{name} must be within [{low:g}, {high:g}], got {value!r}")


@dataclass(frozen=True, slots=True)
class Fix:
    """One position fix: what the receiver knew at one UTC instant.

    Optional fields are None when the receiver did not report them; they are
    then absent from the JSON form rather than null.
    """

    time: dt.datetime  # UTC, aware, millisecond resolution
    lat: float  # degrees, north positive
    lon: float  # degrees, east positive
    alt: float | None = None  # metres above mean sea level
    speed: float | None = None  # metres per second over ground
    track: float | None = None  # degrees true, [0, 360)
    mode: int = _DEFAULT_MODE  # 2 = 2D, 3 = 3D
    hdop: float | None = None
    sats: int | None = None  # satellites used

    def __post_init__(self) -> None:
        # One Fix is built per epoch on the hot path: check the common case
        # inline and only look for the culprit (and its message) on failure.
        time, lat, lon = self.time, self.lat, self.lon
        alt, speed, track, hdop, mode, sats = self.alt, self.speed, self.track, self.hdop, self.mode, self.sats
        if not (
            type(time) is dt.datetime
            and time.utcoffset() == _ZERO
            and type(lat) in _REAL
            and -90.0 <= lat <= 90.0  # also false for NaN
            and type(lon) in _REAL
            and -180.0 <= lon <= 180.0
            and (alt is None or (type(alt) in _REAL and -1_000.0 <= alt <= 100_000.0))
            and (speed is None or (type(speed) in _REAL and 0.0 <= speed <= 1_000.0))
            and (track is None or (type(track) in _REAL and 0.0 <= track <= 360.0))
            and (hdop is None or (type(hdop) in _REAL and 0.0 <= hdop <= 100.0))
            and type(mode) is int
            and (mode == 2 or mode == 3)
            and (sats is None or (type(sats) is int and 0 <= sats <= 255))
        ):
            self._explain_invalid()

    def _explain_invalid(self) -> None:
        time = self.time
        if not isinstance(time, dt.datetime) or time.utcoffset() != _ZERO:
            raise InvalidFixError(f"time must be an aware UTC datetime, got {time!r}")
        for name, low, high in _RANGES:
            value = getattr(self, name)
            if value is not None or name in ("lat", "lon"):
                _check(name, value, low, high)
        if type(self.mode) is not int or self.mode not in (2, 3):
            raise InvalidFixError(f"mode must be 2 or 3, got {self.mode!r}")
        # Only sats is left to be the culprit.
        error = FixOutOfRangeError if type(self.sats) is int else InvalidFixError
        raise error(f"sats must be an integer within [0, 255], got {self.sats!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form, as printed by ``activecalls-agent parse``."""
        out: dict[str, Any] = {"time": format_time(self.time), "lat": self.lat, "lon": self.lon}
        for name in ("alt", "speed", "track", "mode", "hdop", "sats"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def to_json(self) -> str:
        """``json.dumps(self.to_dict(), separators=(",", ":"))``, built directly:
        ``parse`` prints one per fix and json.dumps is most of its output cost.
        Numbers are finite ints and floats (checked on construction), whose
        repr is what json writes."""
        text = f'{{"time":"{format_time(self.time)}","lat":{self.lat!r},"lon":{self.lon!r}'
        if self.alt is not None:
            text += f',"alt":{self.alt!r}'
        if self.speed is not None:
            text += f',"speed":{self.speed!r}'
        if self.track is not None:
            text += f',"track":{self.track!r}'
        text += f',"mode":{self.mode!r}'
        if self.hdop is not None:
            text += f',"hdop":{self.hdop!r}'
        if self.sats is not None:
            text += f',"sats":{self.sats!r}'
        return text + "}"

    @classmethod
    def from_dict(cls, obj: Any) -> Fix:
        """Build from the JSON object form; unknown keys are ignored (the wire
        adds ``v``, ``unit`` and ``seq``). Raises InvalidFixError."""
        if not isinstance(obj, dict):
            raise InvalidFixError(f"a fix must be a JSON object, got {type(obj).__name__}")
        try:
            time = parse_time(obj["time"])
            lat, lon = obj["lat"], obj["lon"]
        except KeyError as exc:
            raise InvalidFixError(f"fix lacks {exc.args[0]!r}") from None
        get = obj.get
        mode = get("mode")  # the one optional field whose default is not None
        return cls(time, lat, lon, alt=get("alt"), speed=get("speed"), track=get("track"),
                   mode=_DEFAULT_MODE if mode is None else mode, hdop=get("hdop"), sats=get("sats"))  # fmt: skip

    @classmethod
    def from_json(cls, text: str | bytes) -> Fix:
        try:
            return cls.from_dict(json.loads(text))
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, InvalidFixError):
                raise
            raise InvalidFixError(f"not JSON: {exc}") from None
