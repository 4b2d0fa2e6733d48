"""The notification outbox and the watch list, as SQLite statements.

A notification is written in the transaction that records the change it reports, so a
change is never recorded without its notification nor sent without its change. While a
notification is unsent, a later change of the same booking is merged into it (the later
state supersedes, one notification per booking at a time, so order per booking holds);
each merge bumps ``version``, and a send only counts as done for the version it sent.

The watch list holds the confirmed bookings still to come, with when each is next read.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from typing import Any, NamedTuple

from ..core.models import Booking, BookingStatus, Notification
from ._codec import parse_ts, sqlite_positional, ts

PENDING, SENT, DROPPED, DEAD = "pending", "sent", "dropped", "dead"
STATES = (PENDING, SENT, DROPPED, DEAD)


class OutboxEntry(NamedTuple):
    id: int
    version: int
    notification: Notification
    attempts: int
    created_at: float


# Written once in psycopg's style, for both stores; SQLite runs them through
# _codec.sqlite_positional (%s becomes ?, %(name)s becomes :name).
PENDING_OF = "SELECT * FROM outbox WHERE booking_id = %s AND state = 'pending' ORDER BY id DESC LIMIT 1"
WATCH = ("INSERT INTO watches (booking_id, ends_at) VALUES (%s, %s)"
         " ON CONFLICT (booking_id) DO UPDATE SET ends_at = excluded.ends_at")
UNWATCH = "DELETE FROM watches WHERE booking_id = %s"
FINISH = ("UPDATE outbox SET state = %s, finished_at = %s, last_error = %s, attempts = attempts + 1"
          " WHERE id = %s AND version = %s")
RETRY = "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = %s, last_error = %s WHERE id = %s"
LISTED = "SELECT * FROM outbox WHERE state = %s ORDER BY id DESC LIMIT %s"
PRUNE = "DELETE FROM outbox WHERE state != 'pending' AND finished_at < %s"
COUNTS = "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state"
ENDED = "DELETE FROM watches WHERE ends_at <= %s"
# Never-read watches (``{fresh}``: the rows to spread) get times evenly over the period.
SPREAD = ("WITH {fresh}, spread AS (SELECT booking_id, ROW_NUMBER() OVER (ORDER BY booking_id) - 1 AS k,"
          " COUNT(*) OVER () AS n FROM fresh)"
          " UPDATE watches SET next_read_at = %(now)s + %(period)s * spread.k / spread.n"
          " FROM spread WHERE watches.booking_id = spread.booking_id")
PENDING_COUNT = "SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'"
NEXT_READ = ("SELECT next_read_at FROM watches WHERE next_read_at IS NOT NULL AND ends_at > %s"
             " ORDER BY next_read_at LIMIT 1")
MERGE = ("UPDATE outbox SET status = %(status)s, start = %(start)s, duration_s = %(duration_s)s,"
         " party_size = %(party_size)s, version = version + 1 WHERE id = %(id)s")
INSERT = ("INSERT INTO outbox (booking_id, merchant_id, service_id, status, start, duration_s, party_size,"
          " created_at, next_attempt_at) VALUES (%(booking_id)s, %(merchant_id)s, %(service_id)s, %(status)s,"
          " %(start)s, %(duration_s)s, %(party_size)s, %(noticed_at)s, 0)")


def enqueue(db: sqlite3.Connection, note: Notification) -> None:
    """Inside the caller's transaction; due at once."""
    row = db.execute(_sql(PENDING_OF), (note.booking_id,)).fetchone()
    if row is not None:
        db.execute(_sql(MERGE), {**merged_columns(row, note), "id": row["id"]})
        return
    db.execute(_sql(INSERT), new_row(note))


def follow(db: sqlite3.Connection, booking: Booking) -> None:
    """Keep the watch list in step with the booking just saved (inside its transaction)."""
    if booking.status is BookingStatus.CONFIRMED:
        db.execute(_sql(WATCH), (booking.booking_id, booking.slot.end.timestamp()))
    else:
        db.execute(_sql(UNWATCH), (booking.booking_id,))


def due(db: sqlite3.Connection, now: float, limit: int) -> list[OutboxEntry]:
    rows = db.execute(
        "SELECT * FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
        (now, limit),
    ).fetchall()
    return [entry_of(r) for r in rows]


def finish(db: sqlite3.Connection, entry: OutboxEntry, state: str, now: float, error: str | None) -> bool:
    """Settle the version that was sent; False if a later change was merged meanwhile."""
    return db.execute(_sql(FINISH), (state, now, error, entry.id, entry.version)).rowcount == 1


