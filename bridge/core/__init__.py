"""Booking semantics, free of any wire format: leases, bookings, changes, reconciliation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from ..failures import BridgeError
from .bookings import Bookings
from .branch import BranchChanges, Seen
from .changes import Changes
from .context import Context
from .health import UpstreamHealth
from .idempotent import IdempotentBookings
from .leases import Leases
from .models import Booking, BookingStatus, Client, Lease, LeaseState, Slot, Target
from .status import Status


class BookingCore:
    """The operations every front calls."""

    def __init__(self, ctx: Context):
        self.context = ctx
        self._leases = Leases(ctx)
        self._bookings = Bookings(ctx)
        self._idempotent = IdempotentBookings(ctx, self._leases, self._bookings)
        self._branch = BranchChanges(ctx)
        self._changes = Changes(ctx, self._bookings, self._branch)
        self._status = Status(ctx, self._branch)
        self._health = UpstreamHealth(ctx.upstream)

    async def check_availability(self, slots: Sequence[Slot], budget: float, *, strict: bool = False) -> list[bool]:
        """One answer per slot, in order, within ``budget`` seconds; unknown means no.

        A batch answers "not available" for ids it does not know; ``strict`` (a single
        slot's check) says INVALID_ARGUMENT naming the unknown id instead.
        """
        ctx = self.context
        resolved, positions = [], []
        for i, slot in enumerate(slots):
            try:
                target = ctx.mapper.resolve(slot.merchant_id, slot.service_id, slot.staff_id)
                if strict:
                    await ctx.catalogue.offering(slot, target)
            except BridgeError:
                if strict:
                    raise
                continue  # a service or staff the mapping rules out is simply not available
            resolved.append((slot, target))
            positions.append(i)
        answers = [False] * len(slots)
        for i, answer in zip(positions, await ctx.availability.lookup(resolved, budget), strict=True):
            answers[i] = answer
        return answers

    async def create_lease(
        self, slot: Slot, client_reference: str, requested_expiration: dt.datetime | None = None
    ) -> Lease:
        return await self._leases.create(slot, client_reference, requested_expiration)

    async def create_booking(self, lease_id: str, client: Client) -> Booking:
        """v0: the lease is the idempotency key."""
        return await self._bookings.create(lease_id, client)

    async def create_booking_once(
        self,
        idempotency_key: str,
        fingerprint: str,
        client: Client,
        render: Callable[[Booking], bytes],
        *,
        lease_id: str | None = None,
        slot: Slot | None = None,
    ) -> bytes:
        """v2/v3: book (from the lease, or holding ``slot`` first) and return the rendered
        answer; the same key and fingerprint get the same bytes back."""
        return await self._idempotent.book(idempotency_key, fingerprint, client, render, lease_id=lease_id, slot=slot)

    async def cancel_booking(self, booking_id: str) -> Booking:
        return await self._changes.cancel(booking_id)

    async def reschedule_booking(
        self,
        booking_id: str,
        start: dt.datetime | None,
        duration: dt.timedelta | None,
        party_size: int | None = None,
    ) -> Booking:
        return await self._changes.reschedule(booking_id, start, duration, party_size)

    async def booking_status(self, booking_id: str) -> Booking:
        return await self._status.of_booking(booking_id)

    async def list_bookings(self, user_id: str) -> list[Booking]:
        return await self._status.of_user(user_id)

    async def upstream_healthy(self, *, fresh: bool = False) -> bool:
        """Whether the upstream answered its last probe (probed at most every 10 s);
        ``fresh`` probes now."""
        return await self._health.healthy(fresh=fresh)

    async def look_at_branch(self, booking_id: str) -> Seen:
        """Whether the booking changed at the branch; a change is recorded and queued for Google."""
        return await self._branch.look(booking_id)


__all__ = [
    "Booking",
    "BookingCore",
    "BookingStatus",
    "Client",
    "Context",
    "Lease",
    "LeaseState",
    "Seen",
    "Slot",
    "Target",
]
