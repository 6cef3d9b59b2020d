"""--faults: the spec, determinism, and what each kind does to a stream."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.decoder import NmeaDecoder
from agent.formatter import format_fix
from common.fix import Fix
from simulators.events import Epoch, Stall, Unplug
from simulators.faults import FaultError, FaultInjector, FaultSpec, parse_faults

T0 = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)


def epochs(n: int = 100) -> list[Epoch]:
    out = []
    for k in range(n):
        fix = Fix(T0 + dt.timedelta(seconds=k), 53.2 + k * 1e-4, -1.42, alt=90.0, speed=10.0, track=0.0, mode=3,
                  hdop=1.0, sats=9)  # fmt: skip
        out.append(Epoch(k * 1000, tuple(format_fix(fix, sentences=("GGA", "RMC", "ZDA"))), fix.time))
    return out


def inject(spec: str, seed: int = 1, n: int = 100) -> tuple[list[object], FaultInjector]:
    injector = FaultInjector(parse_faults(spec), seed)
    return list(injector.apply(epochs(n))), injector


def decode(items: list[object]) -> tuple[list[Fix], NmeaDecoder]:
    decoder = NmeaDecoder()
    data = b"".join(i.data for i in items if isinstance(i, Epoch))
    return decoder.feed(data) + decoder.finish(), decoder


def test_spec() -> None:
    spec = parse_faults("checksum=0.01,drop=0.02,garbage=0.005,truncate=0.01,dup=0.01,stall=30@120,"
                        "unplug=10@300,jump=0.001,rollover, stall=1@2")  # fmt: skip
    assert spec == FaultSpec(0.01, 0.02, 0.005, 0.01, 0.01, 0.001, 0, ((2000, 1000), (120000, 30000)),
                             ((300000, 10000),))  # fmt: skip
    assert parse_faults("rollover@60").rollover_from_ms == 60000
    assert parse_faults("").empty
    for bad in ("checksum=2", "nonsense=0.1", "drop", "stall=10", "unplug=a@1", "rollover=1", "dup=x"):
        with pytest.raises(FaultError):
            parse_faults(bad)


def test_deterministic() -> None:
    spec = "checksum=0.1,drop=0.1,garbage=0.1,truncate=0.1,dup=0.1,jump=0.05"
    assert inject(spec, 5)[0] == inject(spec, 5)[0]
    assert inject(spec, 5)[0] != inject(spec, 6)[0]


@pytest.mark.parametrize(
    ("spec", "check"),
    [
        ("checksum=0.2", lambda d, f: d.stats.rejected_checksum > 20 and len(f) < 100),
        ("drop=0.2", lambda d, f: d.stats.decoded < 250),
        ("garbage=0.2", lambda d, f: d.stats.framing.junk > 20 and len(f) == 100),
        ("truncate=0.2", lambda d, f: d.stats.missing_checksum > 20),
        ("dup=0.2", lambda d, f: d.stats.decoded > 320),
    ],
)
def test_each_rate_fault_shows(spec: str, check: object) -> None:
    items, injector = inject(spec)
    fixes, decoder = decode(items)
    assert check(decoder, fixes)  # type: ignore[operator]
    assert sum(injector.stats.counts.values()) > 0


def test_jump_and_rollover_are_valid_sentences() -> None:
    items, _ = inject("jump=0.1")
    fixes, decoder = decode(items)
    assert decoder.stats.rejected_checksum == 0 and len(fixes) == 100
    jumps = [f for k, f in enumerate(fixes) if abs(f.lat - (53.2 + k * 1e-4)) > 1e-3 or abs(f.lon + 1.42) > 1e-3]
    assert 3 <= len(jumps) <= 25
    items, _ = inject("rollover@50")
    fixes, decoder = decode(items)
    assert decoder.stats.rejected_checksum == 0
    assert [f.time.year for f in fixes[:50]] == [2026] * 50
    rolled = T0 - dt.timedelta(weeks=1024)
    assert all(f.time == rolled + dt.timedelta(seconds=k) for k, f in enumerate(fixes) if k >= 50)


def test_stall_and_unplug_leave_gaps() -> None:
    items, injector = inject("stall=10@20,unplug=5@60")
    assert [i for i in items if not isinstance(i, Epoch)] == [Stall(20000, 10000), Unplug(60000, 5000)]
    sent = [i.offset_ms // 1000 for i in items if isinstance(i, Epoch)]
    assert sent == [k for k in range(100) if not (20 <= k < 30 or 60 <= k < 65)]
    assert injector.stats.skipped_epochs == 15
