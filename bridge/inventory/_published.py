"""The slots the bridge publishes to Google for one (merchant, service, branch-local day).

One format for availability updates and feeds alike: each free (start, duration, staff)
is a slot with one spot, open. Staff are published when the merchant's mapping names
them, or when the service needs a resource chosen, with the staff ids the booking server
accepts back; otherwise a slot names no staff and any free resource may take it. Slots
already begun are left out: they could not be booked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo

from ..clock import Clock
from ..core.availability import Availability
from ..core.catalogue import Catalogue
from ..google import AvailabilityWindow, OpenSlot
from ..mapping import Mapper
from ..upstream import Offering


class PublishedSlots:
    def __init__(self, availability: Availability, catalogue: Catalogue, mapper: Mapper, clock: Clock):
        self._availability = availability
        self._catalogue = catalogue
        # Public: a reload (SIGHUP) puts a new mapping here.
        self.mapper = mapper
        self._clock = clock

    async def day(self, merchant_id: str, service_id: str, day: dt.date) -> AvailabilityWindow:
        """The whole local day's slots: what Google must show for it, and nothing else."""
        target = self.mapper.resolve(merchant_id, service_id)
        zone = zoneinfo.ZoneInfo(target.time_zone)
        start = dt.datetime.combine(day, dt.time(0), zone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
        offering = await self._catalogue.find(target)
        now = self._clock.now()
        slots: list[OpenSlot] = []
        if offering is not None and offering.online_bookable:
            for staff_id, resource_id in staff_of(self.mapper, merchant_id, offering):
                staffed = dataclasses.replace(target, resource_id=resource_id)
                name = offering.resource_names.get(resource_id, "") if resource_id and staff_id else ""
                for begin, finish in await self._availability.free(staffed, day):
                    if begin > now:
                        slots.append(OpenSlot(start=begin, duration=finish - begin, spots_total=1, spots_open=1,
                                              staff_id=staff_id, staff_name=name))
        slots.sort(key=lambda s: (s.start, s.staff_id))
        return AvailabilityWindow(merchant_id=merchant_id, service_id=service_id, start=_utc(start), end=_utc(end),
                                  slots=tuple(slots))


def staff_of(mapper: Mapper, merchant_id: str, offering: Offering) -> list[tuple[str, str | None]]:
    """(Actions Center staff id, resource GUID) pairs to publish, or one unnamed pair."""
    mapping = mapper.merchants.get(merchant_id)
    if mapping is not None and mapping.staff is not None:
        named = [(ac_id, guid) for ac_id, guid in sorted(mapping.staff.items()) if guid in offering.resource_ids]
        return named or [("", None)]
    if offering.resource_required and offering.resource_ids:
        return [(guid, guid) for guid in offering.resource_ids]
    return [("", None)]


def _utc(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.timezone.utc)
