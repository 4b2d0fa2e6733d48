"""Changes made outside Google, at the branch: noticed, recorded with their notification in
one transaction, and announced to whoever keeps Google's availability in step.

Google's own changes (UpdateBooking) never pass here, so they are never echoed back.
"""

from __future__ import annotations

import dataclasses
import enum

from ..failures import BridgeError, Cause
from ..upstream import AppointmentStatus
from .context import Context, log
from .models import Booking, BookingStatus, changed_at_branch


class Seen(enum.Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    DONE = "done"  # nothing more to watch: gone from the store, cancelled, finalized, or ended
    BUSY = "busy"  # one of Google's own changes is in flight; look again later


class BranchChanges:
    def __init__(self, ctx: Context):
        self._ctx = ctx

    async def look(self, booking_id: str) -> Seen:
        """Read the booking's appointment and record what changed at the branch."""
        ctx = self._ctx
        # The booking's lock keeps Google's own change and this look apart: what is
        # compared is the record as it stands once any such change is written.
        async with ctx.store.lock(f"booking:{booking_id}"):
            booking = await ctx.store.get_booking(booking_id)
            if booking is None or booking.status is BookingStatus.CANCELED:
                return Seen.DONE
            if booking.status is BookingStatus.CONFIRMING or booking.pending is not None:
                return Seen.BUSY
            try:
                appointment = await ctx.upstream.get_appointment(booking.target.tenant_id, booking.appointment_id)
            except BridgeError as exc:
                if exc.cause is not Cause.NOT_FOUND:
                    raise
                appointment = None  # deleted at the branch: for the customer, cancelled
            if appointment is not None and appointment.status is AppointmentStatus.FINALIZED:
                return Seen.DONE  # the visit took place; Google's CONFIRMED stands
            if appointment is None or appointment.status is AppointmentStatus.CANCELLED:
                after = dataclasses.replace(booking, status=BookingStatus.CANCELED, cancelled_elsewhere=True)
            elif appointment.status is AppointmentStatus.CONFIRMED:
                slot = dataclasses.replace(
                    booking.slot,
                    start=appointment.start,
                    duration=appointment.end - appointment.start,
                    party_size=appointment.number_of_reservations,
                )
                after = dataclasses.replace(booking, slot=slot)
            else:
                return Seen.UNCHANGED
            if after == booking:
                return Seen.UNCHANGED
            await self.record(booking, after)
            return Seen.DONE if after.status is BookingStatus.CANCELED else Seen.CHANGED

    async def record(self, before: Booking, after: Booking) -> Booking:
        """Write what the branch did, with the notification that tells Google."""
        ctx = self._ctx
        note = changed_at_branch(before, after, ctx.clock.now())
        await ctx.store.save(booking=after, notification=note)
        changed = [] if note is None else list(note.changed)
        log.info("change at the branch recorded", extra={"booking_id": after.booking_id, "changed": changed})
        ctx.slots_changed(before.slot, before.target)
        if after.slot != before.slot:
            ctx.slots_changed(after.slot, after.target)
        return after

