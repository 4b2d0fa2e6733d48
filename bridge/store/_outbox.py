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
import sqlite3
from typing import Any, NamedTuple

from ..core.models import Booking, BookingStatus, Notification
from ._codec import parse_ts, ts

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    status TEXT,
    start TEXT,
    duration_s INTEGER,
    party_size INTEGER,
    version INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    finished_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_booking ON outbox (booking_id, state);
CREATE TABLE IF NOT EXISTS watches (
    booking_id TEXT PRIMARY KEY,
    ends_at REAL NOT NULL,
    next_read_at REAL
);
CREATE INDEX IF NOT EXISTS watches_due ON watches (next_read_at);
"""

PENDING, SENT, DROPPED, DEAD = "pending", "sent", "dropped", "dead"
STATES = (PENDING, SENT, DROPPED, DEAD)


class OutboxEntry(NamedTuple):
    id: int
    version: int
    notification: Notification
    attempts: int
    created_at: float


def enqueue(db: sqlite3.Connection, note: Notification) -> None:
    """Inside the caller's transaction; due at once."""
    row = db.execute(
        "SELECT * FROM outbox WHERE booking_id = ? AND state = 'pending' ORDER BY id DESC LIMIT 1",
        (note.booking_id,),
    ).fetchone()
    if row is not None:
        merged = _notification(row).then(note)
        db.execute(
            "UPDATE outbox SET status = :status, start = :start, duration_s = :duration_s,"
            " party_size = :party_size, version = version + 1 WHERE id = :id",
            {**_columns(merged), "id": row["id"]},
        )
        return
    db.execute(
        "INSERT INTO outbox (booking_id, merchant_id, service_id, status, start, duration_s, party_size,"
        " created_at, next_attempt_at) VALUES (:booking_id, :merchant_id, :service_id, :status, :start,"
        " :duration_s, :party_size, :noticed_at, 0)",
        {**_columns(note), "booking_id": note.booking_id, "merchant_id": note.merchant_id,
         "service_id": note.service_id,
         "noticed_at": note.noticed_at.timestamp() if note.noticed_at else 0.0},
    )


def follow(db: sqlite3.Connection, booking: Booking) -> None:
    """Keep the watch list in step with the booking just saved (inside its transaction)."""
    if booking.status is BookingStatus.CONFIRMED:
        db.execute(
            "INSERT INTO watches (booking_id, ends_at) VALUES (?, ?)"
            " ON CONFLICT (booking_id) DO UPDATE SET ends_at = excluded.ends_at",
            (booking.booking_id, booking.slot.end.timestamp()),
        )
    else:
        db.execute("DELETE FROM watches WHERE booking_id = ?", (booking.booking_id,))


def due(db: sqlite3.Connection, now: float, limit: int) -> list[OutboxEntry]:
    rows = db.execute(
        "SELECT * FROM outbox WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
        (now, limit),
    ).fetchall()
    return [OutboxEntry(r["id"], r["version"], _notification(r), r["attempts"], r["created_at"]) for r in rows]


def finish(db: sqlite3.Connection, entry: OutboxEntry, state: str, now: float, error: str | None) -> bool:
    """Settle the version that was sent; False if a later change was merged meanwhile."""
    cursor = db.execute(
        "UPDATE outbox SET state = ?, finished_at = ?, last_error = ?, attempts = attempts + 1"
        " WHERE id = ? AND version = ?",
        (state, now, error, entry.id, entry.version),
    )
    return cursor.rowcount == 1


def retry(db: sqlite3.Connection, entry: OutboxEntry, next_attempt_at: float, error: str) -> None:
    db.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
        (next_attempt_at, error, entry.id),
    )


def listed(db: sqlite3.Connection, state: str, limit: int) -> list[tuple[OutboxEntry, str, str | None]]:
    """The latest entries in ``state``: each with when it settled and why (ISO time, reason)."""
    rows = db.execute(
        "SELECT * FROM outbox WHERE state = ? ORDER BY id DESC LIMIT ?", (state, limit)
    ).fetchall()
    return [
        (
            OutboxEntry(r["id"], r["version"], _notification(r), r["attempts"], r["created_at"]),
            ts(dt.datetime.fromtimestamp(r["finished_at"] or r["created_at"], dt.timezone.utc)) or "",
            r["last_error"],
        )
        for r in rows
    ]


def prune(db: sqlite3.Connection, before: float) -> int:
    return db.execute("DELETE FROM outbox WHERE state != 'pending' AND finished_at < ?", (before,)).rowcount


def counts(db: sqlite3.Connection) -> dict[str, int]:
    found = dict(db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
    return {state: found.get(state, 0) for state in STATES}


def due_watches(db: sqlite3.Connection, now: float, limit: int, period: float) -> list[str]:
    """Claim the bookings due a read, the longest overdue first, and set their next read a
    period on; bookings that have ended are dropped. Bookings never
    read are first given times spread evenly over the coming period: a thousand new
    ones (a restart, an import) are read across it, not all at once."""
    db.execute("DELETE FROM watches WHERE ends_at <= ?", (now,))
    db.execute(
        "WITH fresh AS (SELECT booking_id, ROW_NUMBER() OVER (ORDER BY booking_id) - 1 AS k,"
        " COUNT(*) OVER () AS n FROM watches WHERE next_read_at IS NULL)"
        " UPDATE watches SET next_read_at = :now + :period * fresh.k / fresh.n"
        " FROM fresh WHERE watches.booking_id = fresh.booking_id",
        {"now": now, "period": period},
    )
    rows = db.execute(
        "SELECT booking_id FROM watches WHERE next_read_at <= ? ORDER BY next_read_at LIMIT ?",
        (now, limit),
    ).fetchall()
    ids = [r[0] for r in rows]
    # Claimed: the next read is a period away unless the reader says otherwise.
    db.executemany("UPDATE watches SET next_read_at = ? WHERE booking_id = ?", [(now + period, i) for i in ids])
    return ids


def backlog(db: sqlite3.Connection, now: float) -> tuple[int, float | None]:
    """What keeping Google in step has yet to do: notifications not yet delivered, and the
    earliest read time of a watched booking still to come (None: none has one yet).
    Both from an index, so a metrics scrape costs next to nothing."""
    pending = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
    row = db.execute(
        "SELECT next_read_at FROM watches WHERE next_read_at IS NOT NULL AND ends_at > ?"
        " ORDER BY next_read_at LIMIT 1",
        (now,),
    ).fetchone()
    return int(pending), None if row is None else float(row[0])


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
