"""The notification outbox and the watch list, as PostgreSQL statements (see _outbox for
the rules, which are the same).

Several replicas share one database, so what one takes the others must not:

- the merge into a booking's pending notification runs under a transaction-scoped
  advisory lock on the booking, so two replicas saving the same booking at once still
  leave one pending notification, not two;
- due notifications are claimed ``SELECT … FOR UPDATE SKIP LOCKED`` and marked
  ``claimed_until`` the notifier's claim on, so no other replica sends them meanwhile;
  settling or retrying one clears its claim, and a replica that dies holding one only
  delays it by what is left of the claim;
- due watches are claimed the same way, their next read set the claim on in the
  claiming transaction, so no two replicas read a booking in one round; the reader then
  sets the real next read, and a reader that dies leaves them due again at the claim's end.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg import AsyncConnection

from ..core.models import Booking, BookingStatus, Notification
from . import _outbox, _retention
from ._outbox import OutboxEntry
from ._retention import ERASED, Scrub

# Settling or retrying an entry ends its claim, whatever version was sent.
_RELEASE = "UPDATE outbox SET claimed_until = NULL WHERE id = %s"

# What version 1 adds beyond the shared tables.
EXTRA = ["ALTER TABLE outbox ADD COLUMN IF NOT EXISTS claimed_until DOUBLE PRECISION"]


async def enqueue(db: AsyncConnection[Any], note: Notification) -> None:
    """Inside the caller's transaction; due at once."""
    await db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("outbox:" + note.booking_id,))
    row = await (await db.execute(_outbox.PENDING_OF, (note.booking_id,))).fetchone()
    if row is not None:
        await db.execute(_outbox.MERGE, {**_outbox.merged_columns(row, note), "id": row["id"]})
        return
    await db.execute(_outbox.INSERT, _outbox.new_row(note))


async def follow(db: AsyncConnection[Any], booking: Booking) -> None:
    if booking.status is BookingStatus.CONFIRMED:
        await db.execute(_outbox.WATCH, (booking.booking_id, booking.slot.end.timestamp()))
    else:
        await db.execute(_outbox.UNWATCH, (booking.booking_id,))


async def due(db: AsyncConnection[Any], now: float, limit: int, claim: float) -> list[OutboxEntry]:
    rows = await (await db.execute(
        "WITH taken AS (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= %(now)s"
        " AND (claimed_until IS NULL OR claimed_until <= %(now)s) ORDER BY id LIMIT %(limit)s"
        " FOR UPDATE SKIP LOCKED)"
        " UPDATE outbox SET claimed_until = %(until)s FROM taken WHERE outbox.id = taken.id RETURNING outbox.*",
        {"now": now, "limit": limit, "until": now + claim},
    )).fetchall()
    return sorted((_outbox.entry_of(r) for r in rows), key=lambda entry: entry.id)


async def finish(db: AsyncConnection[Any], entry: OutboxEntry, state: str, now: float, error: str | None) -> bool:
    await db.execute(_RELEASE, (entry.id,))
    cursor = await db.execute(_outbox.FINISH, (state, now, error, entry.id, entry.version))
    return cursor.rowcount == 1


async def retry(db: AsyncConnection[Any], entry: OutboxEntry, next_attempt_at: float, error: str) -> None:
    await db.execute(_RELEASE, (entry.id,))
    await db.execute(_outbox.RETRY, (next_attempt_at, error, entry.id))


async def listed(db: AsyncConnection[Any], state: str, limit: int) -> list[tuple[OutboxEntry, str, str | None]]:
    rows = await (await db.execute(_outbox.LISTED, (state, limit))).fetchall()
    return [_outbox.settled(r) for r in rows]


async def prune(db: AsyncConnection[Any], before: float) -> int:
    return (await db.execute(_outbox.PRUNE, (before,))).rowcount


async def counts(db: AsyncConnection[Any]) -> dict[str, int]:
    rows = await (await db.execute(_outbox.COUNTS)).fetchall()
    return _outbox.every_state((r["state"], r["n"]) for r in rows)


async def due_watches(db: AsyncConnection[Any], now: float, limit: int, period: float, claim: float) -> list[str]:
    """As _outbox.due_watches; rows another replica is claiming are skipped, not waited for."""
    await db.execute(_outbox.ENDED, (now,))
    # Window functions cannot take FOR UPDATE: lock first, number the locked rows after.
    fresh = "fresh AS (SELECT booking_id FROM watches WHERE next_read_at IS NULL FOR UPDATE SKIP LOCKED)"
    await db.execute(_outbox.SPREAD.format(fresh=fresh), {"now": now, "period": period})
    rows = await (await db.execute(
        "WITH due AS (SELECT booking_id, next_read_at FROM watches WHERE next_read_at <= %(now)s"
        " ORDER BY next_read_at, booking_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        " UPDATE watches SET next_read_at = %(next)s FROM due WHERE watches.booking_id = due.booking_id"
        " RETURNING due.booking_id, due.next_read_at AS was",
        {"now": now, "limit": limit, "next": now + claim},
    )).fetchall()
    return [r["booking_id"] for r in sorted(rows, key=lambda r: (r["was"], r["booking_id"]))]


async def backlog(db: AsyncConnection[Any], now: float) -> tuple[int, float | None]:
    pending = await (await db.execute(_outbox.PENDING_COUNT)).fetchone()
    row = await (await db.execute(_outbox.NEXT_READ, (now,))).fetchone()
    return int(pending["n"]), None if row is None else float(row["next_read_at"])


async def erase_ended(db: AsyncConnection[Any], ended_before: dt.datetime, scrub: Scrub, limit: int) -> int:
    """As _retention.erase_ended; rows another replica is erasing are skipped."""
    rows = await (await db.execute(
        "SELECT booking_id, idempotency_key FROM bookings WHERE client != %(erased)s"
        " AND FLOOR(EXTRACT(EPOCH FROM start::timestamptz)) + duration_s <= %(cutoff)s"
        " ORDER BY start LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
        {"erased": ERASED, "cutoff": int(ended_before.timestamp()), "limit": limit},
    )).fetchall()
    for row in rows:
        await db.execute(_retention.ERASE, (ERASED, row["booking_id"]))
        key = row["idempotency_key"]
        if key is None:
            continue
        stored = await (await db.execute(_retention.STORED + " FOR UPDATE", (key,))).fetchone()
        if stored is not None and stored["response"] is not None:
            await db.execute(_retention.SCRUBBED, (scrub(bytes(stored["response"])), key))
    return len(rows)
