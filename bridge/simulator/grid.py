"""The slot grid: which [start, end) pairs exist for a service at a branch.

The bookable week is fixed when the simulator is built, from the injected clock, so a test
that advances a ManualClock by minutes does not shift the week under it.
"""

from __future__ import annotations

import datetime as dt

from . import seed

UTC = dt.timezone.utc


class SlotGrid:
    def __init__(self, now: dt.datetime):
        self._days = {
            branch_id: _days_from(now.astimezone(seed.zone(branch_id)).date())
            for branch_id in seed.BRANCHES
        }

    def days(self, branch_id: str) -> tuple[dt.date, ...]:
        return self._days[branch_id]

    def grid(self, branch_id: str, service_id: str, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The day's slots as UTC instants; empty for a day outside the bookable week."""
        if day not in self._days[branch_id]:
            return []
        tz = seed.zone(branch_id)
        step = seed.duration(service_id)
        # Stepping in UTC from the local opening keeps each slot exactly `step` long, even
        # on a day whose UTC offset changes (the change happens at night, outside 9-17).
        start = dt.datetime.combine(day, seed.OPENS, tzinfo=tz).astimezone(UTC)
        close = dt.datetime.combine(day, seed.CLOSES, tzinfo=tz).astimezone(UTC)
        slots = []
        while start + step <= close:
            slots.append((start, start + step))
            start += step
        return slots

    def is_slot(self, branch_id: str, service_id: str, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether [start, end) is exactly one grid slot, compared as instants."""
        day = start.astimezone(seed.zone(branch_id)).date()
        wanted = (start.astimezone(UTC), end.astimezone(UTC))
        return wanted in self.grid(branch_id, service_id, day)


def _days_from(first: dt.date) -> tuple[dt.date, ...]:
    return tuple(first + dt.timedelta(days=i) for i in range(seed.DAYS_OFFERED))
