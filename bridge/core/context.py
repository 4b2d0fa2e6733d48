"""What every core flow needs: the store (and its locks), the upstream, the mapping, a clock."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..clock import Clock
from ..failures import BridgeError
from ..metrics import Metrics
from ..store import Store
from ..upstream import Appointment, QmaticClient
from .availability import Availability
from .catalogue import Catalogue
from .models import Slot, Target

if TYPE_CHECKING:  # the mapping builds core Targets, so it imports the core, not vice versa
    from ..mapping import Mapper

log = logging.getLogger("bridge.core")

# Qmatic documents that an unconfirmed reservation lives 15 minutes.
UPSTREAM_HOLD_TTL = dt.timedelta(minutes=15)


@dataclass
class Context:
    store: Store
    upstream: QmaticClient
    mapper: Mapper
    clock: Clock
    identity_key: bytes
    lease_margin: dt.timedelta = dt.timedelta(seconds=60)
    availability_cache_seconds: float = 5.0
    catalogue: Catalogue = field(init=False)
    availability: Availability = field(init=False)
    # Told of every slot a booking, cancel, reschedule or branch change took or freed
    # (a lease alone does not count: holds come and go); keeps Google's availability.
    on_slots_changed: list[Callable[[Slot, Target], None]] = field(default_factory=list)
    # The Bridge's metrics; a private set when the core runs alone (tests, the recorder).
    metrics: Metrics = field(default_factory=Metrics)

    def __post_init__(self) -> None:
        self.catalogue = Catalogue(self.upstream)
        self.availability = Availability(
            self.upstream, self.catalogue, self.clock, ttl_seconds=self.availability_cache_seconds
        )

    def slots_changed(self, slot: Slot, target: Target) -> None:
        """The slot's openness changed: forget it here, tell the listeners."""
        self.availability.forget(target, slot.start)
        for listener in self.on_slots_changed:
            listener(slot, target)

    async def hold(self, slot: Slot, target: Target) -> Appointment:
        """One upstream hold for the slot, in the branch's own time zone."""
        self.availability.forget(target, slot.start)
        return await self.upstream.hold(
            target.tenant_id,
            service_id=target.service_id,
            branch_id=target.branch_id,
            start=target.local(slot.start),
            end=target.local(slot.end),
            count=slot.party_size,
            resource_id=target.resource_id,
        )

    async def release_quietly(self, target: Target, hold_id: str, when: dt.datetime) -> None:
        """Give a hold back; if that fails it expires upstream by itself within 15 minutes."""
        self.availability.forget(target, when)
        try:
            await self.upstream.release(target.tenant_id, hold_id)
        except BridgeError as exc:
            log.warning("hold release failed; it will expire upstream", extra={"hold_id": hold_id, "cause": exc.cause.name})


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"
