"""Finding free slots on the live tenant, so the scenarios book what is really offered.

The search uses its own upstream client, outside any recording: a cassette holds the
scenario's calls, not the looking around that chose its slots.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Collection

from ..core import Target
from ..upstream import QmaticClient

# Far enough ahead that no cancellation cut-off applies (tenants refuse late cancels; the
# simulator's cut-off is two hours), near enough that the tenant's calendar is open.
LEAD = dt.timedelta(days=1)
SEARCH_DAYS = 14

Pair = tuple[dt.datetime, dt.datetime]


class NoFreeSlot(Exception):
    pass


async def free_slots(
    client: QmaticClient,
    target: Target,
    *,
    after: dt.datetime,
    count: int,
    avoid: Collection[Pair] = (),
) -> list[Pair]:
    """The first ``count`` free slots starting at or after ``after`` (UTC pairs)."""
    first = first_day(after, target)
    found: list[Pair] = []
    for offset in range(SEARCH_DAYS):
        day = first + dt.timedelta(days=offset)
        offered = await client.timeslots(
            target.tenant_id,
            service_id=target.service_id,
            branch_id=target.branch_id,
            day=day,
            resource_id=target.resource_id,
        )
        for pair in sorted(offered):
            if pair[0] >= after and pair not in avoid and pair not in found:
                found.append(pair)
                if len(found) == count:
                    return found
    raise NoFreeSlot(
        f"found {len(found)} of the {count} free slot(s) needed for service {target.service_id} at branch "
        f"{target.branch_id} in the {SEARCH_DAYS} days from {first}"
    )


def first_day(after: dt.datetime, target: Target) -> dt.date:
    """The branch-local day ``after`` falls on: timeslots are asked for one such day."""
    return after.astimezone(zoneinfo.ZoneInfo(target.time_zone)).date()
