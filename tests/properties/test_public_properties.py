"""The public feed's guarantees as properties over generated fleets, tracks,
incidents and clocks (pure policy; no broker).

Positions are generated in projected metres around a random centre and
converted with the grid's own CRS, so a test can place a unit exactly on a
cell edge and know its true distance travelled.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from hypothesis import given, settings, target
from hypothesis import strategies as st

from collector.public import (
    DEFAULT_CATEGORIES,
    Grid,
    PublicPolicy,
    PublicState,
    PublicStateError,
    Snapshot,
    UnitInput,
    UnitsMode,
    calls_as_of,
    grid_for,
    next_cell,
    normalize_type,
    serialize,
    snapshot,
    unit_pseudonym,
    units_as_of,
    utm_epsg,
)
from common.fix import Fix
from common.wire import DutyStatus, Incident, IncidentStatus
from tests.public_checks import check_absent, check_calls, check_units, parse_minute

UTC = dt.UTC
SECRET = b"public-feed-test-secret-0123456789"
SPAN_S = 7200

centres = st.tuples(st.floats(-60.0, 70.0), st.floats(-179.0, 179.0))
start_times = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
# Free text a CAD system might put in a type; marked so the output can be searched for it.
free_text_types = st.text("abcdefghijklmnopqrstuvwxyz -/", min_size=1, max_size=20).map(lambda s: "ZQX " + s)


@dataclass(frozen=True)
class SimUnit:
    unit: str
    fixes: tuple[Fix, ...]
    schedule: tuple[tuple[dt.datetime, DutyStatus, str | None], ...]  # status changes, oldest first

    def at(self, now: dt.datetime) -> UnitInput:
        index = bisect.bisect_right([t for t, _, _ in self.schedule], now)
        _, status, incident = self.schedule[max(0, index - 1)]
        known = self.fixes[: bisect.bisect_right(self.fixes, now, key=lambda f: f.time)]
        return UnitInput(self.unit, status, known, incident)


@dataclass(frozen=True)
class SimIncident:
    incident: Incident
    closes: dt.datetime | None

    def at(self, now: dt.datetime) -> Incident | None:
        if self.incident.opened > now:
            return None  # not yet in CAD
        closed = self.closes is not None and now >= self.closes
        return replace(self.incident, status=IncidentStatus.CLOSED if closed else IncidentStatus.OPEN)


@dataclass(frozen=True)
class Scenario:
    policy: PublicPolicy
    grid: Grid
    units: tuple[SimUnit, ...]
    incidents: tuple[SimIncident, ...]
    clock: tuple[dt.datetime, ...]

    def inputs(self, now: dt.datetime) -> tuple[list[UnitInput], list[Incident]]:
        incidents = [i for s in self.incidents if (i := s.at(now)) is not None]
        return [u.at(now) for u in self.units], incidents

    @property
    def private_strings(self) -> list[str]:
        """What must never be published: real ids, incident ids, CAD free text."""
        found = [u.unit for u in self.units] + [s.incident.id for s in self.incidents]
        return found + [s.incident.type for s in self.incidents if s.incident.type.startswith("ZQX")]


def run(scenario: Scenario, state: PublicState | None = None) -> list[tuple[dt.datetime, Snapshot, PublicState]]:
    state = state or PublicState()
    out = []
    for now in scenario.clock:
        units, incidents = scenario.inputs(now)
        snap, state = snapshot(scenario.policy, state, now, units, incidents, SECRET)
        out.append((now, snap, state))
    return out


def at_offset(grid: Grid, origin: tuple[float, float], dx: float, dy: float) -> tuple[float, float]:
    return grid.unproject(origin[0] + dx, origin[1] + dy)


@st.composite
def scenarios(draw: st.DrawFn, modes: Sequence[UnitsMode] = (UnitsMode.PSEUDONYMS, UnitsMode.COUNTS)) -> Scenario:
    lat0, lon0 = draw(centres)
    policy = PublicPolicy(
        unit_delay_s=draw(st.integers(0, 900)),
        call_delay_s=draw(st.integers(0, 900)),
        cell_m=draw(st.sampled_from([100.0, 250.0, 500.0, 1000.0])),
        centre=(lat0, lon0),
        units=draw(st.sampled_from(modes)),
        linger_s=draw(st.integers(0, 1800)),
        stale_s=draw(st.integers(60, 1800)),
    )
    grid = grid_for(utm_epsg(lat0, lon0), policy.cell_m)
    origin = grid.project(lat0, lon0)
    assert origin is not None
    t0 = draw(start_times)
    n_incidents = draw(st.integers(0, 6))
    incident_ids = [f"INC{k}Q" for k in range(n_incidents)]
    n_units = draw(st.integers(1, 5))
    unit_ids = [f"UNIT{k}X" for k in range(n_units)]
    units = []
    for unit in unit_ids:
        t = t0 + dt.timedelta(seconds=draw(st.integers(0, 600)))
        x, y = draw(st.floats(-3000, 3000)), draw(st.floats(-3000, 3000))
        fixes = []
        for step_s, dx, dy in draw(
            st.lists(
                st.tuples(st.integers(1, 400), st.floats(-400, 400), st.floats(-400, 400)), min_size=1, max_size=40
            )
        ):
            fixes.append(Fix(t, *at_offset(grid, origin, x, y)))
            t, x, y = t + dt.timedelta(seconds=step_s), x + dx, y + dy
        change = st.tuples(
            st.integers(0, SPAN_S).map(lambda s: t0 + dt.timedelta(seconds=s)),
            st.sampled_from([*DutyStatus, DutyStatus.ONSCENE, DutyStatus.AVAILABLE]),
            st.sampled_from(incident_ids) | st.none() if incident_ids else st.none(),
        )
        first = draw(change)
        schedule = sorted([(t0, first[1], first[2]), *draw(st.lists(change, max_size=5))], key=lambda c: c[0])
        units.append(SimUnit(unit, tuple(fixes), tuple(schedule)))
    incidents = []
    for incident_id in incident_ids:
        opened = t0 + dt.timedelta(seconds=draw(st.integers(0, SPAN_S // 4)), milliseconds=draw(st.integers(0, 999)))
        lat, lon = at_offset(grid, origin, draw(st.floats(-3000, 3000)), draw(st.floats(-3000, 3000)))
        incident = Incident(
            id=incident_id,
            type=draw(st.sampled_from(sorted(DEFAULT_CATEGORIES)) | free_text_types),
            priority=draw(st.integers(1, 4)),
            lat=lat,
            lon=lon,
            status=IncidentStatus.OPEN,
            opened=opened,
            units=tuple(draw(st.lists(st.sampled_from(unit_ids), max_size=3, unique=True))),
        )
        closes = draw(st.none() | st.integers(0, SPAN_S).map(lambda s, opened=opened: opened + dt.timedelta(seconds=s)))
        incidents.append(SimIncident(incident, closes))
    steps = draw(st.lists(st.integers(1, 900), min_size=1, max_size=25))
    clock = [t0]
    for step in steps:
        clock.append(clock[-1] + dt.timedelta(seconds=step, microseconds=draw(st.integers(0, 999_999))))
    return Scenario(policy, grid, tuple(units), tuple(incidents), tuple(clock))


@settings(max_examples=80, deadline=None)
@given(scenarios())
def test_every_published_document_keeps_every_guarantee(scenario: Scenario) -> None:
    """Cell centres only, nothing later than now - delay, only whitelisted fields,
    no suppressed category, no real unit or incident id, no CAD free text."""
    shown = 0
    for now, snap, _ in run(scenario):
        check_units(snap.units, policy=scenario.policy, grid=scenario.grid, now=now)
        check_calls(snap.calls, policy=scenario.policy, grid=scenario.grid, now=now)
        for doc in (snap.units, snap.calls):
            check_absent(serialize(doc), scenario.private_strings)
        shown += len(snap.units["features"]) + len(snap.calls["features"])
        statuses = {f["properties"]["status"] for f in snap.calls["features"]}
        shown += 10 * len(statuses - {"open"})
    target(float(shown))  # steer generation towards busy feeds: an empty one proves little


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.data())
def test_nothing_newer_than_the_published_time_changes_the_output(scenario: Scenario, data: st.DataObject) -> None:
    """Fixes after the units' as_of and incidents opened after the calls' as_of,
    wherever they are, leave the published documents exactly as they were."""
    policy = scenario.policy
    state = PublicState()
    for now in scenario.clock:
        units, incidents = scenario.inputs(now)
        plain, _ = snapshot(policy, state, now, units, incidents, SECRET)
        newer = units_as_of(policy, now)
        origin = scenario.grid.project(*scenario.policy.centre or (0.0, 0.0))
        assert origin is not None
        far = at_offset(scenario.grid, origin, 50_000.0, -50_000.0)
        junk_units = []
        for u in units:
            fractions = data.draw(st.lists(st.floats(0.0, 1.0, exclude_min=True), max_size=3))
            junk = sorted({newer + (now - newer) * f for f in fractions} - {newer})
            kept = tuple(f for f in u.fixes if f.time <= newer)
            junk_units.append(replace(u, fixes=kept + tuple(Fix(t, *far) for t in junk)))
        opened = calls_as_of(policy, now) + dt.timedelta(seconds=1)
        junk_incidents = list(incidents)
        if opened <= now:
            late = Incident("LATE1Q", "burglary", 1, far[0], far[1], IncidentStatus.OPEN, opened)
            junk_incidents.append(late)
        with_junk, _ = snapshot(policy, state, now, junk_units, junk_incidents, SECRET)
        assert serialize(with_junk.units) == serialize(plain.units)
        assert serialize(with_junk.calls) == serialize(plain.calls)
        _, state = snapshot(policy, state, now, units, incidents, SECRET)


lats = st.floats(-79.9, 83.9)
lons = st.floats(-179.999, 179.999)
cells = st.sampled_from([50.0, 100.0, 333.0, 500.0, 1000.0, 5000.0])


@settings(max_examples=200, deadline=None)
@given(lats, lons, cells, st.booleans())
def test_snapping_is_idempotent_and_lands_on_the_cell_centre(lat: float, lon: float, cell_m: float, gb: bool) -> None:
    if gb:  # the British National Grid inside Great Britain
        lat, lon = 50.0 + (lat + 80) / 164 * 10.5, -7.5 + (lon + 180) / 360 * 9.0
    grid = grid_for(27700 if gb else utm_epsg(lat, lon), cell_m)
    snapped = grid.snap(lat, lon)
    assert snapped is not None
    assert grid.snap(*snapped) == snapped
    assert grid.is_centre(*snapped)
    here, there = grid.project(lat, lon), grid.project(*snapped)
    assert here is not None and there is not None
    assert math.dist(here, there) <= cell_m / math.sqrt(2) + 0.5
    assert grid.cell_of(lat, lon) == grid.cell_of(*snapped)


def changes(cells_seen: Sequence[object]) -> list[int]:
    return [i for i in range(1, len(cells_seen)) if cells_seen[i] != cells_seen[i - 1]]


@st.composite
def edge_walks(draw: st.DrawFn) -> tuple[float, float, list[tuple[float, float]]]:
    """Walks that start on a cell edge or corner and wander across and along edges."""
    cell_m = draw(st.sampled_from([100.0, 500.0, 1000.0]))
    h = draw(st.sampled_from([None, 0.0, 0.1, 0.25, 0.45]))
    hysteresis = cell_m / 4 if h is None else h * cell_m
    x = draw(st.integers(-5, 5)) * cell_m + draw(st.sampled_from([0.0, cell_m / 2]))
    y = draw(st.integers(-5, 5)) * cell_m + draw(st.sampled_from([0.0, cell_m / 2]))
    step = st.floats(-cell_m / 3, cell_m / 3)
    points = [(x, y)]
    for dx, dy, along in draw(st.lists(st.tuples(step, step, st.booleans()), min_size=1, max_size=60)):
        # "along": hug a grid line, as a road running on an edge would.
        if along:
            dy = (round(y / cell_m) * cell_m - y) + dy / 10
        x, y = x + dx, y + dy
        points.append((x, y))
    return cell_m, hysteresis, points


@settings(max_examples=200, deadline=None)
@given(edge_walks())
def test_public_cell_changes_at_most_once_per_hysteresis_of_true_travel(walk: tuple[float, float, list]) -> None:
    cell_m, hysteresis, points = walk
    grid = grid_for(32630, cell_m)
    seen = []
    cell = None
    for x, y in points:
        cell = next_cell(grid, cell, 500_000 + x, 5_800_000 + y, hysteresis)
        seen.append(cell)
    moves = changes(seen)
    # Between two changes the unit moved at least hysteresis in a straight line
    # (so at least that far along its path); the first public cell holds the unit.
    for a, b in zip([0, *moves], moves):
        assert math.dist(points[a], points[b]) >= hysteresis - 1e-6, (points[a], points[b])
    assert seen[0] == grid.cell_at(500_000 + points[0][0], 5_800_000 + points[0][1])


@st.composite
def parked_on_edges(draw: st.DrawFn) -> tuple[float, float, list[tuple[float, float]]]:
    """A parked car on a cell edge or corner (or just off it), with GPS jitter
    inside a disc narrower than the hysteresis."""
    cell_m = draw(st.sampled_from([100.0, 500.0, 1000.0]))
    hysteresis = draw(st.sampled_from([0.1, 0.25, 0.45])) * cell_m
    x = draw(st.integers(-5, 5)) * cell_m + draw(st.sampled_from([-0.3, 0.0, 0.3])) * hysteresis
    y = draw(st.integers(-5, 5)) * cell_m + draw(st.sampled_from([0.0, 0.5 * cell_m, 0.3 * hysteresis]))
    wobble = st.floats(-0.35 * hysteresis, 0.35 * hysteresis)  # any two fixes < 0.99 h apart
    return cell_m, hysteresis, [(x + dx, y + dy) for dx, dy in draw(st.lists(st.tuples(wobble, wobble), min_size=2))]


@settings(max_examples=100, deadline=None)
@given(parked_on_edges())
def test_a_unit_parked_on_an_edge_keeps_its_cell(parked: tuple[float, float, list[tuple[float, float]]]) -> None:
    cell_m, hysteresis, points = parked
    grid = grid_for(32630, cell_m)
    cell = None
    seen = []
    for x, y in points:
        cell = next_cell(grid, cell, 500_000 + x, 5_800_000 + y, hysteresis)
        seen.append(cell)
    assert len(set(seen)) == 1


@settings(max_examples=40, deadline=None)
@given(edge_walks(), centres, start_times)
def test_hysteresis_holds_through_the_whole_policy(walk: tuple[float, float, list], centre, t0: dt.datetime) -> None:
    """The same property on what snapshot() publishes: one fix a minute, read back from the documents."""
    cell_m, hysteresis, points = walk
    policy = PublicPolicy(unit_delay_s=0, cell_m=cell_m, hysteresis_m=hysteresis, centre=centre, units=UnitsMode.IDS)
    grid = grid_for(utm_epsg(*centre), cell_m)
    origin = grid.project(*centre)
    assert origin is not None
    base = grid.centre_xy(grid.cell_at(*origin))
    t0 = t0.replace(second=0, microsecond=0)
    fixes = tuple(
        Fix(t0 + dt.timedelta(minutes=i), *at_offset(grid, base, x - cell_m / 2, y - cell_m / 2))
        for i, (x, y) in enumerate(points)
    )
    truth = [grid.project(f.lat, f.lon) for f in fixes]
    state, published = PublicState(), []
    for i in range(len(fixes)):
        unit = UnitInput("UNIT1X", DutyStatus.AVAILABLE, fixes[: i + 1])
        snap, state = snapshot(policy, state, fixes[i].time, [unit], [], SECRET)
        features = snap.units["features"]
        assert len(features) == 1
        lon, lat = features[0]["geometry"]["coordinates"]
        published.append((i, grid.cell_of(lat, lon)))
    moves = changes([cell for _, cell in published])
    indices = [published[m][0] for m in moves]
    for a, b in zip([published[0][0], *indices] if published else [], indices):
        assert math.dist(truth[a], truth[b]) >= hysteresis - 0.01


@st.composite
def standing_fleets(draw: st.DrawFn) -> tuple[Scenario, tuple[dt.datetime, dict[str, bool]]]:
    """Fleets whose status and assignments hold all run: the expected shown set is known."""
    lat0, lon0 = draw(centres)
    delay = draw(st.integers(0, 900))
    policy = PublicPolicy(unit_delay_s=delay, call_delay_s=0, centre=(lat0, lon0), units=UnitsMode.IDS)
    grid = grid_for(utm_epsg(lat0, lon0), policy.cell_m)
    origin = grid.project(lat0, lon0)
    assert origin is not None
    t0 = draw(start_times).replace(second=0, microsecond=0)
    types = draw(st.lists(st.sampled_from(sorted(DEFAULT_CATEGORIES)) | free_text_types, max_size=5))
    incidents = [
        SimIncident(Incident(f"INC{k}Q", kind, 2, lat0, lon0, IncidentStatus.OPEN, t0), None)
        for k, kind in enumerate(types)
    ]
    units, expected = [], {}
    for k in range(draw(st.integers(1, 8))):
        status = draw(st.sampled_from(list(DutyStatus)))
        incident = draw(st.none() | st.sampled_from(incidents)) if incidents else None
        x, y = draw(st.floats(-2000, 2000)), draw(st.floats(-2000, 2000))
        where = at_offset(grid, origin, x, y)
        fixes = tuple(Fix(t0 + dt.timedelta(minutes=m), *where) for m in range(0, 90))
        unit = f"UNIT{k}X"
        units.append(SimUnit(unit, fixes, ((t0, status, None if incident is None else incident.incident.id),)))
        hidden_call = incident is not None and policy.category(incident.incident.type) is None
        expected[unit] = status is not DutyStatus.UNAVAILABLE and not hidden_call
    # Snapshots every 30 s from t0 (gaps would make the policy forget what it saw); the
    # ones checked start once the statuses seen at t0 are a delay old.
    warm = t0 + dt.timedelta(seconds=delay + 60)
    clock = tuple(t0 + dt.timedelta(seconds=30 * i) for i in range((delay + 60) // 30 + draw(st.integers(1, 6))))
    return Scenario(policy, grid, tuple(units), tuple(incidents), clock), (warm, expected)


@settings(max_examples=60, deadline=None)
@given(standing_fleets())
def test_exactly_the_units_that_may_be_shown_are_shown(
    fleet: tuple[Scenario, tuple[dt.datetime, dict[str, bool]]],
) -> None:
    """Unavailable units and units on a suppressed (or unknown-sensitive) call are
    never shown; every other unit with a fresh position is."""
    scenario, (warm, expected) = fleet
    for now, snap, _ in run(scenario):
        if now < warm:
            continue
        shown = {f["properties"]["unit"] for f in snap.units["features"]}
        assert shown == {unit for unit, ok in expected.items() if ok}, now


units_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
days = st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1))
keys = st.binary(min_size=16, max_size=64).filter(lambda k: len(set(k)) >= 8)


@given(units_ids, days, days, keys, keys)
def test_pseudonyms_rotate_daily_and_need_the_secret(
    unit: str, day: dt.date, other: dt.date, key: bytes, key2: bytes
) -> None:
    token = unit_pseudonym(key, unit, day)
    assert token == unit_pseudonym(key, unit, day)  # deterministic: stable all day
    if other != day:
        assert unit_pseudonym(key, unit, other) != token
    if key2 != key:
        assert unit_pseudonym(key2, unit, day) != token  # it is the secret that makes it
    # Not any unkeyed function of the id and day someone could compute from a call sign.
    message = f"unit\x00{unit}\x00{day.isoformat()}".encode()
    unkeyed = [
        hashlib.sha256(message).digest(),
        hashlib.sha256(f"{unit}{day}".encode()).digest(),
        hmac.new(b"", message, hashlib.sha256).digest(),
        hashlib.sha256(unit.encode()).digest(),
    ]
    assert token not in {base64.b32encode(d[:5]).decode().lower() for d in unkeyed}


@settings(max_examples=30, deadline=None)
@given(scenarios(modes=[UnitsMode.PSEUDONYMS]))
def test_pseudonyms_in_the_feed_are_stable_within_a_day(scenario: Scenario) -> None:
    tokens_by_day: dict[dt.date, dict[str, str]] = {}
    for now, snap, _ in run(scenario):
        day = parse_minute(snap.units["as_of"]).date()
        expected = {unit_pseudonym(SECRET, u.unit, day): u.unit for u in scenario.units}
        for feature in snap.units["features"]:
            token = feature["properties"]["unit"]
            assert token in expected, "a token that is not a unit's pseudonym of the published day"
            owner = tokens_by_day.setdefault(day, {}).setdefault(token, expected[token])
            assert owner == expected[token]
        del now


@given(st.text(max_size=80))
def test_a_published_category_is_never_a_suppressed_one(incident_type: str) -> None:
    policy = PublicPolicy()
    category = policy.category(incident_type)
    normalized = normalize_type(incident_type)
    assert category is None or category not in policy.suppressed
    if normalized in policy.categories:
        mapped = policy.categories[normalized]
        assert category == (None if mapped in policy.suppressed else mapped)
    elif any(word in normalized for word in policy.suppress_keywords):
        assert category is None
    else:
        assert category == "other"


@settings(max_examples=30, deadline=None)
@given(scenarios())
def test_a_saved_state_carries_on_exactly(scenario: Scenario) -> None:
    """A shell that saves the state, restarts and loads it publishes what it would have."""
    half = len(scenario.clock) // 2
    first = replace(scenario, clock=scenario.clock[:half])
    rest = replace(scenario, clock=scenario.clock[half:])
    straight = run(scenario)
    state = run(first)[-1][2] if half else PublicState()
    reloaded = PublicState.from_json(state.to_json())
    assert reloaded == state
    for (_, a, _), (_, b, _) in zip(straight[half:], run(rest, reloaded)):
        assert serialize(a.units) == serialize(b.units) and serialize(a.calls) == serialize(b.calls)


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_a_damaged_state_file_is_one_clear_error(data: bytes) -> None:
    try:
        PublicState.from_json(data)
    except PublicStateError:
        pass
