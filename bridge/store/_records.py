"""The record statements both stores run alike, written once in psycopg's style
(``%s``/``%(name)s``): leases, bookings, stored answers, and the watch list's simple
reads and writes. A store supplies four primitives, and may run ``_scan`` (the reads of
many rows) apart from them; SQLite's turn the placeholders into its own
(_codec.sqlite_named, sqlite_positional). What differs by backend (a save's
outbox merge, claiming, retention) stays in each store.
"""

from __future__ import annotations

from typing import Any

from ..core.models import Booking, Lease
from . import _codec, _outbox
from ._response import Response

DELETE_LEASE = "DELETE FROM leases WHERE lease_id = %s"
DELETE_BOOKING = "DELETE FROM bookings WHERE booking_id = %s"


class Records:
    async def _one(self, sql: str, *args: Any) -> Any | None:
        """The first row (rows read by column name), or None."""
        raise NotImplementedError

    async def _all(self, sql: str, args: Any) -> list[Any]:
        raise NotImplementedError

    async def _scan(self, sql: str, args: Any) -> list[Any]:
        """Like ``_all``, for a read that may touch many rows (a listing, a count): a store
        may run it apart from the quick lookups."""
        return await self._all(sql, args)

    async def _write(self, sql: str, args: Any) -> None:
        """One statement, committed."""
        raise NotImplementedError

    async def _insert(self, table: str, row: dict[str, Any]) -> None:
        """One row, committed; a unique violation raises Duplicate (see _duplicate.classify)."""
        raise NotImplementedError

    async def insert_lease(self, lease: Lease) -> None:
        await self._insert("leases", _codec.lease_row(lease))

    async def get_lease(self, lease_id: str) -> Lease | None:
        row = await self._one("SELECT * FROM leases WHERE lease_id = %s", lease_id)
        return None if row is None else _codec.lease_from_row(row)

    async def get_lease_by_reference(self, client_reference: str) -> Lease | None:
        row = await self._one("SELECT * FROM leases WHERE client_reference = %s", client_reference)
        return None if row is None else _codec.lease_from_row(row)

    async def delete_lease(self, lease_id: str) -> None:
        await self._write(DELETE_LEASE, (lease_id,))

    async def insert_booking(self, booking: Booking) -> None:
        await self._insert("bookings", _codec.booking_row(booking))

    async def get_booking(self, booking_id: str) -> Booking | None:
        row = await self._one("SELECT * FROM bookings WHERE booking_id = %s", booking_id)
        return None if row is None else _codec.booking_from_row(row)

    async def get_booking_by_lease(self, lease_id: str) -> Booking | None:
        row = await self._one("SELECT * FROM bookings WHERE lease_id = %s", lease_id)
        return None if row is None else _codec.booking_from_row(row)

    async def get_booking_by_idempotency_key(self, key: str) -> Booking | None:
        row = await self._one("SELECT * FROM bookings WHERE idempotency_key = %s", key)
        return None if row is None else _codec.booking_from_row(row)

    async def bookings_of(self, personal_identifier: str) -> list[Booking]:
        rows = await self._all("SELECT * FROM bookings WHERE personal_identifier = %s AND status != 'confirming'"
                               " ORDER BY start", (personal_identifier,))
        return [_codec.booking_from_row(row) for row in rows]

    async def delete_booking(self, booking_id: str) -> None:
        await self._write(DELETE_BOOKING, (booking_id,))

    async def bookings(self, merchant_id: str | None = None, status: str | None = None) -> list[Booking]:
        """Every booking (of the merchant, in the status), earliest start first."""
        rows = await self._scan(
            "SELECT * FROM bookings WHERE (CAST(%(merchant)s AS TEXT) IS NULL OR merchant_id = %(merchant)s)"
            " AND (CAST(%(status)s AS TEXT) IS NULL OR status = %(status)s) ORDER BY start, booking_id",
            {"merchant": merchant_id, "status": status},
        )
        return [_codec.booking_from_row(row) for row in rows]

    async def get_response(self, key: str) -> Response | None:
        row = await self._one("SELECT * FROM responses WHERE idempotency_key = %s", key)
        if row is None:
            return None
        body = row["response"]
        return Response(row["fingerprint"], None if body is None else bytes(body))

    async def claim_response(self, key: str, fingerprint: str) -> None:
        await self._insert("responses", {"idempotency_key": key, "fingerprint": fingerprint, "response": None})

    async def store_response(self, key: str, response: bytes) -> None:
        await self._write("UPDATE responses SET response = %s WHERE idempotency_key = %s", (response, key))

    async def forget_response(self, key: str) -> None:
        await self._write("DELETE FROM responses WHERE idempotency_key = %s", (key,))

    async def watch_next(self, booking_id: str, next_read_at: float) -> None:
        await self._write("UPDATE watches SET next_read_at = %s WHERE booking_id = %s", (next_read_at, booking_id))

    async def unwatch(self, booking_id: str) -> None:
        await self._write(_outbox.UNWATCH, (booking_id,))

    async def watched_count(self, now: float) -> int:
        [row] = await self._scan("SELECT COUNT(*) AS n FROM watches WHERE ends_at > %s", (now,))
        return int(row["n"])
