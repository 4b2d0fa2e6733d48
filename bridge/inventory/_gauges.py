"""The inventory's backlog as gauges, read from the store when /metrics is scraped: how
many booking notifications wait, and how far the watcher is behind its promise (the
most overdue watched booking's delay past its read time; 0 when on time)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..clock import Clock
from ..metrics import Metrics
from ..store import Store


def backlog_gauges(store: Store, clock: Clock, metrics: Metrics) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        now = clock.now().timestamp()
        pending, earliest = await store.inventory_backlog(now)
        metrics.outbox_pending.set(pending)
        metrics.watch_lag.set(0.0 if earliest is None else max(0.0, now - earliest))

    return refresh
