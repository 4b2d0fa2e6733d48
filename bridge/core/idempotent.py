"""CreateBooking with an idempotency token (v2/v3): the first answer is the answer.

The token is claimed in the store before any work; the front's rendering of the
successful answer is stored as opaque bytes and returned to every replay, so a replay is
byte-identical even after the booking has changed since. A failed attempt forgets the
token, so a retry is processed afresh. An attempt whose outcome upstream is unknown
keeps it: the retry finds the booking by its token and reconciles it.

Without a lease the booking is held and confirmed in one call; the hold is an internal
lease, so it shares every guarantee of leases.
"""

from __future__ import annotations

from collections.abc import Callable

from ..failures import BridgeError, OutcomeUnknown, invalid
from ..store import Duplicate
from .bookings import Bookings
from .context import Context
from .leases import Leases
from .models import Booking, BookingStatus, Client, Slot


class IdempotentBookings:
    def __init__(self, ctx: Context, leases: Leases, bookings: Bookings):
        self._ctx = ctx
        self._leases = leases
        self._bookings = bookings

    async def book(
        self,
        key: str,
        fingerprint: str,
        client: Client,
        render: Callable[[Booking], bytes],
        *,
        lease_id: str | None = None,
        slot: Slot | None = None,
    ) -> bytes:
        ctx = self._ctx
        async with ctx.store.lock(f"idempotency:{key}"):
            try:
                # Claimed first: nearly every token is new, and the claim's refusal says
                # when it is not, without a read before every first attempt.
                await ctx.store.claim_response(key, fingerprint)
            except Duplicate:
                stored = await ctx.store.get_response(key)
                if stored is not None and stored.fingerprint != fingerprint:
                    raise invalid("idempotency_token", "was already used for a different request") from None
                if stored is not None and stored.body is not None:
                    ctx.metrics.idempotent_replays.labels("CreateBooking").inc()
                    return stored.body
                if stored is None:  # forgotten between the refusal and the read: claimed afresh
                    await ctx.store.claim_response(key, fingerprint)
            try:
                booking = await self._book(key, client, lease_id, slot)
            except OutcomeUnknown:
                raise
            except BridgeError:
                if lease_id is None:
                    await self._leases.discard(_internal_reference(key))
                await ctx.store.forget_response(key)
                raise
            body = render(booking)
            await ctx.store.store_response(key, body)
            return body

    async def _book(self, key: str, client: Client, lease_id: str | None, slot: Slot | None) -> Booking:
        ctx = self._ctx
        earlier = await ctx.store.get_booking_by_idempotency_key(key)
        if earlier is not None:
            if earlier.status is not BookingStatus.CONFIRMING:
                return earlier
            lease = None if earlier.lease_id is None else await ctx.store.get_lease(earlier.lease_id)
            return await self._bookings.reconcile(earlier, lease)
        if lease_id is not None:
            return await self._bookings.create(lease_id, client, idempotency_key=key)
        assert slot is not None
        lease = await self._leases.create(slot, _internal_reference(key), None)
        return await self._bookings.create(lease.lease_id, client, idempotency_key=key)


def _internal_reference(key: str) -> str:
    return f"booking:{key}"
