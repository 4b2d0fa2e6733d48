"""Booking semantics, free of any wire format: leases, bookings, changes, reconciliation."""

from __future__ import annotations

import datetime as dt

from .bookings import Bookings
from .changes import Changes
from .context import Context
from .leases import Leases
from .models import Booking, BookingStatus, Client, Lease, LeaseState, Slot, Target


class BookingCore:
    """The operations every front calls."""

    def __init__(self, ctx: Context):
        self.context = ctx
        self._leases = Leases(ctx)
        self._bookings = Bookings(ctx)
        self._changes = Changes(ctx, self._bookings)

    async def create_lease(
        self, slot: Slot, client_reference: str, requested_expiration: dt.datetime | None = None
    ) -> Lease:
        return await self._leases.create(slot, client_reference, requested_expiration)

    async def create_booking(self, lease_id: str, client: Client) -> Booking:
        return await self._bookings.create(lease_id, client)

    async def cancel_booking(self, booking_id: str) -> Booking:
        return await self._changes.cancel(booking_id)

    async def reschedule_booking(
        self, booking_id: str, start: dt.datetime | None, duration: dt.timedelta | None
    ) -> Booking:
        return await self._changes.reschedule(booking_id, start, duration)


__all__ = [
    "Booking",
    "BookingCore",
    "BookingStatus",
    "Client",
    "Context",
    "Lease",
    "LeaseState",
    "Slot",
    "Target",
]
