"""The public policy on worked examples: a call's life, hidden units, modes, the
grid's CRS, config errors, the table and the checkers themselves."""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable

import pytest

from collector.public import (
    PseudonymSecretError,
    PublicConfigError,
    PublicPolicy,
    PublicState,
    PublicStateError,
    Snapshot,
    UnitInput,
    UnitsMode,
    check_secret,
    format_table,
    grid_for,
    serialize,
    snapshot,
    unit_pseudonym,
    utm_epsg,
)
from common.fix import Fix
from common.wire import DutyStatus, Incident, IncidentStatus
from tests.public_checks import check_absent, check_calls, check_units

UTC = dt.UTC
SECRET = b"public-feed-test-secret-0123456789"
T0 = dt.datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
CENTRE = (53.235, -1.421)  # Chesterfield
GRID = grid_for(utm_epsg(*CENTRE), 500.0)
ORIGIN = GRID.centre_xy(GRID.cell_at(*(GRID.project(*CENTRE) or (0.0, 0.0))))


def place(dx: float, dy: float) -> tuple[float, float]:
    """A point dx, dy metres from the centre of the centre's cell."""
    return GRID.unproject(ORIGIN[0] + dx, ORIGIN[1] + dy)


def minutes(m: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=m)


@functools.cache
def parked(where: tuple[float, float], until_min: int = 240) -> tuple[Fix, ...]:
    return tuple(Fix(minutes(m / 2), *where) for m in range(0, 2 * until_min))


Scene = Callable[[dt.datetime], tuple[list[UnitInput], list[Incident]]]


def play(policy: PublicPolicy, scene: Scene, until_min: int = 180) -> list[tuple[dt.datetime, Snapshot]]:
    """Snapshots every 30 s from T0, as the shell would make them."""
    state = PublicState()
    out = []
    for half_minutes in range(2 * until_min):
        now = minutes(half_minutes / 2)
        units, incidents = scene(now)
        snap, state = snapshot(policy, state, now, units, incidents, SECRET)
        check_units(snap.units, policy=policy, grid=GRID, now=now)
        check_calls(snap.calls, policy=policy, grid=GRID, now=now)
        out.append((now, snap))
    return out


def call_life(now: dt.datetime) -> tuple[list[UnitInput], list[Incident]]:
    """A burglary opened 08:05:30; PC-101 assigned 08:06, on scene 08:10, call closed 08:40."""
    incidents = []
    if now >= minutes(5.5):
        status = IncidentStatus.CLOSED if now >= minutes(40) else IncidentStatus.OPEN
        incidents.append(
            Incident("CAD-0042", "Burglary Dwelling", 2, *place(1200, 0), status, minutes(5.5), ("PC-101",))
        )
    if now < minutes(6):
        duty = DutyStatus.AVAILABLE
    elif now < minutes(10):
        duty = DutyStatus.ENROUTE
    elif now < minutes(40):
        duty = DutyStatus.ONSCENE
    else:
        duty = DutyStatus.AVAILABLE
    return [UnitInput("PC-101", duty, parked(place(0, 0)))], incidents


def first(
    history: list[tuple[dt.datetime, Snapshot]], predicate: Callable[[Snapshot], bool], after: dt.datetime = T0
) -> dt.datetime:
    return next(now for now, snap in history if now >= after and predicate(snap))


def call_status(snap: Snapshot) -> str | None:
    features = snap.calls["features"]
    return features[0]["properties"]["status"] if features else None


