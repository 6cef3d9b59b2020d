"""Fault injection never forges a sentence: anything that still passes its
checksum was in the input, byte for byte (jump and rollover excepted: they
write valid sentences on purpose)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent import nmea
from agent.formatter import format_fix
from agent.framer import LineFramer
from simulators.events import Epoch
from simulators.faults import FaultInjector, FaultSpec
from tests.strategies import fixes

rates = st.floats(0.0, 1.0)
specs = st.builds(FaultSpec, checksum=rates, drop=rates, garbage=rates, truncate=rates, dup=rates)
junk = st.binary(max_size=40).map(lambda b: b + b"\n") | st.just(b"$GPGGA,12")


def valid_sentences(data: bytes) -> set[bytes]:
    framer = LineFramer()
    found = set()
    for candidate in framer.feed(data) + framer.flush():
        try:
            nmea.parse(candidate)
        except nmea.NmeaError:
            continue
        found.add(candidate)
    return found


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(fixes().map(lambda f: b"".join(format_fix(f))), junk), min_size=1, max_size=8),
       specs, st.integers(0, 2**32))  # fmt: skip
def test_faults_never_forge_a_valid_sentence(chunks: list[bytes], spec: FaultSpec, seed: int) -> None:
    lines = tuple(line for chunk in chunks for line in chunk.splitlines(keepends=True))
    epochs = [Epoch(k * 1000, lines[k : k + 3]) for k in range(0, len(lines), 3)]
    out = b"".join(item.data for item in FaultInjector(spec, seed).apply(epochs) if isinstance(item, Epoch))
    assert valid_sentences(out) <= valid_sentences(b"".join(lines))
