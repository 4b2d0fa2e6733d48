"""[store] retain_days in ``serve``: once at start, then hourly, the customers of
appointments that ended that long ago are erased from the store (see bridge/store/_retention.py).

The stored CreateBooking answers are the v3 front's bytes, so the front says how to leave
the customer out of them; the store only runs the erasure.
"""

from __future__ import annotations

import datetime as dt
import logging

from .background import Background
from .clock import Clock
from .fronts.v3_api import without_customer
from .store import Store

log = logging.getLogger("bridge.retention")

INTERVAL_SECONDS = 3600.0


class Retention:
    def __init__(self, store: Store, clock: Clock, retain_days: int, *, interval: float = INTERVAL_SECONDS):
        self._store = store
        self._clock = clock
        self._keep = dt.timedelta(days=retain_days)
        self._loop = Background("retention", self.run_once, interval)
        self.start, self.stop = self._loop.start, self._loop.stop

    async def run_once(self) -> int:
        """Erase what is due now; how many bookings. Idempotent: erased ones are skipped."""
        ended_before = self._clock.now() - self._keep
        erased = await self._store.erase_personal_data(ended_before, without_customer)
        if erased:
            log.info("personal data erased", extra={"bookings": erased, "ended_before": ended_before.isoformat()})
        return erased


