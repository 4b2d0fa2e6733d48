"""CreateBooking: a booking is the confirmation of a lease's hold; the lease is consumed.

The booking row is written (CONFIRMING) before the confirm is sent. If the confirm's
outcome is unknown the row stays, and the next call for the same lease asks the upstream
what happened before doing anything else: one confirmed appointment, never two.
"""

from __future__ import annotations

import dataclasses

from .. import identity
from ..failures import BridgeError, Cause, OutcomeUnknown
from ..store import BOOKING_PERSON_SLOT, Duplicate
from ..upstream import AppointmentStatus, Customer
from .context import Context, new_id
from .models import Booking, BookingStatus, Client, Lease, LeaseState


class Bookings:
    def __init__(self, ctx: Context):
        self._ctx = ctx

    async def create(self, lease_id: str, client: Client, *, idempotency_key: str | None = None) -> Booking:
        """Confirm the lease's hold for the client. Without an idempotency key (v0) the
        lease is the key: asking again returns its booking. With one, a lease already
        used under another key has expired for this request."""
        ctx = self._ctx
        async with ctx.store.lock(f"lease:{lease_id}"):
            lease = await ctx.store.get_lease(lease_id)
            if lease is None or lease.state is LeaseState.HOLDING:
                raise BridgeError(Cause.NOT_FOUND, f"lease {lease_id!r} does not exist", field="lease_id")
            booking = await ctx.store.get_booking_by_lease(lease_id)
            if booking is not None:
                if idempotency_key is not None and booking.idempotency_key != idempotency_key:
                    raise _expired(lease_id, "it was already used for another booking")
                if booking.status is BookingStatus.CONFIRMING:
                    return await self.reconcile(booking, lease)
                ctx.metrics.idempotent_replays.labels("CreateBooking").inc()
                return booking
            if lease.state is not LeaseState.HELD:
                raise _expired(lease_id)
            if lease.expires_at is not None and ctx.clock.now() >= lease.expires_at:
                ctx.metrics.leases_expired.inc()
                await self._give_back(lease)
                raise _expired(lease_id)
            booking = Booking(
                booking_id=new_id("booking"),
                lease_id=lease_id,
                slot=lease.slot,
                target=lease.target,
                client=client,
                personal_identifier=personal_identifier(ctx.identity_key, client),
                appointment_id=lease.hold_id or "",
                status=BookingStatus.CONFIRMING,
                created_at=ctx.clock.now(),
                idempotency_key=idempotency_key,
            )
            try:
                await ctx.store.insert_booking(booking)
            except Duplicate as dup:
                if dup.what != BOOKING_PERSON_SLOT:
                    raise
                # This lease's hold can now never be confirmed: give it back.
                await self._give_back(lease)
                raise BridgeError(
                    Cause.OVERLAPPING_RESERVATION, "this client already has a booking for this slot"
                ) from None
            return await self._confirm(booking, lease)

    async def reconcile(self, booking: Booking, lease: Lease | None) -> Booking:
        """Finish a booking whose confirm had an unknown outcome, from what the upstream shows."""
        ctx = self._ctx
        try:
            appointment = await ctx.upstream.get_appointment(booking.target.tenant_id, booking.appointment_id)
        except BridgeError as exc:
            if exc.cause is not Cause.NOT_FOUND:
                raise
            appointment = None
        status = None if appointment is None else appointment.status
        if status in (AppointmentStatus.CONFIRMED, AppointmentStatus.FINALIZED):
            return await self._finish(booking, lease, BookingStatus.CONFIRMED)
        if status is AppointmentStatus.CANCELLED:  # confirmed, then cancelled at the branch
            return await self._finish(booking, lease, BookingStatus.CANCELED)
        if status is AppointmentStatus.RESERVED and lease is not None:
            return await self._confirm(booking, lease)  # the earlier confirm never landed
        await ctx.store.delete_booking(booking.booking_id)
        if lease is not None:
            await ctx.store.save(lease=dataclasses.replace(lease, state=LeaseState.RELEASED))
        raise _expired(booking.lease_id or booking.booking_id)

    async def _confirm(self, booking: Booking, lease: Lease) -> Booking:
        ctx = self._ctx
        try:
            await ctx.upstream.confirm(booking.target.tenant_id, booking.appointment_id, _customer(booking))
        except OutcomeUnknown:
            raise
        except BridgeError as exc:
            if exc.cause is Cause.ALREADY_CONFIRMED:
                return await self.reconcile(booking, lease)
            await ctx.store.delete_booking(booking.booking_id)
            if exc.cause in (Cause.LEASE_EXPIRED, Cause.NOT_FOUND):
                ctx.metrics.leases_expired.inc()  # the upstream's hold lapsed before ours
                await ctx.store.save(lease=dataclasses.replace(lease, state=LeaseState.RELEASED))
                raise _expired(lease.lease_id, "the upstream hold is gone") from None
            raise
        return await self._finish(booking, lease, BookingStatus.CONFIRMED)

    async def _finish(self, booking: Booking, lease: Lease | None, status: BookingStatus) -> Booking:
        done = dataclasses.replace(booking, status=status, cancelled_elsewhere=status is BookingStatus.CANCELED)
        consumed = None if lease is None else dataclasses.replace(lease, state=LeaseState.CONSUMED)
        await self._ctx.store.save(lease=consumed, booking=done)
        if status is BookingStatus.CONFIRMED:
            self._ctx.slots_changed(done.slot, done.target)
        return done

    async def _give_back(self, lease: Lease) -> None:
        if lease.hold_id:
            await self._ctx.release_quietly(lease.target, lease.hold_id, lease.slot.start)
        await self._ctx.store.save(lease=dataclasses.replace(lease, state=LeaseState.RELEASED))


def _expired(lease_id: str, why: str = "") -> BridgeError:
    detail = f": {why}" if why else ""
    return BridgeError(Cause.LEASE_EXPIRED, f"lease {lease_id!r} has expired{detail}", field="lease_id")


def _customer(booking: Booking) -> Customer:
    c = booking.client
    return Customer(
        personal_identifier=booking.personal_identifier,
        first_name=c.given_name,
        last_name=c.family_name,
        email=c.email,
        phone=c.telephone or None,
    )


def personal_identifier(key: bytes, client: Client) -> str:
    """Actions Center's user id when the front has one (v2/v3), else the e-mail (v0)."""
    if client.user_id:
        return identity.from_user_id(key, client.user_id)
    return identity.from_email(key, client.email)
