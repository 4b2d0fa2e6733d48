"""Durable state behind the core: a small protocol, SQLite by default.

The core writes its intent first (a lease in HOLDING, a booking in CONFIRMING, a pending
change) and only then calls the upstream, so that a crash at any point leaves a record
that the next call reconciles. Uniqueness lives in the store's constraints, not in
memory, so it holds across restarts and replicas.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from ..core.models import Booking, Lease, Notification
from ._outbox import DEAD, DROPPED, PENDING, SENT, OutboxEntry
from ._duplicate import BOOKING_LEASE, BOOKING_PERSON_SLOT, IDEMPOTENCY_KEY, LEASE_REFERENCE, Duplicate
from ._response import Response
from ._retention import Scrub
from ._sqlite import SqliteStore


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
    async def due_notifications(self, now: float, limit: int) -> list[OutboxEntry]:
        """Unsent notifications whose next attempt is due, oldest first."""
    async def finish_notification(self, entry: OutboxEntry, state: str, now: float, error: str | None = None) -> bool:
        """Settle ``entry`` as sent, dropped or dead; False if a later change was merged into it."""
    async def retry_notification(self, entry: OutboxEntry, next_attempt_at: float, error: str) -> None: ...
    async def prune_notifications(self, before: float) -> int: ...
    async def notification_counts(self) -> dict[str, int]: ...
    async def notifications(self, state: str, limit: int = 50) -> list[tuple[OutboxEntry, str, str | None]]:
        """The latest entries in ``state``, each with when it settled (ISO) and why."""
    async def due_watches(self, now: float, limit: int, period: float) -> list[str]:
        """Claim the watched bookings due a read (the longest overdue first) and set their
        next read ``period`` on; those never read are first spread over the period."""
    async def watch_next(self, booking_id: str, next_read_at: float) -> None: ...
    async def unwatch(self, booking_id: str) -> None: ...
    async def watched_count(self, now: float) -> int: ...
    async def inventory_backlog(self, now: float) -> tuple[int, float | None]:
        """(notifications not yet delivered, the earliest read time of a watched booking)."""
    async def close(self) -> None: ...


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
    "Response",
    "SqliteStore",
    "Store",
]