def test_a_call_appears_late_then_attending_closed_and_gone_each_a_delay_after_the_fact() -> None:
    history = play(PublicPolicy(), call_life)
    assert first(history, lambda s: call_status(s) is not None) == minutes(16)  # opened 08:05:30 + 600 s, floored
    assert first(history, lambda s: call_status(s) == "attending") == minutes(25)  # on scene 08:10 + 900 s
    assert first(history, lambda s: call_status(s) == "closed") == minutes(55)  # closed 08:40 + 900 s
    assert first(history, lambda s: call_status(s) is None, after=minutes(55)) == minutes(85)  # + linger 1800 s
    snap = dict(history)[minutes(30)]
    (feature,) = snap.calls["features"]
    assert feature["properties"]["category"] == "burglary"
    assert feature["properties"]["opened"] == "2026-11-28T08:05:00Z"
    assert tuple(reversed(feature["geometry"]["coordinates"])) == GRID.snap(*place(1200, 0))
    check_absent(serialize(snap.calls), ["CAD-0042", "Burglary Dwelling", "PC-101"])


def test_a_unit_is_shown_as_it_was_a_delay_ago() -> None:
    history = play(PublicPolicy(), call_life, until_min=60)
    assert all(s.units["features"] == [] for now, s in history if now < minutes(15))  # nothing observed that long ago
    statuses = {now: [f["properties"]["status"] for f in s.units["features"]] for now, s in history}
    assert statuses[minutes(15)] == ["available"]
    assert statuses[minutes(21)] == ["enroute"]  # assigned 08:06, shown 08:21
    assert statuses[minutes(25)] == ["onscene"]
    assert statuses[minutes(55)] == ["available"]
    token = unit_pseudonym(SECRET, "PC-101", T0.date())
    assert {f["properties"]["unit"] for _, s in history for f in s.units["features"]} == {token}


def test_an_unavailable_unit_vanishes_and_comes_back_a_delay_later() -> None:
    def scene(now: dt.datetime) -> tuple[list[UnitInput], list[Incident]]:
        duty = DutyStatus.UNAVAILABLE if minutes(20) <= now < minutes(50) else DutyStatus.AVAILABLE
        return [UnitInput("PC-7", duty, parked(place(100, 100)))], []

    shown = {now: bool(s.units["features"]) for now, s in play(PublicPolicy(), scene, until_min=90)}
    assert shown[minutes(34.5)] and not shown[minutes(35)]
    assert not shown[minutes(64.5)] and shown[minutes(65)]


_DOMESTIC: dict[str, tuple[Fix, ...]] = {}


def _domestic_fixes(at: Callable[[float], tuple[float, float]]) -> tuple[Fix, ...]:
    if "fixes" not in _DOMESTIC:
        _DOMESTIC["fixes"] = tuple(Fix(minutes(m / 6), *at(m / 6)) for m in range(0, 6 * 240))
    return _DOMESTIC["fixes"]


def test_after_a_gap_in_snapshots_units_wait_to_be_observed_again() -> None:
    """The service is down 08:30-09:00 while the car goes off duty and back: on
    restart nobody knows its status at 08:45, so it is not shown as available."""
    where = parked(place(0, 0))

    def status(now: dt.datetime) -> DutyStatus:
        return DutyStatus.UNAVAILABLE if minutes(35) <= now < minutes(50) else DutyStatus.AVAILABLE

    state = PublicState()
    shown = {}
    for half_minutes in [*range(0, 61), *range(120, 181)]:
        now = minutes(half_minutes / 2)
        units = [UnitInput("PC-5", status(now), where)]
        snap, state = snapshot(PublicPolicy(), state, now, units, [], SECRET)
        shown[now] = bool(snap.units["features"])
    assert shown[minutes(30)]
    assert not any(shown[minutes(m / 2)] for m in range(120, 150))  # 09:00-09:14:30: unknown, hidden
    assert shown[minutes(75)]  # as of 09:00, when it was seen available


