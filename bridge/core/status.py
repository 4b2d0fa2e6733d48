"""What a booking is now, by the upstream's account: a cancellation made at the branch
counts, even though the bridge did not make it."""

from __future__ import annotations

import asyncio
import dataclasses

from .. import identity
from ..failures import BridgeError, Cause
from ..upstream import Appointment, AppointmentStatus
from .branch import BranchChanges
from .context import Context
from .models import Booking, BookingStatus


class Status:
    def __init__(self, ctx: Context, branch: BranchChanges):
        self._ctx = ctx
        self._branch = branch

    async def of_booking(self, booking_id: str) -> Booking:
        booking = await self._ctx.store.get_booking(booking_id)
        if booking is None or booking.status is BookingStatus.CONFIRMING:
            raise BridgeError(Cause.NOT_FOUND, f"booking {booking_id!r} does not exist", field="booking_id")
        if booking.status is BookingStatus.CANCELED:
            return booking  # final: nothing the upstream says now can change it
        appointment = await self._ctx.upstream.get_appointment(booking.target.tenant_id, booking.appointment_id)
        return await self._align(booking, appointment)

    async def of_user(self, user_id: str) -> list[Booking]:
        """The user's bookings made through the bridge, still to come, as the upstream sees them."""
        ctx = self._ctx
        pid = identity.from_user_id(ctx.identity_key, user_id)
        now = ctx.clock.now()
        mine = [b for b in await ctx.store.bookings_of(pid) if b.slot.end > now]
        tenants = sorted({b.target.tenant_id for b in mine})
        found = await asyncio.gather(*(ctx.upstream.search(tenant, pid) for tenant in tenants))
        upstream = {a.id: a for appointments in found for a in appointments}
        return [await self._align(b, upstream.get(b.appointment_id)) for b in mine]

    async def _align(self, booking: Booking, appointment: Appointment | None) -> Booking:
        """Record a cancellation the upstream knows and we did not."""
        if appointment is None or appointment.status is not AppointmentStatus.CANCELLED:
            return booking
        if booking.status is BookingStatus.CANCELED:
            return booking
        cancelled = dataclasses.replace(booking, status=BookingStatus.CANCELED, cancelled_elsewhere=True, pending=None)
        return await self._branch.record(booking, cancelled)
