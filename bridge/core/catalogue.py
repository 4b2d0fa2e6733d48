"""Whether a mapped slot names a branch, service and resource the upstream really offers.

The catalogue changes rarely, so it is cached for minutes; an unknown id then costs no
upstream call and gets an INVALID_ARGUMENT that names the caller's field.
"""

from __future__ import annotations

import asyncio
import time

import cachetools

from ..failures import invalid
from ..upstream import Offering, QmaticClient
from .models import Slot, Target


def unbookable(offering: Offering) -> list[str]:
    """Every reason Actions Center cannot book this service here; empty if it can. A
    booking from Google brings a name, an e-mail and a phone number, nothing more. The
    feeds leave such services out and `mappings check` names the reasons."""
    found = []
    if not offering.online_bookable:
        found.append("not bookable online")
    if offering.date_of_birth_required:
        found.append("requires a date of birth")
    if offering.required_information_questions:
        found.append(f"requires answers to information questions ({offering.required_information_questions})")
    if offering.screening_questions:
        found.append(f"asks screening questions ({offering.screening_questions})")
    return found


class Catalogue:
    def __init__(self, upstream: QmaticClient, *, ttl_seconds: float = 300.0):
        self._upstream = upstream
        self._cache: cachetools.TTLCache[str, dict[tuple[str, str], Offering]] = cachetools.TTLCache(
            maxsize=256, ttl=ttl_seconds, timer=time.monotonic
        )
        self._fetching: dict[str, asyncio.Lock] = {}

    async def offering(self, slot: Slot, target: Target) -> Offering:
        offerings = await self._offerings(target.tenant_id)
        found = offerings.get((target.branch_id, target.service_id))
        if found is None:
            if not any(branch == target.branch_id for branch, _ in offerings):
                raise invalid("merchant_id", f"{slot.merchant_id!r} is not a known merchant")
            raise invalid("service_id", f"{slot.service_id!r} is not a service of merchant {slot.merchant_id!r}")
        if target.resource_id and found.resource_ids and target.resource_id not in found.resource_ids:
            raise invalid("staff_id", f"{slot.staff_id!r} does not serve {slot.service_id!r}")
        return found

    def warm(self, tenant: str) -> bool:
        """Whether the tenant's catalogue is at hand (checking a slot costs no upstream call)."""
        return tenant in self._cache

    async def find(self, target: Target) -> Offering | None:
        """The (branch, service) pair the target names, or None if the upstream offers none."""
        return (await self._offerings(target.tenant_id)).get((target.branch_id, target.service_id))

    async def all(self, tenant: str) -> list[Offering]:
        return list((await self._offerings(tenant)).values())

    async def _offerings(self, tenant: str) -> dict[tuple[str, str], Offering]:
        cached = self._cache.get(tenant)
        if cached is not None:
            return cached
        # One fetch however many callers arrive at once (a batch, an export's readers).
        async with self._fetching.setdefault(tenant, asyncio.Lock()):
            cached = self._cache.get(tenant)
            if cached is None:
                listed = await self._upstream.services(tenant)
                cached = {(o.branch_id, o.service_id): o for o in listed}
                self._cache[tenant] = cached
        return cached
