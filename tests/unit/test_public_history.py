"""The public history's file: written by the feed, read-only for the site; and ``record`` on plain cases."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from collector.public import format_minute
from collector.public.history import CallFates, PublishedCall, record
from collector.public.history_store import PublicHistoryError, PublicHistoryReader, PublicHistoryWriter

T0 = dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def calls_doc(at: dt.datetime, *calls: tuple[str, str]) -> dict:
    return {
        "status_as_of": format_minute(at),
        "features": [
            {
                "geometry": {"type": "Point", "coordinates": [-1.42, 53.23]},
                "properties": {"call": token, "category": "burglary", "priority": "emergency", "status": status,
                               "opened": format_minute(T0)},
            }
            for token, status in calls
        ],
    }


def test_a_call_seen_open_then_attending_has_a_response_time() -> None:
    shown: dict = {}
    rows: dict = {}
    for m, status in ((0, "open"), (1, "open"), (7, "open"), (8, "attending"), (20, "closed"), (21, "closed")):
        update = record(shown, calls_doc(minutes(m), ("abcdefgh", status)))
        rows.update({r.key: r for r in update.upserts})
        shown = dict(update.shown)
    (row,) = rows.values()
    assert (row.attending, row.closed, row.response_min) == (minutes(8), minutes(20), 8)
    assert row.category == "burglary" and row.priority == "emergency"


def test_an_arrival_across_a_gap_is_not_dated() -> None:
    first = record({}, calls_doc(minutes(0), ("abcdefgh", "open")))
    after_gap = record(first.shown, calls_doc(minutes(30), ("abcdefgh", "attending")))
    assert after_gap.upserts == ()  # nothing published changed: nothing to write
    (row,) = after_gap.shown.values()
    assert row.attending is None and row.response_min is None


def test_vanishing_open_calls_are_withdrawn_unless_known_closed() -> None:
    first = record({}, calls_doc(minutes(0), ("aaaaaaaa", "open"), ("bbbbbbbb", "open")))
    gone = record(first.shown, calls_doc(minutes(1)), CallFates(closed=frozenset({"bbbbbbbb"})))
    assert gone.withdrawn == {"aaaaaaaa"}
    (closed,) = gone.upserts
    assert (closed.call, closed.closed) == ("bbbbbbbb", minutes(1))


def test_the_writer_stores_and_the_reader_reads_only(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    reader = PublicHistoryReader(path)
    assert reader.calls_sync(T0, minutes(60)) == []  # no file yet: nothing published
    writer = PublicHistoryWriter.open(path)
    update = record({}, calls_doc(minutes(0), ("aaaaaaaa", "open")))
    version = reader.version_sync()
    writer.apply(update, minutes(0))
    assert reader.version_sync() != version
    (row,) = reader.calls_sync(T0, minutes(60))
    assert row == PublishedCall("aaaaaaaa", T0, "burglary", "emergency", 53.23, -1.42, seen_open=T0)
    assert reader.calls_sync(minutes(1), minutes(60)) == []
    assert writer.shown_calls(minutes(1)) == {row.key: row}
    writer.apply(record({row.key: row}, calls_doc(minutes(2))), minutes(2))  # vanished while open: withdrawn
    assert reader.calls_sync(T0, minutes(60)) == []
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader._query("DELETE FROM calls", ())
    writer.close()
    reader.close()


def test_another_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not-history.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(PublicHistoryError, match="not a public history"):
        PublicHistoryWriter.open(path)
