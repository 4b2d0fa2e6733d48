"""SQLite store: WAL journal, synchronous=FULL, every write its own all-or-nothing unit,
durable before its caller goes on.

sqlite3 blocks, and handing each statement to a thread costs more than the statement, so:

* Quick reads (a record by its key, a person's bookings) run on the event loop's thread,
  over a read-only connection of their own. In WAL a reader sees the last committed
  state without waiting for the writer, and a write's caller resumes only once it is
  committed: a read made after a write returned sees it.
* Writes are group-committed (_writes): their statements run on the loop's thread, each
  write in a savepoint of its own inside a shared transaction, so one that fails is
  rolled back alone and only its caller gets the error; the COMMIT (its fsync) runs on
  one writer thread, and only then does any caller of the group resume. A COMMIT that
  fails fails every caller of the group.
* Reads that may touch many rows (listings, counts, the outbox's) run on the writer
  thread, between groups; so does an erasure's batch, in a transaction of its own.
* Leases and bookings committed or read lately are answered from memory (_recent), as
  are those known not to exist.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import functools
import pathlib
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..core.models import Booking, Lease, Notification
from ._records import DELETE_BOOKING, DELETE_LEASE, Records
from ._recent import ABSENT, EVERY, Recent
from . import _codec, _outbox, _private, _retention, _schema
from ._writes import STOP, UNRUN, Job, Writes, commit, serve
from ._outbox import OutboxEntry
from ._duplicate import Duplicate, classify
from ._keyed import KeyedLocks

T = TypeVar("T")

SCHEMA = _schema.tables(blob="BLOB", real="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT")

# How long a write waits for another process's write lock, on the writer thread.
BUSY_MS = 5000

# The placeholders turned into SQLite's once per statement text, not once per call.
_positional = functools.lru_cache(maxsize=512)(_codec.sqlite_positional)


class SqliteStore(Records):
    """``migrate``: bring an older store up to this release's schema (``store migrate``);
    without it such a store raises NeedsMigration. A new, empty file is always created at
    the current version."""

    def __init__(self, path: str | pathlib.Path, *, migrate: bool = False):
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        opened: concurrent.futures.Future[sqlite3.Connection] = concurrent.futures.Future()
        self._writer = threading.Thread(target=self._serve, args=(str(path), migrate, opened),
                                         name="sqlite-writer", daemon=True)
        self._writer.start()
        db = opened.result()  # raises what opening raised (NeedsMigration, sqlite3.Error); the thread has ended then
        try:
            self._reader = _open_reader(str(path))
        except BaseException:
            self._jobs.put(STOP)
            raise
        self._writes = Writes(db, self._jobs, BUSY_MS)
        self._closed = False
        self._locks = KeyedLocks()
        self._recent = Recent()
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
        db.execute(f"PRAGMA busy_timeout={BUSY_MS}")
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

    # -- the writer thread -----------------------------------------------------------------

    def _serve(self, path: str, migrate: bool, opened: concurrent.futures.Future[sqlite3.Connection]) -> None:
        try:
            db = self._open(path, migrate)
        except BaseException as exc:
            opened.set_exception(exc)
            return
        opened.set_result(db)
        serve(db, self._jobs)

    def _submit(
        self, fn: Callable[[sqlite3.Connection], T], *, write: bool, settled: Callable[[bool, Any], None] | None = None
    ) -> asyncio.Future[T]:
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._writes.submit(Job(fn, done, write, settled))
        return done

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` alone on the writer thread and its connection, outside any transaction."""
        return await self._submit(fn, write=False)

    async def _in_transaction(
        self,
        fn: Callable[[sqlite3.Connection], T],
        then: Callable[[T], None] | None = None,
        records: tuple[tuple[str, ...], ...] = (),
        *,
        alone: bool = False,
    ) -> T:
        """``fn`` as one all-or-nothing unit of the next group commit; its result once
        committed. ``then(result)``: what the records in memory learn from it, once
        committed. ``records``: the leases and bookings it may change (see Recent.begin).
        ``alone``: in a transaction of its own on the writer thread, between groups, for
        a write too long to run on the event loop (an erasure's batch)."""
        recent = self._recent

        def settled(ok: bool, value: Any) -> None:
            if records:
                recent.end(records)
            if value is UNRUN:
                return
            if not ok:
                if not isinstance(value, Duplicate):  # a refusal changed nothing; but a failed
                    recent.forget()  # COMMIT may have reached the file all the same
            elif then is not None:
                then(value)

        if records:
            recent.begin(records)
        if alone:
            return await self._submit(functools.partial(_alone, fn), write=False, settled=settled)
        return await self._submit(fn, write=True, settled=settled)

    # -- the record primitives (see _records) ------------------------------------------------

    async def _insert(self, table: str, row: dict[str, Any], then: Callable[[None], None] | None = None,
                      records: tuple[tuple[str, ...], ...] = ()) -> None:
        sql = _inserting(table, tuple(row))

        await self._in_transaction(lambda db: _inserted(db, sql, row), then, records)

    async def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        return await self._read(_positional(sql), args, _first)

    async def _all(self, sql: str, args: Any) -> list[sqlite3.Row]:
        return await self._read(_positional(sql), args, _rows)

    async def _scan(self, sql: str, args: Any) -> list[sqlite3.Row]:
        sql = _positional(sql)
        return await self._run(lambda db: db.execute(sql, args).fetchall())

    async def _read(self, sql: str, args: Any, fetch: Callable[[sqlite3.Cursor], T]) -> T:
        """On the event loop's thread; an index lookup takes tens of microseconds."""
        try:
            cursor = self._reader.execute(sql, args)
            try:
                return fetch(cursor)
            finally:
                cursor.close()  # ends the read transaction: the next read sees the latest commit
        except sqlite3.OperationalError:
            if self._closed:
                raise
            # Busy (the WAL being reset or recovered): waited for on the writer thread, not here.
            return await self._run(lambda db: fetch(db.execute(sql, args)))

    async def _write(self, sql: str, args: Any, then: Callable[[None], None] | None = None,
                     records: tuple[tuple[str, ...], ...] = ()) -> None:
        sql = _positional(sql)

        def write(db: sqlite3.Connection) -> None:
            db.execute(sql, args)

        await self._in_transaction(write, then, records)

    async def save(
        self, *, lease: Lease | None = None, booking: Booking | None = None, notification: Notification | None = None
    ) -> None:
        recent = self._recent
        # What the file holds of each when this save runs, if known: only what changed is written.
        lease_was = None if lease is None else recent.steady_lease(lease.lease_id)
        booking_was = None if booking is None else recent.steady_booking(booking.booking_id)
        # A customer written may meet one erased meanwhile, which the file keeps: only the
        # file then knows which it holds. (Most saves write no customer: checked first.)
        settled_by_file = booking is not None and (
            booking_was is None or booking.client != booking_was.client) and booking.client != _codec.ERASED_CLIENT

        def save(db: sqlite3.Connection) -> bool:
            """Whether every record saved was there to update."""
            found = True
            if lease is not None:
                found = _updated(db, "leases", "lease_id", _codec.lease_row(lease) if lease_was is None
                                 else _codec.lease_changes(lease, lease_was))
            if booking is not None:
                found &= _updated(db, "bookings", "booking_id", _codec.booking_row(booking) if booking_was is None
                                  else _codec.booking_changes(booking, booking_was))
                _outbox.follow(db, booking)
            if notification is not None:
                _outbox.enqueue(db, notification)
            return found

        def then(found: bool) -> None:
            if not found:  # the core never saves what is not there; whatever happened, forget
                self._recent.forget()
                return
            if lease is not None:
                self._recent.lease_written(lease)
            if settled_by_file:
                self._recent.booking_unsure(booking)
            elif booking is not None:
                self._recent.booking_written(booking)

        records = (*(() if lease is None else (("lease", lease.lease_id),)),
                   *(() if booking is None else (("booking", booking.booking_id),)))
        await self._in_transaction(save, then, records)

    # -- leases and bookings, through the records in memory (see _recent) ------------------

    async def insert_lease(self, lease: Lease) -> None:
        row = _codec.lease_row(lease)
        sql = _inserting("leases", tuple(row))

        def insert(db: sqlite3.Connection) -> bool:
            _inserted(db, sql, row)
            return db.execute(_BOOKED, (lease.lease_id,)).fetchone() is not None

        await self._in_transaction(insert, functools.partial(self._recent.lease_inserted, lease),
                                   (("lease", lease.lease_id),))

    async def delete_lease(self, lease_id: str) -> None:
        await self._write(DELETE_LEASE, (lease_id,), lambda _: self._recent.lease_deleted(lease_id),
                          (("lease", lease_id),))

    async def insert_booking(self, booking: Booking) -> None:
        await self._insert("bookings", _codec.booking_row(booking), lambda _: self._recent.booking_written(booking),
                           (("booking", booking.booking_id),))

    async def delete_booking(self, booking_id: str) -> None:
        await self._write(DELETE_BOOKING, (booking_id,), lambda _: self._recent.booking_deleted(booking_id),
                          (("booking", booking_id),))

    async def claim_response(self, key: str, fingerprint: str) -> None:
        row = {"idempotency_key": key, "fingerprint": fingerprint, "response": None}
        sql = _inserting("responses", tuple(row))

        def claim(db: sqlite3.Connection) -> bool:
            _inserted(db, sql, row)
            return db.execute(_KEYED, (key,)).fetchone() is not None

        await self._in_transaction(claim, functools.partial(self._recent.key_claimed, key))

    async def get_lease(self, lease_id: str) -> Lease | None:
        recent = self._recent
        return await self._recalled(recent.lease(lease_id), Records.get_lease, recent.found_lease, ("id", lease_id))

    async def get_lease_by_reference(self, client_reference: str) -> Lease | None:
        recent = self._recent
        return await self._recalled(recent.lease_by_reference(client_reference), Records.get_lease_by_reference,
                                    recent.found_lease, ("reference", client_reference))

    async def get_booking(self, booking_id: str) -> Booking | None:
        recent = self._recent
        return await self._recalled(recent.booking(booking_id), Records.get_booking, recent.found_booking,
                                    ("id", booking_id))

    async def get_booking_by_lease(self, lease_id: str) -> Booking | None:
        recent = self._recent
        return await self._recalled(recent.booking_by_lease(lease_id), Records.get_booking_by_lease,
                                    recent.found_booking, ("lease", lease_id))

    async def get_booking_by_idempotency_key(self, key: str) -> Booking | None:
        recent = self._recent
        return await self._recalled(recent.booking_by_key(key), Records.get_booking_by_idempotency_key,
                                    recent.found_booking, ("key", key))

    async def _recalled(
        self,
        known: Any,
        read: Callable[[Records, str], Awaitable[T | None]],
        found: Callable[[int, tuple[str, str], T | None], None],
        which: tuple[str, str],
    ) -> T | None:
        """``known`` (from memory: a record, ABSENT, or None for unknown), else what
        ``read`` finds in the file for ``which``, remembered through ``found``."""
        if known is None:
            generation = self._recent.generation
            known = await read(self, which[1])
            found(generation, which, known)
        return None if known is ABSENT else known

    # -- retention (see _retention) ------------------------------------------------------

    async def erase_personal_data(self, ended_before: dt.datetime, scrub: _retention.Scrub, batch: int = 500) -> int:
        """Erase the customer of every booking that ended at or before ``ended_before``, a
        batch per transaction so bookings calls wait at most one batch; how many."""
        erased = 0
        while True:
            done = await self._in_transaction(lambda db: _retention.erase_ended(db, ended_before, scrub, batch),
                                              lambda _: self._recent.forget_bookings(), (EVERY,), alone=True)
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

    def lock(self, key: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Held by one caller at a time per key. One process owns a SQLite store, so an
        asyncio lock is enough; PostgreSQL's store takes an advisory lock across replicas."""
        return self._locks.hold(key)

    async def close(self) -> None:
        """Once the writes asked before it are committed. The writer's connection closes
        last, so that it checkpoints the WAL into the file and removes it."""
        if self._closed:
            return
        self._recent.forget()
        self._reader.close()
        closing = self._submit(lambda db: db.close(), write=False)
        self._closed = True
        try:
            await closing  # after the writes asked before it
        finally:
            self._jobs.put(STOP)
        await asyncio.to_thread(self._writer.join)


def _alone(fn: Callable[[sqlite3.Connection], T], db: sqlite3.Connection) -> T:
    with _transaction(db):
        return fn(db)


def _open_reader(path: str) -> sqlite3.Connection:
    """The event loop's connection: read-only, and never waiting on a lock (timeout 0:
    a read that finds the file busy is retried on the writer thread instead)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA query_only=ON")
    except BaseException:
        db.close()
        raise
    return db


_BOOKED = "SELECT 1 FROM bookings WHERE lease_id = ?"
_KEYED = "SELECT 1 FROM bookings WHERE idempotency_key = ?"


def _inserted(db: sqlite3.Connection, sql: str, row: dict[str, Any]) -> None:
    try:
        db.execute(sql, row)
    except sqlite3.IntegrityError as exc:
        what = classify(str(exc))
        if what is None:
            raise
        raise Duplicate(what) from None


def _first(cursor: sqlite3.Cursor) -> Any:
    return cursor.fetchone()


def _rows(cursor: sqlite3.Cursor) -> list[Any]:
    return cursor.fetchall()


def _updated(db: sqlite3.Connection, table: str, key: str, row: dict[str, Any]) -> bool:
    """Whether the record was there; a row of the key alone has nothing to change, and
    comes only from a record known to be there (Recent.steady_…)."""
    if len(row) == 1:
        return True
    return db.execute(_updating(table, key, tuple(row)), row).rowcount == 1


@functools.lru_cache(maxsize=64)
def _updating(table: str, key: str, columns: tuple[str, ...]) -> str:
    """A table's UPDATE for these columns, written once rather than on every save."""
    return _codec.sqlite_named(_codec.update_sql(table, key, dict.fromkeys(columns)))


@functools.lru_cache(maxsize=64)
def _inserting(table: str, columns: tuple[str, ...]) -> str:
    return _codec.sqlite_named(_codec.insert_sql(table, dict.fromkeys(columns)))


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
        if exc_type is None:
            commit(self._db)
        elif self._db.in_transaction:  # SQLite may have ended it already (a full disk)
            self._db.execute("ROLLBACK")
