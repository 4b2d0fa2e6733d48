"""Durable state behind the core: a small protocol, SQLite by default, PostgreSQL for
several replicas (``[store] url``).

The core writes its intent first (a lease in HOLDING, a booking in CONFIRMING, a pending
change) and only then calls the upstream, so that a crash at any point leaves a record
that the next call reconciles. Uniqueness lives in the store's constraints, not in
memory, so it holds across restarts and replicas.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Protocol

from ..core.models import Booking, Lease, Notification
from ._outbox import DEAD, DROPPED, PENDING, SENT, OutboxEntry
from ._duplicate import BOOKING_LEASE, BOOKING_PERSON_SLOT, IDEMPOTENCY_KEY, LEASE_REFERENCE, Duplicate
from ._response import Response
from ._retention import Scrub
from ._schema import CURRENT as SCHEMA_VERSION
from ._schema import NeedsMigration
from ._sqlite import SqliteStore
from ._sqlite import read_version as read_sqlite_version

if TYPE_CHECKING:
    from ..config import Config


class Store(Protocol):
    async def insert_lease(self, lease: Lease) -> None: ...
    async def get_lease(self, lease_id: str) -> Lease | None: ...
    async def get_lease_by_reference(self, client_reference: str) -> Lease | None: ...
    async def delete_lease(self, lease_id: str) -> None: ...
    async def insert_booking(self, booking: Booking) -> None: ...
    async def get_booking(self, booking_id: str) -> Booking | None: ...
    async def get_booking_by_lease(self, lease_id: str) -> Booking | None: ...
    async def get_booking_by_idempotency_key(self, key: str) -> Booking | None: ...
    async def bookings_of(self, personal_identifier: str) -> list[Booking]:
        """Every settled booking of the person, earliest first."""
    async def delete_booking(self, booking_id: str) -> None: ...
    async def get_response(self, key: str) -> Response | None: ...
    async def claim_response(self, key: str, fingerprint: str) -> None:
        """Raises Duplicate(IDEMPOTENCY_KEY) when the key is taken."""
    async def store_response(self, key: str, response: bytes) -> None: ...
    async def forget_response(self, key: str) -> None: ...
    async def save(
        self, *, lease: Lease | None = None, booking: Booking | None = None, notification: Notification | None = None
    ) -> None:
        """Update existing records and queue the notification, all in one transaction.
        A confirmed booking still to come is watched; any other is not."""
    async def erase_personal_data(self, ended_before: dt.datetime, scrub: Scrub) -> int:
        """Erase the customer of every booking that ended by then, and from its stored
        answer (``scrub`` rewrites one; see _retention); how many bookings."""
    async def bookings(self, merchant_id: str | None = None, status: str | None = None) -> list[Booking]:
        """Every booking (of the merchant, in the status), earliest start first."""
    async def due_notifications(self, now: float, limit: int, claim: float) -> list[OutboxEntry]:
        """Unsent notifications whose next attempt is due, oldest first; on a store shared
        by replicas, claimed for ``claim`` seconds (or until settled or retried), so that
        no other replica sends them meanwhile."""
    async def finish_notification(self, entry: OutboxEntry, state: str, now: float, error: str | None = None) -> bool:
        """Settle ``entry`` as sent, dropped or dead; False if a later change was merged into it."""
    async def retry_notification(self, entry: OutboxEntry, next_attempt_at: float, error: str) -> None: ...
    async def prune_notifications(self, before: float) -> int: ...
    async def notification_counts(self) -> dict[str, int]: ...
    async def notifications(self, state: str, limit: int = 50) -> list[tuple[OutboxEntry, str, str | None]]:
        """The latest entries in ``state``, each with when it settled (ISO) and why."""
    async def due_watches(self, now: float, limit: int, period: float, claim: float) -> list[str]:
        """Claim the watched bookings due a read (the longest overdue first): their next
        read is set ``claim`` on, until the reader sets it (``watch_next``); so a reader
        that dies leaves them due again that soon. Those never read are first spread over
        ``period``."""
    async def watch_next(self, booking_id: str, next_read_at: float) -> None: ...
    async def unwatch(self, booking_id: str) -> None: ...
    async def watched_count(self, now: float) -> int: ...
    async def inventory_backlog(self, now: float) -> tuple[int, float | None]:
        """(notifications not yet delivered, the earliest read time of a watched booking)."""
    def lock(self, key: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Held by one caller at a time per ``key``: across replicas in PostgreSQL (an
        advisory lock), within the process in SQLite (one process owns the file)."""
    async def close(self) -> None: ...


def open_store(config: Config) -> Store:
    """The configured store: PostgreSQL when ``[store] url`` is set, else the SQLite file
    (created at the current schema version when new). NeedsMigration for an older store;
    PostgreSQL's says so on first use."""
    if config.store.url:
        from ._postgres import PostgresStore

        return PostgresStore(config.store.url, config.store.pool_size)
    return SqliteStore(config.resolve(config.store.path))


async def migrate(config: Config) -> tuple[int | None, int]:
    """Create or upgrade the configured store's schema: (the version it was at, None for a
    new SQLite file; the version it is at now)."""
    if config.store.url:
        from ._postgres import migrate as migrate_postgres

        return await migrate_postgres(config.store.url), SCHEMA_VERSION
    store = SqliteStore(config.resolve(config.store.path), migrate=True)
    await store.close()
    return store.found_version, SCHEMA_VERSION


# How a PostgreSQL store that does not answer is reported; serve's exit code 3 (it may come back).
UNREACHABLE = "[store] url: cannot connect"
# What the server answers when the database is there but the configuration is wrong: a
# problem to fix (exit 2), not to wait out.
_REFUSED = ("authentication failed", "does not exist", "permission denied", "no password supplied",
            "no pg_hba.conf entry")


def inspect_problem(config: Config) -> str | None:
    """Why a command that reads the store (outbox, bookings) cannot: no SQLite file yet, a
    store to migrate, a database that does not answer; None when it can."""
    if not config.store.url:
        path = config.resolve(config.store.path)
        if not path.is_file():
            return f"[store] path: {path}: no such file"
    return version_problem(config)


def version_problem(config: Config) -> str | None:
    """One line when the store is not at this release's schema version (or, for
    PostgreSQL, cannot be reached); None when ``serve`` may open it."""
    from ._schema import problem

    if config.store.url:
        import psycopg

        from ._postgres import read_version

        try:
            found = read_version(config.store.url)
        except psycopg.Error as exc:
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            if any(word in why for word in _REFUSED):  # no use waiting: the configuration is wrong
                return f"[store] url: refused: {why}"
            return f"{UNREACHABLE}: {why}"
        where = "the database"
    else:
        path = config.resolve(config.store.path)
        if not path.is_file():
            return None
        version = read_sqlite_version(path)
        if version is None:  # empty: created at the current version when opened
            return None
        found, where = version, f"the store {path}"
    if found == SCHEMA_VERSION:
        return None
    return f"[store]: {problem(found, where, config.source or 'FILE')}"


__all__ = [
    "DEAD",
    "DROPPED",
    "OutboxEntry",
    "PENDING",
    "SENT",
    "BOOKING_LEASE",
    "BOOKING_PERSON_SLOT",
    "Duplicate",
    "IDEMPOTENCY_KEY",
    "LEASE_REFERENCE",
    "NeedsMigration",
    "SCHEMA_VERSION",
    "Response",
    "SqliteStore",
    "UNREACHABLE",
    "Store",
    "inspect_problem",
    "migrate",
    "open_store",
    "version_problem",
]