def domestic(now: dt.datetime) -> tuple[list[UnitInput], list[Incident]]:
    """PC-9 drives 2 km to a domestic (08:10-08:20), stays 40 min, is released
    at 09:00, sits at the scene 20 min, then drives 1.5 km away by 09:30."""
    scene = (2000.0, 0.0)

    def at(m: float) -> tuple[float, float]:
        if m < 10:
            return place(0, 0)
        if m < 20:
            return place(scene[0] * (m - 10) / 10, 0)
        if m < 80:
            return place(*scene)
        if m < 90:
            return place(scene[0], 1500 * (m - 80) / 10)
        return place(scene[0], 1500)

    fixes = _domestic_fixes(at)
    assigned = minutes(10) <= now < minutes(60)
    duty = DutyStatus.ONSCENE if minutes(20) <= now < minutes(60) else DutyStatus.AVAILABLE
    if minutes(10) <= now < minutes(20):
        duty = DutyStatus.ENROUTE
    incident = Incident(
        "CAD-7", "DOMESTIC", 1, *place(*scene), IncidentStatus.OPEN, minutes(9), ("PC-9",) if assigned else ()
    )
    return [UnitInput("PC-9", duty, fixes)], [incident] if now >= minutes(9) else []


def test_a_unit_on_a_suppressed_call_is_hidden_until_it_has_left_the_scene() -> None:
    history = play(PublicPolicy(units=UnitsMode.IDS), domestic, until_min=150)
    shown = {now: s.units["features"] for now, s in history}
    assert shown[minutes(24.5)]  # as of 08:09, before the assignment
    assert not any(shown[minutes(m / 2)] for m in range(50, 2 * 90))  # assigned 08:10, released 09:00: hidden
    # Released but still at the scene (09:00-09:20), then driving away: hidden until a cell away from it.
    reappear = next(now for now, s in history if now >= minutes(90) and s.units["features"])
    assert minutes(80 + 15) < reappear <= minutes(90 + 15)
    lon, lat = shown[reappear][0]["geometry"]["coordinates"]
    xy = GRID.project(lat, lon)
    assert xy is not None and abs(xy[0] - (ORIGIN[0] + 2000)) + abs(xy[1] - ORIGIN[1]) >= 500
    assert all(c["properties"]["category"] != "domestic_abuse" for _, s in history for c in s.calls["features"])
    assert all(s.calls["features"] == [] for _, s in history)


def test_a_released_unit_that_stays_put_reappears_after_the_linger_time() -> None:
    def scene(now: dt.datetime) -> tuple[list[UnitInput], list[Incident]]:
        units, incidents = domestic(now)
        return [UnitInput("PC-9", units[0].status, parked(place(2000, 0)))], incidents

    history = play(PublicPolicy(units=UnitsMode.IDS, linger_s=600), scene, until_min=120)
    reappear = next(now for now, s in history if now >= minutes(75) and s.units["features"])
    assert reappear == minutes(60 + 15 + 10)  # released 09:00, shown as of 09:00 at 09:15, + linger 600 s


def test_counts_mode_publishes_only_counts_per_cell_and_status() -> None:
    def scene(now: dt.datetime) -> tuple[list[UnitInput], list[Incident]]:
        return [
            UnitInput("PC-1", DutyStatus.AVAILABLE, parked(place(10, 10))),
            UnitInput("PC-2", DutyStatus.AVAILABLE, parked(place(-100, 50))),
            UnitInput("PC-3", DutyStatus.ENROUTE, parked(place(0, 0))),
            UnitInput("PC-4", DutyStatus.AVAILABLE, parked(place(3000, 0))),
        ], []

    policy = PublicPolicy(units=UnitsMode.COUNTS)
    _, snap = play(policy, scene, until_min=20)[-1]
    props = [f["properties"] for f in snap.units["features"]]
    assert sorted((p["status"], p["count"]) for p in props) == [("available", 1), ("available", 2), ("enroute", 1)]
    check_absent(serialize(snap.units), ["PC-"])


def test_ids_are_published_only_when_configured() -> None:
    def scene(now: dt.datetime) -> tuple[list[UnitInput], list[Incident]]:
        return [UnitInput("PC-1", DutyStatus.AVAILABLE, parked(place(10, 10)))], []

    _, snap = play(PublicPolicy(units=UnitsMode.IDS), scene, until_min=20)[-1]
    assert [f["properties"]["unit"] for f in snap.units["features"]] == ["PC-1"]
    _, snap = play(PublicPolicy(), scene, until_min=20)[-1]
    check_absent(serialize(snap.units), ["PC-1"])


