"""SQLite store: WAL journal, synchronous=FULL, every write its own committed transaction.

sqlite3 blocks, so every statement runs on one dedicated thread; that also serialises
writers, which SQLite would do anyway.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import pathlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from ..core.models import Booking, Lease, Notification
from ._records import Records
from . import _codec, _outbox, _private, _retention, _schema
from ._outbox import OutboxEntry
from ._duplicate import Duplicate, classify
from ._keyed import KeyedLocks

T = TypeVar("T")

SCHEMA = _schema.tables(blob="BLOB", real="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT")

class SqliteStore(Records):
    """``migrate``: bring an older store up to this release's schema (``store migrate``);
    without it such a store raises NeedsMigration. A new, empty file is always created at
    the current version."""

    def __init__(self, path: str | pathlib.Path, *, migrate: bool = False):
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            self._db: sqlite3.Connection = self._executor.submit(self._open, str(path), migrate).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise
        self._locks = KeyedLocks()
        # The version the store was at when opened (None: it was new); migrate reports it.
        self.found_version: int | None = self._found

    def _open(self, path: str, migrate: bool) -> sqlite3.Connection:
        _private.make_private(pathlib.Path(path))
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        # Freed space is zeroed, so erased personal data does not linger in the file.
        db.execute("PRAGMA secure_delete=ON")
        # FULL: a commit is on disk before the call returns, so nothing acknowledged is lost.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA busy_timeout=5000")
        try:
            self._found = found = schema_version(db)
            if found != _schema.CURRENT:
                if found is not None and (found > _schema.CURRENT or not migrate):
                    raise _schema.NeedsMigration(found, f"the store {path}")
                with _transaction(db):
                    upgrade(db, found or 0)
        except BaseException:
            db.close()
            raise
        return db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._db)

    async def _insert(self, table: str, row: dict[str, Any]) -> None:
        sql = _codec.sqlite_named(_codec.insert_sql(table, row))

        def insert(db: sqlite3.Connection) -> None:
            try:
                with _transaction(db):
                    db.execute(sql, row)
            except sqlite3.IntegrityError as exc:
                what = classify(str(exc))
                if what is None:
                    raise
                raise Duplicate(what) from None

        await self._run(insert)

    async def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        sql = _codec.sqlite_positional(sql)
        return await self._run(lambda db: db.execute(sql, args).fetchone())

    async def _all(self, sql: str, args: Any) -> list[sqlite3.Row]:
        sql = _codec.sqlite_positional(sql)
        return await self._run(lambda db: db.execute(sql, args).fetchall())

    async def _write(self, sql: str, args: Any) -> None:
        sql = _codec.sqlite_positional(sql)

        def write(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(sql, args)

        await self._run(write)

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

    # -- the notification outbox and the watch list (see _outbox) ----------------------

    async def due_notifications(self, now: float, limit: int, claim: float) -> list[OutboxEntry]:
        # One process owns the file, and its one notifier sends what it reads: no claim.
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

    async def due_watches(self, now: float, limit: int, period: float, claim: float) -> list[str]:
        return await self._in_transaction(lambda db: _outbox.due_watches(db, now, limit, period, claim))

    async def inventory_backlog(self, now: float) -> tuple[int, float | None]:
        return await self._run(lambda db: _outbox.backlog(db, now))

    async def _in_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run(db: sqlite3.Connection) -> T:
            with _transaction(db):
                return fn(db)

        return await self._run(run)

    @contextlib.asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        """Held by one caller at a time per key. One process owns a SQLite store, so an
        asyncio lock is enough; PostgreSQL's store takes an advisory lock across replicas."""
        async with self._locks.hold(key):
            yield

    async def close(self) -> None:
        await self._run(lambda db: db.close())
        self._executor.shutdown(wait=True)


def _update(table: str, key: str, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return _codec.sqlite_named(_codec.update_sql(table, key, row)), row


def schema_version(db: sqlite3.Connection) -> int | None:
    """None for an empty database; 0 for one with tables but no version (the first release)."""
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not names:
        return None
    if "schema_version" not in names:
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


# What takes a store from version v - 1 to v. Version 1's statements are all IF NOT
# EXISTS, so a first-release store (version 0: these tables, no schema_version) keeps its rows.
MIGRATIONS = {1: SCHEMA}


def upgrade(db: sqlite3.Connection, found: int) -> None:
    """Inside the caller's transaction: every step up to the current version, then the stamp."""
    for statement in _schema.steps(found, MIGRATIONS):
        db.execute(statement)


def read_version(path: pathlib.Path) -> int | None:
    """The schema version of the store file, read-only (None: empty or no file)."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return schema_version(db)
    finally:
        db.close()


class _transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
