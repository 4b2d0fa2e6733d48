"""`feeds export`: the merchants, services and availability feeds of one upload.

Timeslot reads run concurrently up to ``[feeds] max_concurrent_reads`` and go through the
same cache as BatchAvailabilityLookup; records are written in a fixed order as their
reads complete, with at most a small window of them held in memory. Any failure (the
upstream, the disk) leaves nothing under a final name.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
import secrets
import shutil
import zoneinfo
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TextIO, TypeVar

import httpx

from ...app import build_mapper, open_upstream
from ...clock import Clock, SystemClock
from ...config import Config
from ...core.availability import Availability
from ...core.catalogue import Catalogue
from ...failures import BridgeError
from ...metrics import Metrics
from .. import _published
from . import records
from .plan import PlannedMerchant, plan
from .progress import Progress
from .shards import FeedTooLarge, ShardedFeed, Upload, publish

T = TypeVar("T")

DEFAULT_MAX_SHARD_BYTES = 100 * 1024 * 1024


class ExportError(Exception):
    """The export stopped; nothing was written under a final name."""


@dataclass
class Exported:
    files: list[pathlib.Path]
    merchants: int = 0
    services: int = 0
    slots: int = 0
    sample: dict | None = None  # one availability slot, to show
    shards: dict[str, int] = field(default_factory=dict)


async def export(
    config: Config,
    out: pathlib.Path,
    *,
    days: int | None = None,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    gzip: bool = False,
    environ: Mapping[str, str],
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: TextIO | None = None,
    metrics: Metrics | None = None,
) -> Exported:
    """``metrics``: counts the export (bridge_feed_exports_total, bridge_feed_slots_exported_total)
    and its upstream reads; a private set if None."""
    clock = clock or SystemClock()
    metrics = metrics if metrics is not None else Metrics()
    days = days or config.feeds.days
    mapper = build_mapper(config)
    upstream = open_upstream(config, environ, transport, metrics)
    catalogue = Catalogue(upstream)
    availability = Availability(upstream, catalogue, clock, ttl_seconds=config.booking.availability_cache_seconds)
    published = _published.PublishedSlots(availability, catalogue, mapper, clock)
    now = clock.now()
    upload = Upload(nonce=secrets.randbelow(2**63 - 1) + 1, generation_timestamp=int(now.timestamp()),
                    stamp=now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"), gzip=gzip)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging-{upload.nonce}"
    staging.mkdir()
    feeds = {kind: ShardedFeed(kind, key, staging, upload, max_shard_bytes)
             for kind, key in (("merchants", "merchant"), ("services", "service"),
                               ("availability", "service_availability"))}
    result = Exported(files=[])
    try:
        tenants = sorted({config.upstream.tenant_id} | {m.tenant_id for m in mapper.merchants.values() if m.tenant_id})
        offerings = [o for tenant in tenants for o in await catalogue.all(tenant)]
        merchants = plan(mapper, offerings)
        for m in merchants:
            feeds["merchants"].add(records.merchant(m, config.feeds.default_category))
            for s in m.services:
                feeds["services"].add(records.service(m, s))
        result.merchants = len(merchants)
        result.services = sum(len(m.services) for m in merchants)
        # Generated as the reads go, not listed: a large tenant's days would be a large list.
        meter = Progress(result.services * days, "availability", progress)
        reads = (lambda m=m, s=s, d=d: published.day(m.merchant_id, s.service_id, d)
                 for m, s, d in _days(merchants, now, days))
        async for window in _in_order(reads, config.feeds.max_concurrent_reads):
            meter.step()
            if window.slots:
                record = records.availability(window)
                feeds["availability"].add(record)
                result.slots += len(record["availability"])
                result.sample = result.sample or record["availability"][0]
        shards = []
        for feed in feeds.values():
            written = feed.finish()
            result.shards[feed.kind] = len(written)
            shards += written
        result.files = publish(shards, out)
    except BridgeError as exc:
        metrics.feed_exports.labels("failed").inc()
        raise ExportError(f"the upstream failed midway ({exc.cause.name}: {exc}); nothing was written") from None
    except (FeedTooLarge, OSError) as exc:
        metrics.feed_exports.labels("failed").inc()
        raise ExportError(f"{exc}; nothing was written") from None
    finally:
        for feed in feeds.values():
            feed.close()
        shutil.rmtree(staging, ignore_errors=True)
        await upstream.aclose()
    metrics.feed_exports.labels("ok").inc()
    metrics.feed_slots.inc(result.slots)
    return result


def _days(merchants: list[PlannedMerchant], now: dt.datetime, days: int) -> Iterable[tuple]:
    for m in merchants:
        today = now.astimezone(zoneinfo.ZoneInfo(m.time_zone)).date()
        for s in m.services:
            for n in range(days):
                yield m, s, today + dt.timedelta(days=n)


async def _in_order(calls: Iterable[Callable[[], Awaitable[T]]], concurrency: int):
    """Run the calls ``concurrency`` at a time and yield their results in order, holding at
    most ``concurrency`` of them at once."""
    window: deque[asyncio.Task[T]] = deque()
    try:
        for call in calls:
            if len(window) >= concurrency:
                yield await window.popleft()
            window.append(asyncio.ensure_future(call()))
        while window:
            yield await window.popleft()
    finally:
        for task in window:
            task.cancel()
        await asyncio.gather(*window, return_exceptions=True)
