"""Availability updates: when a booking, cancel, reschedule or branch change takes or frees
a slot, Google gets the affected (merchant, service, branch-local day) as Qmatic's
timeslots now show it, in one availability replace.

A burst of changes to one day becomes one replace: the first change marks the day due
``coalesce`` seconds later, and later changes before then ride along. Days due together
go in one call (the client splits past its slot limit). A passing failure (upstream or
Google) keeps the day due, backing off; a refusal is logged and the day dropped — the
next change or the daily feed publishes it again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import NamedTuple

from ..clock import Clock
from ..core.models import Slot, Target
from ..failures import BridgeError
from ..google import GoogleRejected, GoogleUnavailable, MapsBookingClient
from ..metrics import Metrics
from ._published import PublishedSlots

log = logging.getLogger("bridge.inventory.updates")

MAX_BACKOFF_SECONDS = 300.0


class Day(NamedTuple):
    merchant_id: str
    service_id: str
    day: dt.date


class AvailabilityUpdates:
    def __init__(
        self,
        published: PublishedSlots,
        google: MapsBookingClient,
        clock: Clock,
        *,
        coalesce: float,
        metrics: Metrics | None = None,
    ):
        self._published = published
        # bridge_availability_replaces_total{outcome}: sent (calls), retry, refused (rounds).
        self._outcomes = (metrics if metrics is not None else Metrics()).availability_replaces
        self._google = google
        self._clock = clock
        self._coalesce = coalesce
        self._due: dict[Day, tuple[float, int]] = {}  # day → (due at, failures so far)

    def changed(self, slot: Slot, target: Target) -> None:
        key = Day(slot.merchant_id, slot.service_id, target.local(slot.start).date())
        self._due.setdefault(key, (self._clock.now().timestamp() + self._coalesce, 0))

    @property
    def pending(self) -> int:
        return len(self._due)

    async def flush(self) -> int:
        """Send the days that are due; returns how many replace calls were made."""
        now = self._clock.now().timestamp()
        ready = [key for key, (at, _) in self._due.items() if at <= now]
        if not ready:
            return 0
        # Taken off first: a change arriving while these are read marks its day due again.
        batch = {key: self._due.pop(key) for key in ready}
        try:
            windows = [await self._published.day(*key) for key in batch]
            calls = await self._google.replace_availability(windows)
        except (BridgeError, GoogleUnavailable) as exc:
            for key, (_, failures) in batch.items():
                again = now + min(MAX_BACKOFF_SECONDS, self._coalesce * 2 ** (failures + 1) + 1)
                at = min(again, self._due[key][0]) if key in self._due else again
                self._due[key] = (at, failures + 1)
            log.warning("availability update not sent; will retry", extra={"days": len(batch), "reason": str(exc)})
            self._outcomes.labels("retry").inc()
            return 0
        except GoogleRejected as exc:
            log.error("availability update refused by Google", extra={"days": len(batch), "reason": str(exc)})
            self._outcomes.labels("refused").inc()
            return 0
        self._outcomes.labels("sent").inc(calls)
        return calls
