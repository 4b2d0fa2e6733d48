"""Is this slot bookable? Answered from the upstream's timeslot lists, grouped and cached.

A batch asks about many slots; the upstream answers per (service, branch, day, party
size, resource). So slots are grouped by that key, each group costs one call, the calls
run concurrently, and their answers are kept for a few seconds. Our own holds and
cancellations change what is free, so they drop the entries of the branch and day they
touch (every service: resources are shared between services).

A batch has a time budget. Groups not answered within it count as unavailable — saying
"free" without knowing would make a booking fail later — and are logged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import NamedTuple

import cachetools

from .. import deadline
from ..clock import Clock
from ..failures import BridgeError
from ..upstream import QmaticClient
from .catalogue import Catalogue
from .models import BOOKING_HORIZON, Slot, Target

log = logging.getLogger("bridge.core.availability")


class GroupKey(NamedTuple):
    tenant_id: str
    branch_id: str
    service_id: str
    day: dt.date
    party_size: int
    resource_id: str | None


Free = frozenset[tuple[dt.datetime, dt.datetime]]


class Availability:
    def __init__(self, upstream: QmaticClient, catalogue: Catalogue, clock: Clock, *, ttl_seconds: float = 5.0):
        self._upstream = upstream
        self._catalogue = catalogue
        self._clock = clock
        self._cache: cachetools.TTLCache[GroupKey, Free] = cachetools.TTLCache(
            maxsize=4096, ttl=ttl_seconds, timer=time.monotonic
        )

    async def lookup(self, slots: Sequence[tuple[Slot, Target]], budget: float) -> list[bool]:
        """One answer per slot, in order, within ``budget`` seconds (or the caller's
        deadline, if sooner), the catalogue look-up included."""
        answers: list[bool | None] = [None] * len(slots)
        groups: dict[GroupKey, list[int]] = {}
        now = self._clock.now()
        with deadline.scope(budget):
            for i, (slot, target) in enumerate(slots):
                if not now < slot.start <= now + BOOKING_HORIZON or not await self._offered(slot, target):
                    answers[i] = False
                    continue
                groups.setdefault(_key(slot, target), []).append(i)
            free = await self._fetch_all(list(groups))
        for key, indices in groups.items():
            for i in indices:
                slot = slots[i][0]
                answers[i] = key in free and (slot.start, slot.end) in free[key]
        return [bool(a) for a in answers]

    async def free(self, target: Target, day: dt.date, party_size: int = 1) -> Free:
        """The upstream's free (start, end) pairs, in UTC, for the target's local ``day``;
        from the cache when fresh, and cached for the next asker (feeds, updates, lookups)."""
        key = GroupKey(target.tenant_id, target.branch_id, target.service_id, day, party_size, target.resource_id)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = await self._fetch(key)
        return found

    def forget(self, target: Target, when: dt.datetime) -> None:
        """Drop what is cached for the branch and day of ``when``: it has just changed."""
        day = _local_day(when, target)
        for key in [k for k in list(self._cache) if (k.tenant_id, k.branch_id, k.day) == (target.tenant_id, target.branch_id, day)]:
            self._cache.pop(key, None)

    async def _offered(self, slot: Slot, target: Target) -> bool:
        try:
            offering = await self._catalogue.offering(slot, target)
        except BridgeError:
            return False
        return 1 <= slot.party_size <= offering.max_reservations

    async def _fetch_all(self, keys: list[GroupKey]) -> dict[GroupKey, Free]:
        """Run inside the budget's deadline scope. The upstream client keeps to that
        deadline on its own; the wait's timeout holds the budget even for a call that
        does not (a token wait, a stuck resolver)."""
        found = {k: self._cache[k] for k in keys if k in self._cache}
        missing = [k for k in keys if k not in found]
        if not missing:
            return found
        left = max(0.0, deadline.remaining() or 0.0)
        tasks = {asyncio.ensure_future(self._fetch(k)): k for k in missing}
        done, pending = await asyncio.wait(tasks, timeout=left)
        for task in pending:
            task.cancel()
        if pending:
            log.warning(
                "availability budget exhausted; answering unavailable",
                extra={"groups": [_describe(tasks[t]) for t in pending], "budget_left_s": round(left, 3)},
            )
        for task in done:
            key = tasks[task]
            if task.exception() is None:
                found[key] = self._cache[key] = task.result()
            else:
                log.warning("availability lookup failed", extra={"group": _describe(key), "cause": _cause(task.exception())})
        return found

    async def _fetch(self, key: GroupKey) -> Free:
        pairs = await self._upstream.timeslots(
            key.tenant_id,
            service_id=key.service_id,
            branch_id=key.branch_id,
            day=key.day,
            count=key.party_size,
            resource_id=key.resource_id,
        )
        return frozenset((start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)) for start, end in pairs)


def _key(slot: Slot, target: Target) -> GroupKey:
    return GroupKey(
        target.tenant_id, target.branch_id, target.service_id, _local_day(slot.start, target), slot.party_size, target.resource_id
    )


def _local_day(when: dt.datetime, target: Target) -> dt.date:
    return target.local(when).date()


def _describe(key: GroupKey) -> str:
    return f"{key.branch_id}/{key.service_id}/{key.day.isoformat()}/party={key.party_size}/resource={key.resource_id or '-'}"


def _cause(exc: BaseException | None) -> str:
    return exc.cause.name if isinstance(exc, BridgeError) else type(exc).__name__
