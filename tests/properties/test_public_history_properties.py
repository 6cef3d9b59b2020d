"""The public history says nothing the published documents did not: properties of ``record``.

Generated calls live through random status timelines; each minute a calls
document shows them (with gaps when the "feed was down", reclassifications and
calls cleared by CAD). The history built by ``record`` is checked against the
documents alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.public import format_minute
from collector.public.history import MAX_GAP_MIN, CallFates, PublishedCall, record

T0 = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)
STATUSES = ("open", "attending", "closed")


def doc(at: dt.datetime, calls: list[tuple[str, int, str, str]]) -> dict[str, Any]:
    """A calls document whose status time is ``at``: (token, opened minute, status, category) per call."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-1.42, 53.23]},
            "properties": {"call": token, "category": category, "priority": "routine", "status": status,
                           "opened": format_minute(T0 + dt.timedelta(minutes=opened))},
        }
        for token, opened, status, category in calls
    ]
    stamp = format_minute(at)
    return {"v": 1, "type": "FeatureCollection", "as_of": stamp, "status_as_of": stamp, "delay_s": 600,
            "cell_m": 500, "features": features}  # fmt: skip


# One call: (opened minute, minutes open, minutes attending (0: never), minutes shown closed, fate)
call_lives = st.tuples(
    st.integers(0, 20),
    st.integers(0, 15),
    st.integers(0, 15),
    st.integers(0, 5),
    st.sampled_from(["normal", "cleared", "reclassified"]),
)


@settings(max_examples=150, deadline=None)
@given(lives=st.lists(call_lives, min_size=1, max_size=6), down=st.sets(st.integers(0, 60), max_size=20))
def test_the_history_is_read_off_the_documents(lives: list[tuple[int, int, int, int, str]], down: set[int]) -> None:
    tokens = [f"call{n:04d}" for n in range(len(lives))]
    shown_docs: list[tuple[dt.datetime, dict[str, str]]] = []  # (status time, token -> status) of each document
    history: dict[tuple[str, dt.datetime], PublishedCall] = {}
    shown_rows: dict[tuple[str, dt.datetime], PublishedCall] = {}
    for m in range(0, 61):
        at = T0 + dt.timedelta(minutes=m)
        calls, closed, suppressed = [], set(), set()
        for token, (opened, open_for, attend_for, closed_for, fate) in zip(tokens, lives):
            age = m - opened
            end = open_for + attend_for
            if fate == "reclassified" and age >= open_for:
                suppressed.add(token)
                continue
            if fate == "cleared" and age >= open_for:
                continue  # CAD removed it: the collector no longer knows it
            if age >= end:
                closed.add(token)
            if 0 <= age < end + closed_for:
                status = "open" if age < open_for else "attending" if age < end else "closed"
                calls.append((token, opened, status, "theft"))
        if m in down:
            continue  # no document this minute
        document = doc(at, calls)
        shown_docs.append((at, {t: s for t, _, s, _ in calls}))
        update = record(shown_rows, document, CallFates(frozenset(closed), frozenset(suppressed)))
        for row in update.upserts:
            history[row.key] = row
        for token in update.withdrawn:
            for key in [k for k in history if k[0] == token]:
                del history[key]
        shown_rows = dict(update.shown)

    for (token, opened), row in history.items():
        life = lives[tokens.index(token)]
        assert life[4] == "normal", f"{token} ({life[4]}) kept in the history"
        statuses = [(at, shown[token]) for at, shown in shown_docs if token in shown]
        assert statuses, "a row for a call never published"
        assert row.opened == T0 + dt.timedelta(minutes=life[0]) == opened
        if row.attending is not None:
            index = next(i for i, (at, s) in enumerate(statuses) if s == "attending")
            assert statuses[index][0] == row.attending, "attending is the first document showing it"
            before = statuses[index - 1] if index else None
            assert before is not None and before[1] == "open", "arrival dated without seeing the call open"
            assert (row.attending - before[0]) <= dt.timedelta(minutes=MAX_GAP_MIN)
        else:
            first = next((i for i, (_, s) in enumerate(statuses) if s == "attending"), None)
            dated = first is not None and first > 0 and statuses[first - 1][1] == "open"
            gap = dated and statuses[first][0] - statuses[first - 1][0] <= dt.timedelta(minutes=MAX_GAP_MIN)  # type: ignore[index]
            assert not gap, "an arrival seen to the minute was not recorded"
        if row.closed is not None:
            later = [at for at, s in statuses if s == "closed"]
            vanished = [at for at, shown in shown_docs if at > statuses[-1][0]]
            assert row.closed in later[:1] or (not later and vanished and row.closed == vanished[0])
    # Every normal call that was shown is in the history.
    published = {t for _, shown in shown_docs for t in shown}
    for token, life in zip(tokens, lives):
        if life[4] == "normal" and token in published:
            assert any(k[0] == token for k in history), f"{token} was published but is not in the history"
