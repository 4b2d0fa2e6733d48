"""CreateLease: a lease is one upstream reservation (hold), idempotent on client_reference."""

from __future__ import annotations

import dataclasses
import datetime as dt

from ..failures import BridgeError, Cause, OutcomeUnknown, invalid
from ..store import LEASE_REFERENCE, Duplicate
from .context import UPSTREAM_HOLD_TTL, Context, log, new_id
from .models import BOOKING_HORIZON, Lease, LeaseState, Slot


class Leases:
    def __init__(self, ctx: Context):
        self._ctx = ctx

    async def create(self, slot: Slot, client_reference: str, requested_expiration: dt.datetime | None) -> Lease:
        ctx = self._ctx
        now = ctx.clock.now()
        if slot.start <= now:
            raise invalid("start_time", "is in the past")
        if slot.start > now + BOOKING_HORIZON:
            raise invalid("start_time", f"is more than {BOOKING_HORIZON.days} days ahead")
        if requested_expiration is not None and requested_expiration <= now:
            raise invalid("lease_expiration_time", "is in the past")
        target = ctx.mapper.resolve(slot.merchant_id, slot.service_id, slot.staff_id)
        async with ctx.store.lock(f"lease-ref:{client_reference}"):
            # A new reference is the common case, so it is checked and inserted without
            # first asking the store whether it is known: a known one is found by the
            # insert's refusal, or by the look-up after a failed check. Unless checking
            # would ask the upstream for its catalogue, which a replay must not cost.
            if not ctx.catalogue.warm(target.tenant_id):
                earlier = await ctx.store.get_lease_by_reference(client_reference)
                if earlier is not None:
                    return await self._again(earlier, slot, requested_expiration)
            try:
                offering = await ctx.catalogue.offering(slot, target)
                if slot.party_size > offering.max_reservations:
                    raise invalid("party_size", f"is above the service's maximum of {offering.max_reservations}")
            except BridgeError:
                earlier = await ctx.store.get_lease_by_reference(client_reference)
                if earlier is None:
                    raise
                return await self._again(earlier, slot, requested_expiration)  # a replay is answered as before
            lease = Lease(
                lease_id=new_id("lease"),
                client_reference=client_reference,
                slot=slot,
                target=target,
                state=LeaseState.HOLDING,
                created_at=now,
                requested_expiration=requested_expiration,
            )
            try:
                await ctx.store.insert_lease(lease)
            except Duplicate as dup:
                earlier = await ctx.store.get_lease_by_reference(client_reference) if dup.what == LEASE_REFERENCE else None
                if earlier is None:
                    raise BridgeError(Cause.UNAVAILABLE, "the same client_reference is being processed; retry") from None
                return await self._again(earlier, slot, requested_expiration)
            return await self._hold(lease)

    async def _again(self, lease: Lease, slot: Slot, requested_expiration: dt.datetime | None) -> Lease:
        """CreateLease with a reference already used: the same lease again, or refused."""
        if lease.slot != slot:
            raise invalid("client_reference", "was already used for a different slot")
        if lease.state is not LeaseState.HOLDING:
            self._ctx.metrics.idempotent_replays.labels("CreateLease").inc()
            return lease
        return await self._retry_unknown_hold(lease, requested_expiration)

    async def _hold(self, lease: Lease) -> Lease:
        ctx, slot, target = self._ctx, lease.slot, lease.target
        asked_at = ctx.clock.now()
        try:
            appointment = await ctx.hold(slot, target)
        except OutcomeUnknown:
            raise  # the record stays HOLDING; a replay reconciles it
        except BridgeError:
            # Definitely no hold: forget the attempt so that a retry is processed afresh.
            await ctx.store.delete_lease(lease.lease_id)
            raise
        # The upstream's 15 minutes started no earlier than our request left.
        expires = asked_at + UPSTREAM_HOLD_TTL - ctx.lease_margin
        if lease.requested_expiration is not None:
            expires = min(expires, lease.requested_expiration)
        held = dataclasses.replace(lease, state=LeaseState.HELD, hold_id=appointment.id, expires_at=expires)
        try:
            await ctx.store.save(lease=held)
        except Exception:
            await ctx.release_quietly(target, appointment.id, slot.start)
            raise
        ctx.metrics.leases_created.inc()
        return held

    async def _retry_unknown_hold(self, lease: Lease, requested_expiration: dt.datetime | None) -> Lease:
        """An earlier hold's outcome is unknown. Holds cannot be looked up, but the slot can:
        still offered → the hold never landed (or lapsed) and holding again is safe;
        gone → it is unavailable to this caller either way."""
        ctx, slot, target = self._ctx, lease.slot, lease.target
        start, end = target.local(slot.start), target.local(slot.end)
        free = await ctx.upstream.timeslots(
            target.tenant_id,
            service_id=target.service_id,
            branch_id=target.branch_id,
            day=start.date(),
            resource_id=target.resource_id,
        )
        if not any(s == start and e == end for s, e in free):
            await ctx.store.delete_lease(lease.lease_id)
            log.info("unknown hold reconciled: slot no longer offered", extra={"lease_id": lease.lease_id})
            raise BridgeError(Cause.SLOT_UNAVAILABLE, "the slot is no longer available")
        lease = dataclasses.replace(lease, requested_expiration=requested_expiration)
        return await self._hold(lease)


    async def discard(self, client_reference: str) -> None:
        """Forget a lease that will never be booked, giving its hold back, so that the same
        reference is processed afresh next time."""
        ctx = self._ctx
        lease = await ctx.store.get_lease_by_reference(client_reference)
        if lease is None:
            return
        if lease.state is LeaseState.HELD and lease.hold_id:
            await ctx.release_quietly(lease.target, lease.hold_id, lease.slot.start)
        await ctx.store.delete_lease(lease.lease_id)
