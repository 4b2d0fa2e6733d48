"""SQLite store: WAL journal, synchronous=FULL, every write its own committed transaction.

sqlite3 blocks, so every statement runs on one dedicated thread; that also serialises
writers, which SQLite would do anyway.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import pathlib
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from ..core.models import Booking, Lease, Notification
from ._response import Response
from . import _codec, _outbox, _private, _retention
from ._outbox import OutboxEntry
from ._duplicate import BOOKING_LEASE, BOOKING_PERSON_SLOT, IDEMPOTENCY_KEY, LEASE_REFERENCE, Duplicate

T = TypeVar("T")

_SLOT_COLUMNS = """
    merchant_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    start TEXT NOT NULL,
    duration_s INTEGER NOT NULL,
    staff_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    availability_tag TEXT NOT NULL,
    party_size INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    upstream_service_id TEXT NOT NULL,
    resource_id TEXT,
    time_zone TEXT NOT NULL,
"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS leases (
    lease_id TEXT PRIMARY KEY,
    client_reference TEXT NOT NULL UNIQUE,
    {_SLOT_COLUMNS}
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    requested_expiration TEXT,
    hold_id TEXT,
    expires_at TEXT
);
CREATE TABLE IF NOT EXISTS bookings (
    booking_id TEXT PRIMARY KEY,
    lease_id TEXT UNIQUE,
    {_SLOT_COLUMNS}
    client TEXT NOT NULL,
    personal_identifier TEXT NOT NULL,
    appointment_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    pending TEXT,
    idempotency_key TEXT UNIQUE,
    cancelled_elsewhere INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS responses (
    idempotency_key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    response BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS bookings_person_slot
    ON bookings (personal_identifier, tenant_id, branch_id, upstream_service_id, start)
    WHERE status != 'canceled';
CREATE INDEX IF NOT EXISTS bookings_person ON bookings (personal_identifier);
"""


class SqliteStore:
    def __init__(self, path: str | pathlib.Path):
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite3.Connection = self._executor.submit(self._open, str(path)).result()

    @staticmethod
    def _open(path: str) -> sqlite3.Connection:
        _private.make_private(pathlib.Path(path))
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        # Freed space is zeroed, so erased personal data does not linger in the file.
        db.execute("PRAGMA secure_delete=ON")
        # FULL: a commit is on disk before the call returns, so nothing acknowledged is lost.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        db.executescript(_outbox.SCHEMA)
        return db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._db)

    async def _insert(self, table: str, row: dict[str, Any]) -> None:
        sql = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"

        def insert(db: sqlite3.Connection) -> None:
            try:
                with _transaction(db):
                    db.execute(sql, row)
            except sqlite3.IntegrityError as exc:
                text = str(exc)
                if "client_reference" in text:
                    raise Duplicate(LEASE_REFERENCE) from None
                if "bookings.lease_id" in text:
                    raise Duplicate(BOOKING_LEASE) from None
                if "idempotency_key" in text or "responses" in text:
                    raise Duplicate(IDEMPOTENCY_KEY) from None
                if "personal_identifier" in text:
                    raise Duplicate(BOOKING_PERSON_SLOT) from None
                raise

        await self._run(insert)

    async def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        return await self._run(lambda db: db.execute(sql, args).fetchone())

    async def _write(self, statements: list[tuple[str, dict[str, Any]]]) -> None:
        def write(db: sqlite3.Connection) -> None:
            with _transaction(db):
                for sql, row in statements:
                    db.execute(sql, row)

        await self._run(write)

    async def insert_lease(self, lease: Lease) -> None:
        await self._insert("leases", _codec.lease_row(lease))

    async def get_lease(self, lease_id: str) -> Lease | None:
        row = await self._one("SELECT * FROM leases WHERE lease_id = ?", lease_id)
        return None if row is None else _codec.lease_from_row(row)

    async def get_lease_by_reference(self, client_reference: str) -> Lease | None:
        row = await self._one("SELECT * FROM leases WHERE client_reference = ?", client_reference)
        return None if row is None else _codec.lease_from_row(row)

    async def delete_lease(self, lease_id: str) -> None:
        await self._write([("DELETE FROM leases WHERE lease_id = :id", {"id": lease_id})])

    async def insert_booking(self, booking: Booking) -> None:
        await self._insert("bookings", _codec.booking_row(booking))

    async def get_booking(self, booking_id: str) -> Booking | None:
        row = await self._one("SELECT * FROM bookings WHERE booking_id = ?", booking_id)
        return None if row is None else _codec.booking_from_row(row)

    async def get_booking_by_lease(self, lease_id: str) -> Booking | None:
        row = await self._one("SELECT * FROM bookings WHERE lease_id = ?", lease_id)
        return None if row is None else _codec.booking_from_row(row)

    async def get_booking_by_idempotency_key(self, key: str) -> Booking | None:
        row = await self._one("SELECT * FROM bookings WHERE idempotency_key = ?", key)
        return None if row is None else _codec.booking_from_row(row)

    async def bookings_of(self, personal_identifier: str) -> list[Booking]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT * FROM bookings WHERE personal_identifier = ? AND status != 'confirming' ORDER BY start",
                (personal_identifier,),
            ).fetchall()
        )
        return [_codec.booking_from_row(row) for row in rows]

    async def delete_booking(self, booking_id: str) -> None:
        await self._write([("DELETE FROM bookings WHERE booking_id = :id", {"id": booking_id})])

    async def get_response(self, key: str) -> Response | None:
        row = await self._one("SELECT * FROM responses WHERE idempotency_key = ?", key)
        return None if row is None else Response(row["fingerprint"], row["response"])

    async def claim_response(self, key: str, fingerprint: str) -> None:
        await self._insert("responses", {"idempotency_key": key, "fingerprint": fingerprint, "response": None})

    async def store_response(self, key: str, response: bytes) -> None:
        sql = "UPDATE responses SET response = :response WHERE idempotency_key = :key"
        await self._write([(sql, {"key": key, "response": response})])

    async def forget_response(self, key: str) -> None:
        await self._write([("DELETE FROM responses WHERE idempotency_key = :key", {"key": key})])

    async def save(
        self, *, lease: Lease | None = None, booking: Booking | None = None, notification: Notification | None = None
    ) -> None:
        def save(db: sqlite3.Connection) -> None:
            with _transaction(db):
                if lease is not None:
                    db.execute(*_update("leases", "lease_id", _codec.lease_row(lease)))
                if booking is not None:
                    db.execute(*_update("bookings", "booking_id", _codec.booking_row(booking)))
                    _outbox.follow(db, booking)
                if notification is not None:
                    _outbox.enqueue(db, notification)

        await self._run(save)

    # -- retention (see _retention) ------------------------------------------------------

    async def erase_personal_data(self, ended_before: dt.datetime, scrub: _retention.Scrub, batch: int = 500) -> int:
        """Erase the customer of every booking that ended at or before ``ended_before``, a
        batch per transaction so bookings calls wait at most one batch; how many."""
        erased = 0
        while True:
            done = await self._in_transaction(lambda db: _retention.erase_ended(db, ended_before, scrub, batch))
            erased += done
            if done < batch:
                break
        await self._run(_retention.truncate_wal)
        return erased

    async def bookings(self, merchant_id: str | None = None, status: str | None = None) -> list[Booking]:
        """Every booking (of the merchant, in the status), earliest start first."""
        sql = "SELECT * FROM bookings WHERE (:merchant IS NULL OR merchant_id = :merchant)" \
              " AND (:status IS NULL OR status = :status) ORDER BY start, booking_id"
        rows = await self._run(lambda db: db.execute(sql, {"merchant": merchant_id, "status": status}).fetchall())
        return [_codec.booking_from_row(row) for row in rows]

    # -- the notification outbox and the watch list (see _outbox) ----------------------

    async def due_notifications(self, now: float, limit: int) -> list[OutboxEntry]:
        return await self._run(lambda db: _outbox.due(db, now, limit))

    async def finish_notification(self, entry: OutboxEntry, state: str, now: float, error: str | None = None) -> bool:
        return await self._in_transaction(lambda db: _outbox.finish(db, entry, state, now, error))

    async def retry_notification(self, entry: OutboxEntry, next_attempt_at: float, error: str) -> None:
        await self._in_transaction(lambda db: _outbox.retry(db, entry, next_attempt_at, error))

    async def prune_notifications(self, before: float) -> int:
        return await self._in_transaction(lambda db: _outbox.prune(db, before))

    async def notification_counts(self) -> dict[str, int]:
        return await self._run(_outbox.counts)

    async def notifications(self, state: str, limit: int = 50) -> list[tuple[OutboxEntry, str, str | None]]:
        return await self._run(lambda db: _outbox.listed(db, state, limit))

    async def due_watches(self, now: float, limit: int, period: float) -> list[str]:
        return await self._in_transaction(lambda db: _outbox.due_watches(db, now, limit, period))

    async def watch_next(self, booking_id: str, next_read_at: float) -> None:
        sql = "UPDATE watches SET next_read_at = :at WHERE booking_id = :id"
        await self._write([(sql, {"at": next_read_at, "id": booking_id})])

    async def unwatch(self, booking_id: str) -> None:
        await self._write([("DELETE FROM watches WHERE booking_id = :id", {"id": booking_id})])

    async def watched_count(self, now: float) -> int:
        row = await self._one("SELECT COUNT(*) FROM watches WHERE ends_at > ?", now)
        return int(row[0])

    async def inventory_backlog(self, now: float) -> tuple[int, float | None]:
        return await self._run(lambda db: _outbox.backlog(db, now))

    async def _in_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run(db: sqlite3.Connection) -> T:
            with _transaction(db):
                return fn(db)

        return await self._run(run)

    async def close(self) -> None:
        await self._run(lambda db: db.close())
        self._executor.shutdown(wait=True)


def _update(table: str, key: str, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    sets = ", ".join(f"{k} = :{k}" for k in row if k != key)
    return f"UPDATE {table} SET {sets} WHERE {key} = :{key}", row


class _transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
