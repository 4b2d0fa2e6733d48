"""Noticing changes made at the branch: Qmatic has no webhook and no "changed since"
listing, so every confirmed booking still to come is read again at least once per
``period`` seconds, never faster than the read budget allows, and paced to what the
number of watched bookings needs (a little over watched / period), so that the reads
spread over the whole period instead of bunching at its start.

The promise: a change at the branch is noticed within ``period`` of its happening, and
reaches Google within the notify window. It holds while the watched bookings number at
most ``capacity`` (budget × period); past that the operator is told, with the numbers.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .. import deadline
from ..clock import Clock
from ..core import BookingCore, Seen
from ..failures import BridgeError
from ..store import Store
from ._budget import Budget

log = logging.getLogger("bridge.inventory.watcher")

# After a failed read (upstream trouble) the booking is read again this soon, not a
# whole period later, so an outage costs its own length and little more.
RETRY_SECONDS = 15.0
# A claimed booking is this replica's to read for so long; one that dies mid-round leaves
# its share due again this soon, for any replica. A read never runs past its claim (less
# a margin to record what it saw), so no two replicas read one booking at once.
CLAIM_SECONDS = RETRY_SECONDS
CLAIM_MARGIN_SECONDS = 2.0
# Reads in flight at once within one round.
CONCURRENCY = 8
# The pace's margin over watched / period, so the backlog of a round drains.
PACE_HEADROOM = 1.25
# How often the number of watched bookings is counted again to set the pace.
RECOUNT_SECONDS = 30.0


class Watcher:
    def __init__(self, core: BookingCore, store: Store, clock: Clock, *, period: float, reads_per_second: float):
        self._core = core
        self._store = store
        self._clock = clock
        self.period = period
        now = clock.now().timestamp()
        self._budget = Budget(reads_per_second, now)
        self._pace = Budget(reads_per_second, now)
        self._counted_at = float("-inf")
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def capacity_problem(self) -> str | None:
        watched = await self._store.watched_count(self._clock.now().timestamp())
        return capacity_problem(watched, self._budget.rate, self.period)

    async def tick(self) -> int:
        """Read the bookings due now that the budget allows; returns how many were read."""
        now = self._clock.now().timestamp()
        if now - self._counted_at >= RECOUNT_SECONDS:
            self._counted_at = now
            watched = await self._store.watched_count(now)
            self._pace.rate = min(self._budget.rate, max(1.0 / self.period, PACE_HEADROOM * watched / self.period))
        allowed = min(self._budget.available(now), self._pace.available(now))
        if allowed == 0:
            return 0
        claim_ends = time.monotonic() + CLAIM_SECONDS - CLAIM_MARGIN_SECONDS
        due = await self._store.due_watches(now, allowed, self.period, CLAIM_SECONDS)
        self._budget.spend(len(due))
        self._pace.spend(len(due))
        await asyncio.gather(*(self._read(booking_id, now, claim_ends) for booking_id in due))
        return len(due)

    async def _read(self, booking_id: str, now: float, claim_ends: float) -> None:
        async with self._slots:
            left = claim_ends - time.monotonic()
            if left <= 0:
                return  # queued past its claim: it is due again, for whichever replica comes first
            try:
                with deadline.scope(left):
                    seen = await self._core.look_at_branch(booking_id)
            except BridgeError as exc:
                log.warning("could not read a watched booking", extra={"booking_id": booking_id, "cause": exc.cause.name})
                await self._store.watch_next(booking_id, now + min(RETRY_SECONDS, self.period))
                return
        if seen is Seen.DONE:
            await self._store.unwatch(booking_id)
        else:
            await self._store.watch_next(booking_id, now + self.period)


def capacity_problem(watched: int, reads_per_second: float, period: float) -> str | None:
    """One line when the read budget cannot read every watched booking once per period."""
    capacity = int(reads_per_second * period)
    if watched <= capacity:
        return None
    return (
        f"[google] max_upstream_reads_per_second: {watched} bookings are watched for changes at the branch, but "
        f"{reads_per_second:g} reads/s covers {capacity} within the {period:.0f} s the notify window leaves "
        f"(each would be read every {watched / reads_per_second:.0f} s); raise it to {watched / period:.1f} or more"
    )
