"""The decoder against gpsd's own output on 102 real receiver recordings.

What is tested, per log (tests/data/gpsd/README.md explains the reference rule):
- matched: gpsd fixes for which we have a fix at the same UTC time (``NEAR_TIME``
  logs: within 1 s) and position (within 2e-6 deg). Every log must match all
  of gpsd's fixes, except the misses pinned in ``KNOWN_MISSES``;
- disagreements: our fixes at a gpsd fix's time whose position is not gpsd's:
  none, except those pinned in ``KNOWN_DISAGREEMENTS``;
- extras: our fixes at a time gpsd reported none: exactly the count pinned in
  ``EXTRAS`` (0 when absent), with the reason. A change in any of these
  numbers, better or worse, fails until the pin is updated on purpose.

"Same time" is the full date and time for the logs taken from gpsd's master
branch. For the logs from the gpsd 3.22 release (MANIFEST ``gpsd_commit`` 3.22)
it is the time of day: that release's harness moved dates before 2017 forward
by 1024 weeks, and not in every log alike (garmin17n.log keeps 2005 for one fix
and not the other), so their dates say nothing about the decoder.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable
from pathlib import Path

import pytest

from agent import nmea
from agent.decoder import NmeaDecoder
from common.fix import Fix
from tests.conftest import GPSD_CORPUS, gpsd_manifest
from tests.corpus.oracle import ReferenceFix, reference_fixes

POSITION_TOLERANCE = 2e-6  # degrees, about 0.2 m
ONE_SECOND = dt.timedelta(seconds=1)

MANIFEST = gpsd_manifest()
LOGS = sorted(MANIFEST)
RELEASE_3_22 = {name for name, row in MANIFEST.items() if row["gpsd_commit"] == "3.22"}

# Receivers that give the sentences of one burst different times (README):
# gpsd's epoch time is that of whichever sentence closed its cycle.
NEAR_TIME = {"eXplorist110.log", "humminbird-M37.log", "garmin48.log", "ch-4701.log"}

# gpsd fixes we do not produce, and why.
KNOWN_MISSES = {
    # Its sentences have no checksum at all; gpsd accepts them, we refuse
    # every line without one (cut-off and run-together lines look alike).
    "hp58534a.log": 1,
    # The chartplotter stamps GGA and GLL/RMC of one position with different
    # seconds; see KNOWN_DISAGREEMENTS. gpsd has fixes at times where our
    # fix holds the epoch's later position.
    "bundg_zeus_9.log": 25,
}

# Our fix and gpsd's at the same time with different positions.
KNOWN_DISAGREEMENTS = {
    # From 09:48:16 the B&G Zeus chartplotter stamps its GLL with the next
    # second, so one second's sentences hold two positions: RMC (and GLL) the
    # older, the GGA that follows them the newer. We take the epoch's last
    # position, as gpsd's own state does; gpsd's printed report for that
    # second is sometimes taken before that GGA arrived (it depends on where
    # the sounder's and compass's sentences fall), so it shows the older (24
    # epochs). At 09:48:55 the order changes back to GGA, GLL, RMC: we had
    # learned that GGA ends the cycle and reported at it, gpsd at the RMC.
    # test_zeus_disagreements_are_positions_of_the_same_second checks each one.
    "bundg_zeus_9.log": 25,
}

# Our fix and gpsd's at the same time with different positions.
KNOWN_DISAGREEMENTS = {
    # From 09:48:16 the B&G Zeus chartplotter stamps its GLL with the next
    # second, so one second's sentences hold two positions: RMC (and GLL) the
    # older, the GGA that follows them the newer. We take the epoch's last
    # position, as gpsd's own state does; gpsd's printed report for that
    # second is sometimes taken before that GGA arrived (it depends on where
    # the sounder's and compass's sentences fall), so it shows the older.
    # test_zeus_disagreements_are_gpsd_reporting_early checks each one.
    "bundg_zeus_9.log": 25,
}

# Our fixes at times gpsd reported none.
_FIRST = "the log's first fix: gpsd reports it before the epoch's RMC gave the date, so without a time (README)"
_LAST = "the log's last epoch: we flush it at end of file, gpsd waits for the next cycle to report it"
_LATER = "a later epoch gpsd reports without a time or not at all; not analysed, pinned so a change shows"
EXTRAS: dict[str, tuple[int, str]] = {
    **dict.fromkeys(
        [
            "beidou-bd.log", "beidou-gb.log", "blumax-gps009.log", "bn-9015.log", "garmin25lp.log", "geos-1m.log",
            "haicom-305N.log", "motorola-t805.log", "mtk-3301.log", "myguide-3100.log", "rgm3800.log", "tr737A+.log",
        ],
        (1, _FIRST),
    ),
    **dict.fromkeys(
        ["ait250.log", "ch-4701.log", "foretrex-201.log", "gps-360.log", "isync.log", "neo-m8n.log", "pharos-360.log"],
        (1, _LAST),
    ),
    **dict.fromkeys(
        [
            "gp-320fw-2019-03-28.log", "gp-320fw-2019-04-06-overflow.log", "magellan315.log", "rst39.log",
            "tn204.log", "ublox-lea-5h.log", "venus634lp.log",
        ],
        (1, _LATER),
    ),
    "bt451.log": (3, f"{_FIRST}; twice {_LATER}"),
    "eXplorist210.log": (3, "every other epoch: GGA and RMC of one burst a second apart, gpsd reports one time"),
    # 2 s cycle: RMC/GGA at t, GLL at t+1; gpsd keeps only t+1.
    "garmin48.log": (6, "RMC/GGA at t, GLL at t+1 every 2 s: gpsd keeps only t+1"),
    "humminbird-M37.log": (2, "RMC, GLL or GGA alternate; gpsd drops the first two epochs"),
}  # fmt: skip


def decode(path: Path, chunk: int | None = None) -> list[Fix]:
    data = path.read_bytes()
    decoder = NmeaDecoder(skip_comments=True)
    fixes: list[Fix] = []
    step = chunk or len(data) or 1
    for i in range(0, len(data), step):
        fixes.extend(decoder.feed(data[i : i + step]))
    fixes.extend(decoder.finish())
    return fixes


def close(fix: Fix, ref: ReferenceFix) -> bool:
    return abs(fix.lat - ref.lat) <= POSITION_TOLERANCE and abs(fix.lon - ref.lon) <= POSITION_TOLERANCE


def time_key(name: str, time: dt.datetime) -> Hashable:
    return time.time() if name in RELEASE_3_22 else time


def compare(name: str) -> tuple[int, int, list[str], list[Fix]]:
    """(reference fixes, matched, disagreements, extras) for one log."""
    path = GPSD_CORPUS / name
    refs = reference_fixes(path.with_name(name + ".chk"))
    ours = decode(path)
    ours_at: dict[Hashable, list[Fix]] = defaultdict(list)
    for fix in ours:
        ours_at[time_key(name, fix.time)].append(fix)
    refs_at: dict[Hashable, list[ReferenceFix]] = defaultdict(list)
    for ref in refs:
        refs_at[time_key(name, ref.time)].append(ref)
    offsets = (-ONE_SECOND, dt.timedelta(0), ONE_SECOND) if name in NEAR_TIME else (dt.timedelta(0),)
    matched = sum(
        any(close(f, ref) for offset in offsets for f in ours_at.get(time_key(name, ref.time + offset), ()))
        for ref in refs
    )
    disagreements = [
        f"ours {fix.to_json()} vs gpsd {refs_at[time_key(name, fix.time)]}"
        for fix in ours
        if time_key(name, fix.time) in refs_at and not any(close(fix, r) for r in refs_at[time_key(name, fix.time)])
    ]
    extras = [fix for fix in ours if time_key(name, fix.time) not in refs_at]
    return len(refs), matched, disagreements, extras


@pytest.mark.parametrize("name", LOGS)
def test_log_matches_gpsd(name: str) -> None:
    n_refs, matched, disagreements, extras = compare(name)
    assert int(MANIFEST[name]["oracle_fixes"]) == n_refs, "the reference rule or the log changed"
    assert n_refs - matched == KNOWN_MISSES.get(name, 0), f"{name}: {matched} of gpsd's {n_refs} fixes matched"
    assert len(disagreements) == KNOWN_DISAGREEMENTS.get(name, 0), disagreements
    expected, why = EXTRAS.get(name, (0, ""))
    assert len(extras) == expected, f"{name}: extra fixes {[f.to_json() for f in extras]} (pinned: {why or 'none'})"


def test_overall_recall() -> None:
    total = matched = disagreeing = 0
    for name in LOGS:
        n_refs, n_matched, disagreements, _ = compare(name)
        total, matched, disagreeing = total + n_refs, matched + n_matched, disagreeing + len(disagreements)
    assert (total, matched, disagreeing) == (2305, 2279, 25)


def test_zeus_disagreements_are_positions_of_the_same_second() -> None:
    """Each disagreement in bundg_zeus_9.log is between two positions the
    receiver gave for that second: ours from its last sentence before we
    reported, gpsd's from another."""
    name = "bundg_zeus_9.log"
    given: dict[int, list[tuple[float, float]]] = defaultdict(list)  # time of day -> positions, in order
    for line in (GPSD_CORPUS / name).read_bytes().splitlines():
        if line.startswith(b"$"):
            sentence = nmea.parse(line.rstrip())
            if isinstance(sentence, nmea.GGA | nmea.GLL | nmea.RMC) and sentence.lat is not None:
                assert sentence.tod_ms is not None and sentence.lon is not None
                given[sentence.tod_ms].append((sentence.lat, sentence.lon))
    refs = {ref.time: ref for ref in reference_fixes(GPSD_CORPUS / (name + ".chk"))}
    checked = 0
    for fix in decode(GPSD_CORPUS / name):
        ref = refs.get(fix.time)
        if ref is None or close(fix, ref):
            continue
        tod = (fix.time - fix.time.replace(hour=0, minute=0, second=0, microsecond=0)) // dt.timedelta(milliseconds=1)
        positions = given[tod]
        ours = {i for i, (lat, lon) in enumerate(positions) if max(abs(fix.lat - lat), abs(fix.lon - lon)) < 1e-8}
        theirs = {i for i, (lat, lon) in enumerate(positions) if max(abs(ref.lat - lat), abs(ref.lon - lon)) < 1e-8}
        assert ours and theirs and not ours & theirs, (fix, ref, positions)
        checked += 1
    assert checked == KNOWN_DISAGREEMENTS[name]


