"""The epoch assembler that turns sentences into fixes (:class:`common.fix.Fix`).

A receiver reports each navigation epoch as a burst of sentences (GGA, RMC,
GSA, VTG, ...) that share one UTC time of day. ``FixAssembler`` groups the
burst by that time, judges validity the way gpsd does, and emits at most one
``Fix`` per epoch. It is pure: no clock, no I/O; sentences in, fixes out.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from agent import nmea
from common.fix import DAY_MS, UTC, Fix, InvalidFixError

__all__ = ["AssemblerStats", "FixAssembler"]

# GPS broadcasts the week number in 10 bits, so it wraps every 1024 weeks;
# receivers with stale firmware then report dates 1024 weeks in the past.
GPS_WEEK_ROLLOVER: Final = dt.timedelta(weeks=1024)


# ---------------------------------------------------------------------------
# Epoch assembly


@dataclass(slots=True)
class AssemblerStats:
    epochs: int = 0  # distinct UTC times seen
    fixes: int = 0
    no_fix: int = 0  # epochs the receiver itself marked invalid, or without position
    frozen: int = 0  # epochs whose GGA repeated the previous GGA time
    undated: int = 0  # valid epochs before any RMC/ZDA date was known
    missed: int = 0  # epochs missing from the stream: time steps longer than the receiver's interval


class _Epoch:
    """What one burst of sentences with the same UTC time said.

    No __slots__ on purpose: the defaults are class attributes, so making one
    (once per epoch, on the hot path) sets a single field.
    """

    lat: float | None = None
    lon: float | None = None
    position_valid = False
    void = False  # an RMC said 'V'
    frozen = False
    date: dt.date | None = None
    alt: float | None = None
    sats: int | None = None
    hdop: float | None = None
    gsa_hdop: float | None = None
    speed: float | None = None
    track: float | None = None
    vtg_speed: float | None = None
    vtg_track: float | None = None
    fix_type: int | None = None
    last_key = ""
    emitted = False

    def __init__(self, tod: int) -> None:
        self.tod = tod

    def position(self, lat: float | None, lon: float | None) -> None:
        # gpsd keeps the position of the last valid sentence of the epoch,
        # also when the epoch's sentences disagree (a chartplotter that stamps
        # its RMC a second after the GGA and GLL of the same position).
        if lat is not None and lon is not None:
            self.lat, self.lon, self.position_valid = lat, lon, True


# Talkers whose GGA describes one constellation only (a Telit modem sends
# $GPGGA and $GAGGA in one epoch); their low satellite count is no verdict.
_SINGLE_CONSTELLATION: Final = frozenset({"GA", "GL", "GB", "BD", "GQ", "QZ", "GI"})


class FixAssembler:
    """Group sentences into epochs by UTC time and emit one Fix per valid epoch.

    An epoch is emitted when a sentence with another time arrives, when
    :meth:`flush` is called at end of stream, or, once learned, as soon as
    the sentence that closes this receiver's cycle arrives (as gpsd does), so
    a live fix is not held back for a whole cycle.

    ``week_rollover_reference``: dates before it are moved forward by whole
    1024-week eras (receivers with stale firmware report dates 19.6 years in
    the past). Use a date every genuine fix is known to be later than, e.g.
    the release date of the software; None (the default) keeps dates as sent,
    which is right for historical recordings.
    """

    def __init__(self, *, week_rollover_reference: dt.date | None = None, learn_cycle: bool = True) -> None:
        self.stats = AssemblerStats()
        self._reference = week_rollover_reference
        self._learn_cycle = learn_cycle
        self._epoch: _Epoch | None = None
        self._date: dt.date | None = None  # last known UTC date ...
        self._date_tod = 0  # ... and the time of day it was valid at
        self._last_gga_tod: dict[str, int] = {}
        self._cycle_end = ""  # key of the sentence that closes a cycle
        self._end_candidate = ""
        self._end_votes = 0
        self._interval = 0  # the shortest step between epochs seen: the receiver's interval (ms)
        self._midnight_date: dt.date | None = None  # cache: one datetime per day
        self._midnight = dt.datetime(1970, 1, 1, tzinfo=UTC)

    def feed(self, sentence: nmea.Sentence) -> tuple[Fix, ...]:
        """Take one decoded sentence; return the fixes it completed (0 to 2)."""
        kind = type(sentence)
        apply = _TIMED.get(kind)
        if apply is not None:
            tod = sentence.tod_ms  # type: ignore[union-attr]
            if tod is None:
                # A GGA/RMC/... with an empty time field (receivers send them
                # while they have no fix) names no epoch: applied to the open
                # one, its "no fix" would void a fix it is not part of.
                return ()
        else:
            apply = _UNTIMED.get(kind)
            if apply is None:  # nmea.Other
                return ()
            tod = None
        epoch = self._epoch
        closed = None
        if tod is not None and (epoch is None or tod != epoch.tod):
            if epoch is not None:
                closed = self._close(epoch)
                self._count_missed(tod - epoch.tod)
            epoch = self._epoch = _Epoch(tod)
            self.stats.epochs += 1
        elif epoch is None:
            return ()  # untimed sentence before the first timed one
        elif epoch.emitted:
            # More of a cycle we already reported: the learned end was wrong,
            # or the receiver repeats itself (frozen). Unlearn.
            self._cycle_end, self._end_votes = "", 0
            return ()
        apply(self, epoch, sentence)
        if kind is nmea.GSV and not sentence.last_part:  # type: ignore[union-attr]
            # A report in several parts ends a cycle only with its last part.
            return () if closed is None else (closed,)
        key = sentence.talker + kind.__name__
        epoch.last_key = key
        if key == self._cycle_end:
            fix = self._emit(epoch)
            if fix is not None:
                return (fix,) if closed is None else (closed, fix)
        return () if closed is None else (closed,)

    def _count_missed(self, step: int) -> None:
        if step < -DAY_MS // 2:
            step += DAY_MS  # past midnight
        if step <= 0:
            return  # a late sentence of an earlier epoch
        interval = self._interval
        if interval == 0 or step < interval:
            self._interval = step
        elif step * 2 > interval * 3:  # more than 1.5 intervals: whole epochs never arrived
            self.stats.missed += round(step / interval) - 1

    def flush(self) -> tuple[Fix, ...]:
        """End of stream: emit the epoch still open, if it is a fix."""
        epoch, self._epoch = self._epoch, None
        fix = None if epoch is None else self._emit(epoch)
        return () if fix is None else (fix,)

    # -- applying sentences: one handler per sentence type -----------------

    def _gga(self, e: _Epoch, s: nmea.GGA) -> None:
        if self._last_gga_tod.get(s.talker) == s.tod_ms:
            e.frozen = True  # gpsd: a GGA repeating the last GGA time is a stuck receiver
        self._last_gga_tod[s.talker] = s.tod_ms  # type: ignore[assignment]
        sats = s.sats
        few_sats = sats is not None and sats < 3 and s.talker not in _SINGLE_CONSTELLATION
        if s.quality and not few_sats:
            e.position(s.lat, s.lon)
            if s.alt is not None:
                e.alt = s.alt
        if sats is not None and (e.sats is None or sats > e.sats):
            e.sats = sats
        if s.hdop is not None:
            e.hdop = s.hdop

    def _rmc(self, e: _Epoch, s: nmea.RMC) -> None:
        if s.valid and s.mode != "N":
            e.position(s.lat, s.lon)
            if s.speed is not None:
                e.speed = s.speed
            if s.track is not None:
                e.track = s.track
            if s.date is not None:
                e.date = s.date
        else:
            # gpsd ignores the time and date of a 'V' RMC: receivers put
            # placeholders there (MTK: 1980-01-05).
            e.void = True

    def _gns(self, e: _Epoch, s: nmea.GNS) -> None:
        if s.modes.strip("N"):  # one character per constellation, N = no fix
            e.position(s.lat, s.lon)
            if s.alt is not None:
                e.alt = s.alt
        if s.sats is not None and (e.sats is None or s.sats > e.sats):
            e.sats = s.sats
        if s.hdop is not None and e.hdop is None:
            e.hdop = s.hdop

    def _gll(self, e: _Epoch, s: nmea.GLL) -> None:
        if s.valid:
            e.position(s.lat, s.lon)

    def _vtg(self, e: _Epoch, s: nmea.VTG) -> None:
        if s.valid:
            if s.speed is not None:
                e.vtg_speed = s.speed
            if s.track is not None:
                e.vtg_track = s.track

    def _gsa(self, e: _Epoch, s: nmea.GSA) -> None:
        if s.fix_type is not None and (e.fix_type is None or s.fix_type > e.fix_type):
            e.fix_type = s.fix_type
        if s.hdop is not None:
            e.gsa_hdop = s.hdop

    def _gsv(self, e: _Epoch, s: nmea.GSV) -> None:
        pass  # satellites in view: diagnostics only, not part of a fix

    def _zda(self, e: _Epoch, s: nmea.ZDA) -> None:
        if s.date is not None:
            e.date = s.date

    # -- closing epochs ----------------------------------------------------

    def _close(self, epoch: _Epoch) -> Fix | None:
        """A new time arrived: the epoch is over; learn how cycles end."""
        if epoch.emitted:
            return None
        if self._learn_cycle:
            key = epoch.last_key
            if key == self._end_candidate:
                self._end_votes += 1
            else:
                self._end_candidate, self._end_votes = key, 1
            if self._end_votes >= 3:
                self._cycle_end = key
        return self._emit(epoch)

    def _emit(self, e: _Epoch) -> Fix | None:
        if e.emitted:
            return None
        e.emitted = True
        date = self._epoch_date(e)
        stats = self.stats
        if e.frozen:
            stats.frozen += 1
            return None
        lat, lon = e.lat, e.lon
        if not e.position_valid or e.void or lat is None or lon is None:
            stats.no_fix += 1
            return None
        if not (math.isfinite(lat) and math.isfinite(lon)):
            stats.no_fix += 1  # minutes >= 60 or degrees out of range
            return None
        if date is None:
            stats.undated += 1
            return None
        speed = e.speed if e.speed is not None else e.vtg_speed
        track = e.track if e.track is not None else e.vtg_track
        hdop = e.hdop if e.hdop is not None else e.gsa_hdop
        if e.fix_type == 2 or e.fix_type == 3:
            mode = e.fix_type
        else:
            mode = 3 if e.alt is not None and (e.sats is None or e.sats >= 4) else 2
        if date != self._midnight_date:
            self._midnight_date = date
            self._midnight = dt.datetime(date.year, date.month, date.day, tzinfo=UTC)
        try:
            fix = Fix(
                self._midnight + dt.timedelta(milliseconds=e.tod),
                # Rounded to 0.1 mm and 1 mm: short, exact JSON. round(x * k) / k
                # gives the same doubles as round(x, n) and is 3x faster.
                round(lat * 1e9) / 1e9,
                round(lon * 1e9) / 1e9,
                None if e.alt is None else round(e.alt * 1e3) / 1e3,
                None if speed is None else round(speed * 1e3) / 1e3,
                None if track is None or not 0.0 <= track < 360.0 else track,
                mode,
                None if hdop is None or not 0.0 <= hdop <= 100.0 else hdop,
                e.sats if e.sats is None or e.sats <= 255 else None,
            )
        except InvalidFixError:
            # Altitude or speed out of any plausible range: the receiver's
            # own fault, and not a fix we can report.
            stats.no_fix += 1
            return None
        stats.fixes += 1
        return fix

    def _epoch_date(self, e: _Epoch) -> dt.date | None:
        """The epoch's own date, or the last one known, carried over midnight."""
        if e.date is not None:
            date = e.date
            if self._reference is not None:
                while date < self._reference:
                    date += GPS_WEEK_ROLLOVER
            self._date, self._date_tod = date, e.tod
            return date
        if self._date is None:
            return None
        date = self._date
        if e.tod < self._date_tod - DAY_MS // 2:
            date += dt.timedelta(days=1)  # time wrapped past midnight
        elif e.tod > self._date_tod + DAY_MS // 2:
            date -= dt.timedelta(days=1)  # a late sentence from before midnight
        self._date, self._date_tod = date, e.tod
        return date


_Handler = Callable[[FixAssembler, _Epoch, Any], None]
# Sentences that carry a UTC time (and so open or continue an epoch) ...
_TIMED: Final[dict[type, _Handler]] = {
    nmea.GGA: FixAssembler._gga,
    nmea.RMC: FixAssembler._rmc,
    nmea.GNS: FixAssembler._gns,
    nmea.GLL: FixAssembler._gll,
    nmea.ZDA: FixAssembler._zda,
}
# ... and those that belong to whichever epoch is open.
_UNTIMED: Final[dict[type, _Handler]] = {
    nmea.VTG: FixAssembler._vtg,
    nmea.GSA: FixAssembler._gsa,
    nmea.GSV: FixAssembler._gsv,
}
