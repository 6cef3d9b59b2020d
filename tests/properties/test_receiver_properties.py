"""Properties of receiver configuration: any valid profile, sent to the emulated receiver of its
family, is acknowledged step by step and leaves the receiver in the profile's state; the
observation of any byte stream never raises and does not depend on how it was read."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent import ubx
from agent.nmea import format_sentence
from agent.receiver.messages import PMTK314_FIELDS, Answer, answer_to, build_steps
from agent.receiver.observe import Observer
from agent.receiver.profile import BAUDS, DYNAMIC_MODELS, REQUIRED_SENTENCES, SENTENCES, Family, Profile
from simulators.receiver import Family as SimFamily
from simulators.receiver import Receiver


@st.composite
def profiles(draw: st.DrawFn) -> Profile:
    family = draw(st.sampled_from(list(Family)))
    optional = [s for s in SENTENCES[family] if s not in REQUIRED_SENTENCES]
    extra = draw(st.lists(st.sampled_from(optional), unique=True, max_size=3))
    sentences = tuple(draw(st.permutations([*REQUIRED_SENTENCES, *extra])))
    return Profile(
        name="drawn", family=family, description="", rate_hz=draw(st.integers(1, 10)), sentences=sentences,
        baud=draw(st.none() | st.sampled_from(BAUDS)),
        dynamic_model=draw(st.none() | st.sampled_from(list(DYNAMIC_MODELS))) if family.is_ublox else None,
        sbas=None if family.is_ublox else draw(st.none() | st.booleans()),
        save=draw(st.booleans()) if family.is_ublox else False,
    )  # fmt: skip


def items(data: bytes) -> list[object]:
    return Observer().feed(data, now=0.0)


@settings(max_examples=150, deadline=None)
@given(profiles())
def test_every_step_is_acknowledged_and_the_receiver_ends_as_the_profile_says(profile: Profile) -> None:
    receiver = Receiver(SimFamily(profile.family.value))
    for step in build_steps(profile):
        # Framing round trip: what we built is read back as exactly one well-formed command.
        parsed = items(step.data)
        assert len(parsed) == 1
        answers = [answer_to(step.expect, item) for item in items(b"".join(receiver.receive(step.data)))]
        assert [a.answer for a in answers if a is not None] == [Answer.ACK], step
    state = receiver.state
    assert state.interval_ms == profile.interval_ms
    assert state.outputs is not None
    for kind in (*profile.sentences, *profile.turned_off):
        assert state.outputs.get(kind, 0) == (1 if kind in profile.sentences else 0), kind
    if profile.family is Family.MTK:
        assert all(state.outputs.get(k, 0) == (k in profile.sentences) for k in PMTK314_FIELDS if k)
        if profile.sbas is not None:
            assert state.sbas is profile.sbas and state.dgps_mode == (2 if profile.sbas else 0)
    elif profile.dynamic_model:
        assert state.dynamic_model == DYNAMIC_MODELS[profile.dynamic_model]
    assert state.baud == (profile.baud or 9600)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(1, 50), max_size=20))
def test_observer_takes_any_bytes_in_any_chunks(noise: bytes, cuts: list[int]) -> None:
    noise = noise.replace(b"\xb5", b"").replace(b"$", b"")  # no sync bytes that would swallow what follows
    data = noise + format_sentence("PMTK001", ["220", "3"]) + ubx.encode(ubx.ACK_ACK, b"\x06\x08") + noise
    data += format_sentence("GPGGA", ["080000.00", "5312.00", "N", "00124.00", "W", "1", "09", "1.0", "90.0", "M",
                                      "", "M", "", ""])  # fmt: skip
    whole = Observer()
    expected = whole.feed(data, now=0.0)
    chunked = Observer()
    got: list[object] = []
    i = 0
    for cut in cuts:
        got.extend(chunked.feed(data[i : i + cut], now=0.0))
        i += cut
    got.extend(chunked.feed(data[i:], now=0.0))
    assert got == expected
    assert ("PMTK001", ("220", "3")) in got and ubx.UbxFrame(0x05, 0x01, b"\x06\x08") in got
    assert (chunked.valid, dict(chunked.types)) == (whole.valid, dict(whole.types))
