"""Keeping Google in step, as one background loop beside the servers: watch the branch,
send the outbox, send availability updates. Nothing here is on a request's path, so
Google's API being down, slow or refusing never slows or fails a booking call."""

from __future__ import annotations

import logging

from ..background import Background
from ..clock import Clock
from ..config import GoogleConfig
from ..core import BookingCore
from ..google import MapsBookingClient
from ..mapping import Mapper
from ..store import Store
from ._gauges import backlog_gauges
from ._notifier import Notifier
from ._published import PublishedSlots
from ._updates import AvailabilityUpdates
from ._watcher import Watcher

log = logging.getLogger("bridge.inventory")

TICK_SECONDS = 1.0
# Of the notify window, what the watcher may use between two reads of a booking; the
# rest covers the round that sends the notification and Google's answer.
SEND_ALLOWANCE_SECONDS = 20.0


class Inventory:
    def __init__(
        self,
        core: BookingCore,
        store: Store,
        google: MapsBookingClient,
        mapper: Mapper,
        clock: Clock,
        config: GoogleConfig,
    ):
        self.google = google
        self.watcher = Watcher(
            core, store, clock,
            period=read_period(config),
            reads_per_second=config.max_upstream_reads_per_second,
        )
        self.notifier = Notifier(
            store, google, clock, max_attempts=config.max_notification_attempts, keep_days=config.keep_sent_days,
            metrics=core.context.metrics,
        )
        ctx = core.context
        self.published = PublishedSlots(ctx.availability, ctx.catalogue, mapper, clock)
        self.updates = AvailabilityUpdates(self.published, google, clock, coalesce=config.availability_coalesce_seconds,
                                           metrics=ctx.metrics)
        core.context.on_slots_changed.append(self.updates.changed)
        ctx.metrics.on_scrape.append(backlog_gauges(store, clock, ctx.metrics))
        self._loop = Background("inventory", self.tick, TICK_SECONDS, first=self._say_capacity)
        self.start, self.stop = self._loop.start, self._loop.stop

    async def tick(self) -> None:
        """One round of all three; each one's trouble is logged and left for the next round."""
        for name, step in (("watch", self.watcher.tick), ("notify", self.notifier.flush),
                           ("availability", self.updates.flush)):
            try:
                await step()
            except Exception:  # a background loop that dies would silently break the promise
                log.exception("inventory round failed", extra={"step": name})

    async def _say_capacity(self) -> None:
        problem = await self.watcher.capacity_problem()
        if problem:
            log.warning(problem)


def read_period(config: GoogleConfig) -> float:
    return max(10.0, config.notify_within_seconds - SEND_ALLOWANCE_SECONDS)