def test_the_grid_is_chosen_once_from_the_data_and_kept() -> None:
    units = [UnitInput("PC-1", DutyStatus.AVAILABLE, parked(place(0, 0)))]
    _, state = snapshot(PublicPolicy(), PublicState(), minutes(30), units, [], SECRET)
    assert state.epsg == 32630  # Chesterfield is in UTM zone 30N
    # Even if the fleet later sits in the next zone east, the grid does not move.
    east = [UnitInput("PC-1", DutyStatus.AVAILABLE, parked((53.0, 3.5)))]
    _, state = snapshot(PublicPolicy(), state, minutes(31), east, [], SECRET)
    assert state.epsg == 32630
    # A configured CRS wins, and cells remembered on the old grid are dropped.
    assert state.units["PC-1"].cell is not None
    _, state = snapshot(PublicPolicy(epsg=27700), state, minutes(31), [], [], SECRET)
    assert state.epsg == 27700 and state.units == {}


def test_a_position_older_than_stale_s_is_not_shown() -> None:
    def scene(now: dt.datetime) -> tuple[list[UnitInput], list[Incident]]:
        return [UnitInput("PC-1", DutyStatus.AVAILABLE, (Fix(T0, *place(0, 0)),))], []

    shown = {now: bool(s.units["features"]) for now, s in play(PublicPolicy(stale_s=300), scene, until_min=40)}
    assert shown[minutes(15)] and shown[minutes(20)] and not shown[minutes(21)]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"unit_delay_s": -1}, "unit_delay_s must be an integer from 0"),
        ({"call_delay_s": 1.5}, "call_delay_s must be an integer"),
        ({"cell_m": 10}, "cell_m must be a number of metres from 50"),
        ({"cell_m": float("nan")}, "cell_m"),
        ({"hysteresis_m": 250}, "hysteresis_m must be at least 0 and less than half of cell_m"),
        ({"epsg": 4326}, "EPSG:4326 (WGS 84) is not a projected CRS in metres"),
        ({"epsg": 999999}, "EPSG:999999 is not a coordinate reference system"),
        ({"centre": (95.0, 0.0)}, "centre: lat must be a number within +-84"),
        ({"units": "names"}, "units must be one of 'pseudonyms', 'counts', 'ids'"),
        ({"categories": {"Burglary": "Burglary!"}}, "categories.Burglary: a category must be"),
        ({"suppressed": "welfare"}, "suppressed must be a list of categories"),
        ({"unknown_category": "Other Stuff"}, "unknown_category: a category must be"),
        ({"suppress_keywords": ["", "x"]}, "suppress_keywords: each must be a non-empty word"),
    ],
)
def test_a_bad_setting_is_one_clear_error_naming_it(settings: dict[str, object], message: str) -> None:
    with pytest.raises(PublicConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        PublicPolicy(**settings)  # type: ignore[arg-type]


def test_defaults_and_tuning() -> None:
    policy = PublicPolicy()
    assert (policy.unit_delay_s, policy.call_delay_s, policy.cell_m, policy.hysteresis) == (900, 600, 500.0, 125.0)
    assert policy.category("Domestic Abuse") is None
    assert policy.category("DOMESTIC-REPEAT-VICTIM") is None  # unknown, but a sensitive word
    assert policy.category("Loose Horse") == "other"  # unknown: the generic category, never the raw text
    assert policy.category("RTC") == "traffic"
    tuned = PublicPolicy(categories={"Loose Horse": "animal"}, suppressed=[], unknown_category=None)
    assert tuned.category("loose-horse") == "animal"
    assert tuned.category("domestic") is None  # not in this table: unknown, and unknown is suppressed here
    assert PublicPolicy(epsg=27700, cell_m=1000, hysteresis_m=0).hysteresis == 0.0
    assert PublicPolicy(unknown_category="").category("Loose Horse") is None


def test_secrets_and_clocks_are_checked() -> None:
    with pytest.raises(PseudonymSecretError, match="at least 16 bytes"):
        check_secret(b"short")
    with pytest.raises(PseudonymSecretError, match="placeholder"):
        check_secret(b"0" * 64)
    with pytest.raises(PseudonymSecretError):
        snapshot(PublicPolicy(), PublicState(), T0, [], [], b"")
    with pytest.raises(ValueError, match="aware UTC"):
        snapshot(PublicPolicy(), PublicState(), T0.replace(tzinfo=None), [], [], SECRET)


def test_a_damaged_state_is_a_state_error() -> None:
    for data in (b"", b"[]", b'{"v": 2}', b'{"v":1,"epsg":"x","cell_m":1,"units":{},"closed_seen":{}}'):
        with pytest.raises(PublicStateError):
            PublicState.from_json(data)


def test_serialization_is_deterministic_and_the_table_shows_it_all() -> None:
    history = play(PublicPolicy(), call_life, until_min=31)
    _, snap = history[-1]
    shuffled = copy.deepcopy(snap.units)
    shuffled = dict(reversed(list(shuffled.items())))
    assert serialize(shuffled) == serialize(snap.units)
    token = unit_pseudonym(SECRET, "PC-101", T0.date())
    lat, lon = GRID.snap(*place(0, 0)) or (0, 0)
    clat, clon = GRID.snap(*place(1200, 0)) or (0, 0)
    call = snap.calls["features"][0]["properties"]["call"]
    assert format_table(snap.units, snap.calls) == (
        "units as of 2026-11-28T08:15:00Z (delay 900 s, cell 500 m): 1 shown\n"
        "unit      status   lat        lon\n"
        f"{token}  onscene  {lat:.6f}  {lon:.6f}\n"
        "\n"
        "calls as of 2026-11-28T08:20:00Z (delay 600 s, cell 500 m, status as of 2026-11-28T08:15:00Z): 1 shown\n"
        "call      category  priority  status     opened                lat        lon\n"
        f"{call}  burglary  priority  attending  2026-11-28T08:05:00Z  {clat:.6f}  {clon:.6f}\n"
    )


def test_the_checkers_catch_what_they_are_for() -> None:
    """A checker that cannot fail proves nothing: break a good document each way."""
    policy = PublicPolicy()
    now, snap = play(policy, call_life, until_min=31)[-1]

    def broken(doc: dict, change: Callable[[dict], None]) -> dict:
        doc = copy.deepcopy(doc)
        change(doc)
        return doc

    def moved(doc: dict) -> None:
        doc["features"][0]["geometry"]["coordinates"][0] += 0.0005

    def speed(doc: dict) -> None:
        doc["features"][0]["properties"]["speed"] = 13.4

    def late(doc: dict) -> None:
        doc["as_of"] = "2026-11-28T08:30:00Z"

    def seconds(doc: dict) -> None:
        doc["features"][0]["properties"]["opened"] = "2026-11-28T08:05:30Z"

    def sensitive(doc: dict) -> None:
        doc["features"][0]["properties"]["category"] = "domestic_abuse"

    def unavailable(doc: dict) -> None:
        doc["features"][0]["properties"]["status"] = "unavailable"

    def unversioned(doc: dict) -> None:
        del doc["v"]

    def exact_priority(doc: dict) -> None:
        doc["features"][0]["properties"]["priority"] = 2

    def live_status(doc: dict) -> None:
        doc["status_as_of"] = doc["as_of"]  # the calls' own delay: shorter than the units'

    for change in (moved, speed, late, unavailable, unversioned):
        with pytest.raises(AssertionError):
            check_units(broken(snap.units, change), policy=policy, grid=GRID, now=now)
    for change in (moved, seconds, sensitive, unversioned, exact_priority, live_status):
        with pytest.raises(AssertionError):
            check_calls(broken(snap.calls, change), policy=policy, grid=GRID, now=now)
    with pytest.raises(AssertionError):
        check_absent(serialize(broken(snap.units, lambda d: d.update(note="PC-101"))), ["PC-101"])