def retry(db: sqlite3.Connection, entry: OutboxEntry, next_attempt_at: float, error: str) -> None:
    db.execute(_sql(RETRY), (next_attempt_at, error, entry.id))


def listed(db: sqlite3.Connection, state: str, limit: int) -> list[tuple[OutboxEntry, str, str | None]]:
    """The latest entries in ``state``: each with when it settled and why (ISO time, reason)."""
    return [settled(r) for r in db.execute(_sql(LISTED), (state, limit)).fetchall()]


def prune(db: sqlite3.Connection, before: float) -> int:
    return db.execute(_sql(PRUNE), (before,)).rowcount


def counts(db: sqlite3.Connection) -> dict[str, int]:
    return every_state((r["state"], r["n"]) for r in db.execute(COUNTS).fetchall())


def due_watches(db: sqlite3.Connection, now: float, limit: int, period: float, claim: float) -> list[str]:
    """Claim the bookings due a read, the longest overdue first, and set their next read
    ``claim`` on (the reader sets the real one); bookings that have ended are dropped. Bookings never
    read are first given times spread evenly over the coming period: a thousand new
    ones (a restart, an import) are read across it, not all at once."""
    db.execute(_sql(ENDED), (now,))
    fresh = "fresh AS (SELECT booking_id FROM watches WHERE next_read_at IS NULL)"
    db.execute(_sql(SPREAD.format(fresh=fresh)), {"now": now, "period": period})
    rows = db.execute(
        "SELECT booking_id FROM watches WHERE next_read_at <= ? ORDER BY next_read_at LIMIT ?",
        (now, limit),
    ).fetchall()
    ids = [r[0] for r in rows]
    db.executemany("UPDATE watches SET next_read_at = ? WHERE booking_id = ?", [(now + claim, i) for i in ids])
    return ids


def backlog(db: sqlite3.Connection, now: float) -> tuple[int, float | None]:
    """What keeping Google in step has yet to do: notifications not yet delivered, and the
    earliest read time of a watched booking still to come (None: none has one yet).
    Both from an index, so a metrics scrape costs next to nothing."""
    pending = db.execute(PENDING_COUNT).fetchone()["n"]
    row = db.execute(_sql(NEXT_READ), (now,)).fetchone()
    return int(pending), None if row is None else float(row[0])


@functools.lru_cache(maxsize=64)
def _sql(statement: str) -> str:
    """Turned into SQLite's placeholders once per statement, not once per call."""
    return sqlite_positional(statement)


# -- pure helpers, shared with PostgreSQL's statements (_pg_outbox) --------------------


def entry_of(r: Any) -> OutboxEntry:
    return OutboxEntry(r["id"], r["version"], _notification(r), r["attempts"], r["created_at"])


def settled(r: Any) -> tuple[OutboxEntry, str, str | None]:
    """An entry with when it settled (ISO) and why."""
    when = ts(dt.datetime.fromtimestamp(r["finished_at"] or r["created_at"], dt.timezone.utc)) or ""
    return entry_of(r), when, r["last_error"]


def every_state(rows: Any) -> dict[str, int]:
    found = {state: int(count) for state, count in rows}
    return {state: found.get(state, 0) for state in STATES}


def merged_columns(pending: Any, note: Notification) -> dict[str, Any]:
    """The pending row ``pending`` with ``note`` merged into it (the later state supersedes)."""
    return _columns(_notification(pending).then(note))


def new_row(note: Notification) -> dict[str, Any]:
    return {**_columns(note), "booking_id": note.booking_id, "merchant_id": note.merchant_id,
            "service_id": note.service_id,
            "noticed_at": note.noticed_at.timestamp() if note.noticed_at else 0.0}


def _columns(note: Notification) -> dict[str, Any]:
    return {
        "status": None if note.status is None else note.status.value,
        "start": ts(note.start),
        "duration_s": None if note.duration is None else int(note.duration.total_seconds()),
        "party_size": note.party_size,
    }


def _notification(row: Any) -> Notification:
    return Notification(
        booking_id=row["booking_id"],
        merchant_id=row["merchant_id"],
        service_id=row["service_id"],
        status=None if row["status"] is None else BookingStatus(row["status"]),
        start=parse_ts(row["start"]),
        duration=None if row["duration_s"] is None else dt.timedelta(seconds=row["duration_s"]),
        party_size=row["party_size"],
        noticed_at=dt.datetime.fromtimestamp(row["created_at"], dt.timezone.utc),
    )
