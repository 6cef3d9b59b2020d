"""The dispatch listener's pure core: tokens, sessions, the login limiter, CAD request checks,
idempotent create, why a unit is not recommended, the OpenAPI document."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate

from collector.dispatch.auth import LoginLimiter, Sessions, TokensFileError, csrf_ok, parse_tokens
from collector.dispatch.board import why_not
from collector.dispatch.openapi import openapi_document
from collector.dispatch.requests import (
    ApiError,
    assign_unit,
    close_incident,
    decide_create,
    parse_body,
    parse_create,
    parse_status,
    parse_update,
)
from common.wire import DutyStatus, EtaMethod, EtaReport, EtaRow, IncidentStatus

NOW = dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC)
A = "a" * 24
B = "b" * 24
BODY = {"id": "CAD-1", "type": "burglary", "priority": 2, "lat": 53.2, "lon": -1.4}


def test_tokens_file_names_each_token_and_refuses_mistakes_by_line() -> None:
    book = parse_tokens(f"# operators\nalice {A}\n\ncad {B}\n")
    assert book.names == ("alice", "cad") and book.name_of(A) == "alice" and book.name_of(B) == "cad"
    assert book.name_of("c" * 24) is None and book.name_of("") is None
    for text, message in [
        ("alice", ":1: expected NAME TOKEN"),
        ("alice short", ":1: alice's token must be 20\\+"),
        (f"al!ce {A}", ":1: the name must be"),
        (f"alice {A}\nalice {B}", ":2: the name alice is given twice"),
        (f"alice {A}\nbob {A}", ":2: bob's token is another name's too"),
    ]:
        with pytest.raises(TokensFileError, match=message):
            parse_tokens(text, "tokens")


def test_a_session_ends_when_its_token_is_revoked_or_idle() -> None:
    book = parse_tokens(f"alice {A}\ncad {B}\n")
    sessions = Sessions(idle_s=60)
    digest = book.digest_of("alice")
    assert digest is not None
    sid, session = sessions.open("alice", digest, 0.0)
    assert sessions.get(sid, book, 30.0) is session and csrf_ok(session, session.csrf)
    assert not csrf_ok(session, None) and not csrf_ok(session, "x")
    assert sessions.get(sid, parse_tokens(f"cad {B}\n"), 31.0) is None  # revoked: gone for good
    assert sessions.get(sid, book, 32.0) is None
    sid, _ = sessions.open("alice", digest, 100.0)
    assert sessions.get(sid, book, 161.0) is None  # idle too long
    sid, _ = sessions.open("alice", digest, 200.0)
    assert sessions.get(sid, parse_tokens(f"alice {'z' * 24}\n"), 201.0) is None  # the same name, a new token


def test_the_limiter_allows_a_burst_then_one_try_per_interval_per_address_and_in_all() -> None:
    limiter = LoginLimiter(burst=3, every_s=10, burst_all=5, every_all_s=1)
    for _ in range(3):
        assert limiter.retry_after("a", 0.0) == 0
        limiter.failed("a", 0.0)
    assert limiter.retry_after("a", 0.0) == pytest.approx(10.0)
    assert limiter.retry_after("b", 0.0) == 0  # another address has its own
    assert limiter.retry_after("a", 10.0) == 0
    limiter.failed("b", 0.0)
    limiter.failed("c", 0.0)
    assert limiter.retry_after("d", 0.0) == pytest.approx(1.0)  # five failures in all, from three addresses
    limiter.succeeded("a")
    assert limiter.retry_after("a", 2.0) == 0


@given(st.lists(st.floats(0, 1000), min_size=1, max_size=40))
def test_the_limiter_never_allows_more_than_burst_plus_the_rate(times: list[float]) -> None:
    limiter = LoginLimiter(burst=5, every_s=12, burst_all=1e9, every_all_s=1e-9)
    allowed = 0
    for t in sorted(times):
        if limiter.retry_after("x", t) == 0:
            limiter.failed("x", t)
            allowed += 1
    span = max(times) - min(times)
    assert allowed <= 5 + span / 12 + 1e-9


def test_a_create_names_the_bad_field_and_defaults_opened_to_now() -> None:
    incident = parse_create(BODY, NOW)
    assert incident.opened == NOW and incident.units == () and incident.status is IncidentStatus.OPEN
    changes: list[tuple[dict[str, object], str]] = [
        ({"priority": True}, "priority"), ({"lat": float("nan")}, "lat"), ({"units": "PC-1"}, "units"),
        ({"type": ""}, "type"), ({"extra": 1}, "extra"),
    ]  # fmt: skip
    for change, field in changes:
        with pytest.raises(ApiError) as caught:
            parse_create({**BODY, **change}, NOW)
        assert caught.value.field == field and caught.value.status == 400
    with pytest.raises(ApiError, match="body is not JSON"):
        parse_body(b"{")
    with pytest.raises(ApiError) as caught:
        parse_body(b"x" * 20000)
    assert caught.value.status == 413


def test_create_is_idempotent_by_the_cad_id_and_refuses_another_call_under_an_open_id() -> None:
    first = parse_create(BODY, NOW)
    assert decide_create(None, first).created
    again = parse_create(BODY, NOW + dt.timedelta(seconds=5))
    decision = decide_create(first, again)
    assert not decision.created and decision.incident is first
    with pytest.raises(ApiError) as caught:
        decide_create(first, parse_create({**BODY, "priority": 1}, NOW))
    assert caught.value.status == 409 and caught.value.field == "id"
    closed = close_incident(first, "CAD-1")
    assert closed is not None and decide_create(closed, again).created  # a closed id may be used again


def test_update_assign_close_and_status() -> None:
    first = parse_create(BODY, NOW)
    assert parse_update({"priority": 1}, first, "CAD-1").priority == 1
    with pytest.raises(ApiError, match="nothing to change"):
        parse_update({}, first, "CAD-1")
    with pytest.raises(ApiError) as caught:
        parse_update({"priority": 1}, None, "CAD-9")
    assert caught.value.status == 404
    assigned = assign_unit(first, "CAD-1", "PC-1")
    assert assigned is not None and assigned.units == ("PC-1",) and assign_unit(assigned, "CAD-1", "PC-1") is None
    closed = close_incident(first, "CAD-1")
    assert closed is not None and close_incident(closed, "CAD-1") is None
    with pytest.raises(ApiError) as caught:
        assign_unit(closed, "CAD-1", "PC-1")
    assert caught.value.status == 409
    assert parse_status({"status": "enroute"}) is DutyStatus.ENROUTE
    with pytest.raises(ApiError, match="status must be one of"):
        parse_status({"status": 3})


def _row(unit: str, eta: float, **kw: object) -> EtaRow:
    return EtaRow(unit, eta, 1000.0, 2.0, kw.pop("status", DutyStatus.AVAILABLE), EtaMethod.ROUTER,  # type: ignore[arg-type]
                  bool(kw.pop("stale", False)), **kw)  # type: ignore[arg-type]  # fmt: skip


def test_why_each_unit_is_not_the_recommendation() -> None:
    rows = (
        _row("PC-1", 60.0),
        _row("PC-2", 70.0, assigned=True),
        _row("PC-3", 80.0, status=DutyStatus.DISPATCHED),
        _row("PC-4", 90.0, stale=True, eta_min_s=50.0),
        _row("PC-5", 95.0, offline=True),
        _row("PC-6", 150.0),
        _row("PC-7", 160.0, status=None),
    )
    report = EtaReport("CAD-1", NOW, "PC-1", rows)
    reasons = {row.unit: why_not(row, report) for row in rows}
    assert reasons == {
        "PC-1": [],
        "PC-2": ["assigned already"],
        "PC-3": ["busy (dispatched)"],
        "PC-4": ["stale position"],
        "PC-5": ["offline"],
        "PC-6": ["1 min 30 s slower than PC-1"],
        "PC-7": ["duty unknown"],
    }


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    validate(document)
    assert document["openapi"] == "3.1.0" and "/api/incidents" in document["paths"]