@pytest.mark.parametrize("name", LOGS)
def test_chunking_does_not_change_fixes(name: str) -> None:
    whole = decode(GPSD_CORPUS / name)
    assert decode(GPSD_CORPUS / name, chunk=1) == whole
    assert decode(GPSD_CORPUS / name, chunk=7) == whole


def test_known_traps() -> None:
    # firefly-II: every GGA fails its checksum, so fixes come from RMC alone:
    # 2D, no altitude, and every GGA is counted as rejected.
    decoder = NmeaDecoder(skip_comments=True)
    fixes = decoder.feed((GPSD_CORPUS / "firefly-II.log").read_bytes()) + decoder.finish()
    assert len(fixes) == 23 and all(f.alt is None and f.mode == 2 for f in fixes)
    assert decoder.stats.bad_checksum == 23
    # hemi: GGA quality 1 with 00 satellites is not a fix.
    assert len(decode(GPSD_CORPUS / "hemi.log")) == 6
    # Never a fix: eXplorist 110 and Holux GM-210.
    assert decode(GPSD_CORPUS / "eXplorist110.log") == []
    assert decode(GPSD_CORPUS / "holux-gm-210.log") == []
    # mtk-3301: seven 'V' RMCs carry 1980-01-05 and an impossible latitude
    # (89 deg 60'); only the four real fixes, all on 2008-08-23, come out.
    mtk = decode(GPSD_CORPUS / "mtk-3301.log")
    assert [f.time.date() for f in mtk] == [dt.date(2008, 8, 23)] * 4
    # saab-r4: AIS sentences are skipped, not decoded and not junk.
    decoder = NmeaDecoder(skip_comments=True)
    decoder.feed((GPSD_CORPUS / "saab-r4.log").read_bytes())
    assert decoder.stats.framing.encapsulated == 14
    # st-teseo: '$$' prefixes are harmless: every sentence but one decodes.
    decoder = NmeaDecoder(skip_comments=True)
    decoder.feed((GPSD_CORPUS / "st-teseo-liv4f.log").read_bytes())
    assert decoder.stats.rejected_checksum == 1 and decoder.stats.malformed == 0
    # quectel: a two-part GSV ends every cycle; after the fix at 02:20:38
    # come time-less no-fix GGA/RMC, which must not void it (gpsd reports it).
    assert dt.datetime(2020, 10, 7, 2, 20, 38, tzinfo=dt.UTC) in {f.time for f in decode(GPSD_CORPUS / "quectel.log")}
