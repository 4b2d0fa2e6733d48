"""UpdateBooking: cancel and reschedule, each recorded as a pending change before it is sent.

A pending change left by an unknown outcome is reconciled — the appointment is looked up
and the record brought in line — before any new change is attempted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from ..failures import BridgeError, Cause, OutcomeUnknown, invalid
from ..upstream import AppointmentStatus
from .bookings import Bookings
from .branch import BranchChanges
from .context import Context, log
from .models import BOOKING_HORIZON, Booking, BookingStatus, PendingChange


class Changes:
    def __init__(self, ctx: Context, bookings: Bookings, branch: BranchChanges):
        self._ctx = ctx
        self._bookings = bookings
        self._branch = branch

    async def cancel(self, booking_id: str) -> Booking:
        ctx = self._ctx
        async with ctx.store.lock(f"booking:{booking_id}"):
            booking = await self._current(booking_id)
            if booking.status is BookingStatus.CANCELED:
                if booking.cancelled_elsewhere:
                    raise _cancelled_elsewhere(booking_id)
                return booking  # a repeat of our own cancel
            booking = await self._record(booking, PendingChange(op="cancel"))
            try:
                await ctx.upstream.cancel(booking.target.tenant_id, booking.appointment_id)
            except OutcomeUnknown:
                raise
            except BridgeError as exc:
                if exc.cause is Cause.BOOKING_ALREADY_CANCELLED:
                    # Cancelled elsewhere (at the branch): record the truth, then say so.
                    cancelled = dataclasses.replace(
                        booking, pending=None, status=BookingStatus.CANCELED, cancelled_elsewhere=True
                    )
                    await self._branch.record(dataclasses.replace(booking, pending=None), cancelled)
                    raise _cancelled_elsewhere(booking_id) from None
                await self._record(booking, None)
                if exc.cause is Cause.OUTSIDE_CANCELLATION_WINDOW:
                    raise BridgeError(exc.cause, "too late to cancel this booking") from None
                raise
            cancelled = await self._record(booking, None, status=BookingStatus.CANCELED)
            ctx.slots_changed(booking.slot, booking.target)
            return cancelled

    async def reschedule(
        self,
        booking_id: str,
        start: dt.datetime | None,
        duration: dt.timedelta | None,
        party_size: int | None = None,
    ) -> Booking:
        """Move the booking, or change its party size: hold the new slot, move onto it."""
        ctx = self._ctx
        async with ctx.store.lock(f"booking:{booking_id}"):
            booking = await self._current(booking_id)
            if booking.status is BookingStatus.CANCELED:
                raise BridgeError(Cause.BOOKING_ALREADY_CANCELLED, f"booking {booking_id!r} is cancelled")
            slot = dataclasses.replace(
                booking.slot,
                start=start or booking.slot.start,
                duration=duration or booking.slot.duration,
                party_size=party_size or booking.slot.party_size,
            )
            if slot == booking.slot:
                return booking  # a repeat of a reschedule that already happened
            if slot.start <= ctx.clock.now():
                raise invalid("start_time", "is in the past")
            if slot.start > ctx.clock.now() + BOOKING_HORIZON:
                raise invalid("start_time", f"is more than {BOOKING_HORIZON.days} days ahead")
            target = booking.target
            if slot.party_size != booking.slot.party_size:
                offering = await ctx.catalogue.offering(slot, target)
                if slot.party_size > offering.max_reservations:
                    raise invalid("party_size", f"is above the service's maximum of {offering.max_reservations}")
            pending = PendingChange(op="reschedule", start=slot.start, duration=slot.duration, party_size=slot.party_size)
            booking = await self._record(booking, pending)
            try:
                hold = await ctx.hold(slot, target)
            except BridgeError:
                # Nothing moved: an unknown hold, if it landed, holds no customer and lapses.
                await self._record(booking, None)
                raise
            pending = dataclasses.replace(pending, hold_id=hold.id)
            booking = await self._record(booking, pending)
            try:
                await ctx.upstream.reschedule(target.tenant_id, booking.appointment_id, hold.id)
            except OutcomeUnknown:
                raise
            except BridgeError:
                await ctx.release_quietly(target, hold.id, slot.start)
                await self._record(booking, None)
                raise
            moved = await self._record(dataclasses.replace(booking, slot=slot), None)
            ctx.slots_changed(booking.slot, target)
            ctx.slots_changed(slot, target)
            return moved

    async def _current(self, booking_id: str) -> Booking:
        """The booking, with any unknown outcome of an earlier call settled first."""
        ctx = self._ctx
        booking = await ctx.store.get_booking(booking_id)
        if booking is None:
            raise BridgeError(Cause.NOT_FOUND, f"booking {booking_id!r} does not exist", field="booking_id")
        if booking.status is BookingStatus.CONFIRMING:
            lease = None if booking.lease_id is None else await ctx.store.get_lease(booking.lease_id)
            try:
                booking = await self._bookings.reconcile(booking, lease)
            except BridgeError as exc:
                if exc.cause is Cause.LEASE_EXPIRED:
                    raise BridgeError(Cause.NOT_FOUND, f"booking {booking_id!r} does not exist") from None
                raise
        if booking.pending is not None:
            booking = await self._settle(booking)
        return booking

    async def _settle(self, booking: Booking) -> Booking:
        ctx, pending = self._ctx, booking.pending
        assert pending is not None
        appointment = await ctx.upstream.get_appointment(booking.target.tenant_id, booking.appointment_id)
        if pending.op == "cancel":
            landed = appointment.status is AppointmentStatus.CANCELLED
            status = BookingStatus.CANCELED if landed else booking.status
            log.info("pending cancel reconciled", extra={"booking_id": booking.booking_id, "landed": landed})
            settled = await self._record(booking, None, status=status)
            if landed:
                ctx.slots_changed(booking.slot, booking.target)
            return settled
        assert pending.start is not None and pending.duration is not None
        landed = (appointment.start, appointment.end, appointment.number_of_reservations) == (
            pending.start,
            pending.start + pending.duration,
            pending.party_size,
        )
        log.info("pending reschedule reconciled", extra={"booking_id": booking.booking_id, "landed": landed})
        if landed:
            moved = dataclasses.replace(
                booking.slot, start=pending.start, duration=pending.duration, party_size=pending.party_size
            )
            settled = await self._record(dataclasses.replace(booking, slot=moved), None)
            ctx.slots_changed(booking.slot, booking.target)
            ctx.slots_changed(moved, booking.target)
            return settled
        if pending.hold_id:
            await ctx.release_quietly(booking.target, pending.hold_id, pending.start or booking.slot.start)
        return await self._record(booking, None)

    async def _record(
        self,
        booking: Booking,
        pending: PendingChange | None,
        *,
        status: BookingStatus | None = None,
        elsewhere: bool = False,
    ) -> Booking:
        updated = dataclasses.replace(
            booking,
            pending=pending,
            status=status or booking.status,
            cancelled_elsewhere=booking.cancelled_elsewhere or elsewhere,
        )
        await self._ctx.store.save(booking=updated)
        return updated


def _cancelled_elsewhere(booking_id: str) -> BridgeError:
    return BridgeError(Cause.BOOKING_ALREADY_CANCELLED, f"booking {booking_id!r} was already cancelled elsewhere")
