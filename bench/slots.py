"""What the loads ask for: distinct bookable slots, and availability questions never asked before.

The simulator helper grows the demo tenant with seed.enlarge(branches, days); the same
call here yields the same generated branches and staff (their GUIDs are derived), and the
simulator's own SlotGrid yields the same slots. Only days 1 to days-2 are used: today's
slots may be inside the 2-hour cancellation cut-off, and the first and last day could
differ between two processes started either side of midnight.

Generated branches share their two staff members between services, so a booking load
takes one service (Passport photo, 15 minutes): 64 slots per branch and day, none
overlapping another.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from bridge.simulator import seed
from bridge.simulator.grid import SlotGrid

UTC = dt.timezone.utc
_NAMESPACE = uuid.UUID(seed.DEMO_TENANT_ID)
# Three services, so three questions per branch and week.
LOOKUP_SERVICES = (seed.PASSPORT, seed.HAIRCUT, seed.CONSULTATION)
SLOTS_PER_LOOKUP = 50
DAYS_PER_LOOKUP = 7


@dataclass(frozen=True)
class Slot:
    branch: str
    service: str
    staff: str
    start: dt.datetime  # UTC
    end: dt.datetime

    @property
    def key(self) -> tuple[str, str, str]:
        """How the simulator's appointment list names the slot (see bench.verify)."""
        return (self.branch, self.staff, self.start.isoformat())


def branch_id(n: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"branch-{n}"))


def staff_ids(n: int) -> tuple[str, str]:
    return (str(uuid.uuid5(_NAMESPACE, f"resource-{n}-0")), str(uuid.uuid5(_NAMESPACE, f"resource-{n}-1")))


def _grid(branches: int, days: int) -> SlotGrid:
    seed.enlarge(branches, days)
    return SlotGrid(dt.datetime.now(UTC))


def bookable(branches: int, days: int, service: str = seed.PASSPORT) -> list[Slot]:
    """Every slot of ``service`` at the generated branches, branches taking turns, so that
    concurrent workers book at different branches as real traffic would."""
    grid = _grid(branches, days)
    per_branch = []
    for n in range(branches):
        b = branch_id(n)
        per_branch.append([
            Slot(b, service, staff, start, end)
            for day in grid.days(b)[1:-1]
            for start, end in grid.grid(b, service, day)
            for staff in staff_ids(n)
        ])
    return [s for row in zip_longest(*per_branch) for s in row if s is not None]


def lookups(branches: int, days: int) -> list[dict[str, Any]]:
    """BatchAvailabilityLookup bodies, each asked once: 50 slots of one service spread over
    7 days of one branch (no staff named). A body of another branch, service or week
    shares no (service, branch, day) with any other, so none is in any cache."""
    grid = _grid(branches, days)
    per_branch = []
    for n in range(branches):
        b = branch_id(n)
        usable = grid.days(b)[1:-1]
        weeks = [usable[i:i + DAYS_PER_LOOKUP] for i in range(0, len(usable) - DAYS_PER_LOOKUP + 1, DAYS_PER_LOOKUP)]
        per_branch.append([_lookup(grid, b, service, week) for week in weeks for service in LOOKUP_SERVICES])
    return [body for row in zip_longest(*per_branch) for body in row if body is not None]


def _lookup(grid: SlotGrid, branch: str, service: str, week: tuple[dt.date, ...]) -> dict[str, Any]:
    pool = [pair for day in week for pair in grid.grid(branch, service, day)]
    step = len(pool) / SLOTS_PER_LOOKUP  # evenly over the week; every day gets some
    chosen = [pool[int(i * step)] for i in range(SLOTS_PER_LOOKUP)]
    return {
        "merchant_id": branch,
        "slot_time": [{"service_id": service, "start_sec": str(int(start.timestamp())),
                       "duration_sec": str(int((end - start).total_seconds()))} for start, end in chosen],
    }
