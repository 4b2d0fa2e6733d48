"""Sending the outbox: booking notifications, off every request path.

Delivered at least once and in order per booking (the store keeps one unsent
notification per booking, merging later changes into it). Google's answer decides:
404 means Google does not know the booking (dropped, logged); any other refusal is
dead-lettered with Google's reason; a passing failure is tried again later, backing off,
until ``max_attempts``, then dead-lettered too. Settled entries are pruned after
``keep_days``.
"""

from __future__ import annotations

import logging
import time

from .. import deadline
from ..clock import Clock
from ..core.models import BookingStatus, Notification
from ..google import BookingUpdate, GoogleNotFound, GoogleRejected, GoogleUnavailable, MapsBookingClient
from ..metrics import Metrics
from ..store import DEAD, DROPPED, SENT, OutboxEntry, Store

log = logging.getLogger("bridge.inventory.notifier")

BATCH = 50
# What a round claims is this replica's to send for so long; one that dies leaves it to
# the others that soon. No send runs past the claim (less a margin to record Google's
# answer), so no two replicas send one notification.
CLAIM_SECONDS = 30.0
CLAIM_MARGIN_SECONDS = 5.0
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 300.0
PRUNE_EVERY_SECONDS = 3600.0
_STATUS = {BookingStatus.CANCELED: "CANCELED", BookingStatus.CONFIRMED: "CONFIRMED"}


class Notifier:
    def __init__(
        self,
        store: Store,
        google: MapsBookingClient,
        clock: Clock,
        *,
        max_attempts: int,
        keep_days: int,
        metrics: Metrics | None = None,
    ):
        self._store = store
        # bridge_notifications_total{outcome}: sent, retry, dropped, dead_lettered.
        self._outcomes = (metrics if metrics is not None else Metrics()).notifications
        self._google = google
        self._clock = clock
        self._max_attempts = max_attempts
        self._keep_seconds = keep_days * 86400.0
        self._pruned_at = float("-inf")

    async def flush(self) -> int:
        """Send what is due; returns how many were delivered."""
        now = self._clock.now().timestamp()
        delivered = 0
        claim_ends = time.monotonic() + CLAIM_SECONDS - CLAIM_MARGIN_SECONDS
        for entry in await self._store.due_notifications(now, BATCH, CLAIM_SECONDS):
            left = claim_ends - time.monotonic()
            if left <= 0:
                break  # the rest's claim runs out: whichever replica comes first sends them
            with deadline.scope(left):
                delivered += await self._send(entry, now)
        if now - self._pruned_at >= PRUNE_EVERY_SECONDS:
            self._pruned_at = now
            await self._store.prune_notifications(now - self._keep_seconds)
        return delivered

    async def _send(self, entry: OutboxEntry, now: float) -> int:
        where = {"booking_id": entry.notification.booking_id, "outbox_id": entry.id}
        try:
            await self._google.notify(update(entry.notification))
        except GoogleNotFound as exc:
            log.warning("notification dropped: Google does not know the booking", extra={**where, "reason": str(exc)})
            self._outcomes.labels("dropped").inc()
            await self._store.finish_notification(entry, DROPPED, now, str(exc))
            return 0
        except GoogleRejected as exc:
            log.error("notification dead-lettered: Google refused it", extra={**where, "reason": str(exc)})
            self._outcomes.labels("dead_lettered").inc()
            await self._store.finish_notification(entry, DEAD, now, str(exc))
            return 0
        except GoogleUnavailable as exc:
            if entry.attempts + 1 >= self._max_attempts:
                log.error("notification dead-lettered: attempts exhausted",
                          extra={**where, "attempts": entry.attempts + 1, "reason": str(exc)})
                self._outcomes.labels("dead_lettered").inc()
                await self._store.finish_notification(entry, DEAD, now, str(exc))
                return 0
            wait = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** entry.attempts)
            log.warning("notification not delivered; will retry",
                        extra={**where, "attempts": entry.attempts + 1, "retry_in_s": wait, "reason": str(exc)})
            self._outcomes.labels("retry").inc()
            await self._store.retry_notification(entry, now + wait, str(exc))
            return 0
        # A change merged in meanwhile keeps the entry pending: its newer state goes next.
        await self._store.finish_notification(entry, SENT, now)
        self._outcomes.labels("sent").inc()
        log.info("notification delivered", extra={**where, "changed": list(entry.notification.changed),
                                                   "delay_s": round(now - entry.created_at, 1)})
        return 1


def update(note: Notification) -> BookingUpdate:
    """The core's notification as Google's booking update (Actions Center ids throughout)."""
    return BookingUpdate(
        booking_id=note.booking_id,
        merchant_id=note.merchant_id,
        service_id=note.service_id,
        status=None if note.status is None else _STATUS[note.status],
        start=note.start,
        duration=note.duration,
        party_size=note.party_size,
    )
