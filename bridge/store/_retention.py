"""Erasing customers' personal data once their appointment is long over ([store] retain_days).

Erased: the name, e-mail, phone, postal address and Actions Center user id kept with a
booking, and the same inside the CreateBooking answer stored for idempotent replays.
Kept: ids, slot, status, and the HMAC personalIdentifier (it reveals nothing without the
key; the one-booking-per-person rule keys on it), and the idempotency record with its
fingerprint (a hash of the request), so a replay still answers, with the erased answer.

Erasure is one way: a save never writes a customer over an erased one (_codec.update_sql),
so a booking read before its erasure and saved after it stays erased.

The stored answer is a front's bytes, opaque here: the front's ``scrub`` rewrites it
without the customer, once, so every later replay gets the same bytes again. When
``scrub`` cannot read a body it returns None and the body is dropped: a replay then finds
the booking by its token and renders it afresh, from the erased record.

Old values must not linger in the file either: the store runs with secure_delete (freed
space is zeroed), and after an erasure the WAL, which still holds the old pages, is
checkpointed and truncated.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable

from ._codec import ERASED, sqlite_positional

Scrub = Callable[[bytes], "bytes | None"]

# Both stores' statements for one booking (psycopg's style; see _codec.sqlite_positional).
ERASE = "UPDATE bookings SET client = %s WHERE booking_id = %s"
STORED = "SELECT response FROM responses WHERE idempotency_key = %s"
SCRUBBED = "UPDATE responses SET response = %s WHERE idempotency_key = %s"


def erase_ended(db: sqlite3.Connection, ended_before: dt.datetime, scrub: Scrub, limit: int) -> int:
    """Erase up to ``limit`` bookings whose appointment ended at or before ``ended_before``
    and that still hold personal data; how many were erased. Inside the caller's transaction."""
    rows = db.execute(
        "SELECT booking_id, idempotency_key FROM bookings WHERE client != :erased"
        # Whole seconds since the epoch: exact, where julianday's fractions of a day are not.
        " AND CAST(strftime('%s', start) AS INTEGER) + duration_s <= :cutoff ORDER BY start LIMIT :limit",
        {"erased": ERASED, "cutoff": int(ended_before.timestamp()), "limit": limit},
    ).fetchall()
    for booking_id, key in rows:
        db.execute(sqlite_positional(ERASE), (ERASED, booking_id))
        if key is None:
            continue
        stored = db.execute(sqlite_positional(STORED), (key,)).fetchone()
        if stored is not None and stored[0] is not None:
            db.execute(sqlite_positional(SCRUBBED), (scrub(stored[0]), key))
    return len(rows)


def truncate_wal(db: sqlite3.Connection) -> None:
    """Copy the WAL into the file and empty it; outside any transaction. A reader holding
    it open (an operator's command) makes this a no-op; the next erasure tries again."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
