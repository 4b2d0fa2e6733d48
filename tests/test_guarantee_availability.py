"""BatchAvailabilityLookup's decisions: what it can rule out costs no upstream call, and it
keeps to its time budget whatever the upstream does (slots not answered in time are
unavailable, and the answer comes within the budget)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import pathlib
import time
from collections.abc import AsyncIterator

import pytest

from bridge.clock import ManualClock
from bridge.core.availability import Availability
from bridge.core.models import Slot, Target
from bridge.simulator import Simulator, seed
from bridge.upstream import Offering

from .harness import Harness, at, bridge_config

BUDGET = 0.3
# Far above the budget and far below what the upstream would take without one (its read
# timeout is 3 s and a hang never ends), so a scheduling hiccup cannot fail the test.
GENEROUS = BUDGET + 1.5


def asked(service: str, start: dt.datetime, minutes: int) -> dict:
    return {"service_id": service, "start_sec": str(int(start.timestamp())), "duration_sec": str(minutes * 60)}


@pytest.fixture
async def budgeted(sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path) -> AsyncIterator[Harness]:
    config = bridge_config(sim, tmp_path / "b.sqlite3", booking={"availability_budget_seconds": BUDGET})
    h = Harness(sim=sim, clock=clock, config=config)
    await h.start()
    yield h
    sim.faults.clear()
    await h.stop()


async def lookup(h: Harness, slots: list[dict]) -> tuple[list[bool], float]:
    started = time.monotonic()
    r = await h.rest.post("/BatchAvailabilityLookup", json={"merchant_id": seed.STOCKHOLM, "slot_time": slots})
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    return [a["available"] for a in r.json()["slot_time_availability"]], elapsed


@pytest.mark.parametrize(
    "slot",
    [
        asked(seed.HAIRCUT, at(-1, 10), 30),  # in the past
        asked("no-such-service", at(1, 10), 30),  # not in the catalogue
        {**asked(seed.PASSPORT, at(1, 10), 15), "resource_ids": {"party_size": 3}},  # above the maximum
    ],
    ids=["past", "unknown-service", "party-above-maximum"],
)
async def test_what_the_bridge_can_rule_out_costs_no_upstream_call(harness: Harness, slot: dict) -> None:
    answers, _ = await lookup(harness, [slot])
    assert answers == [False]
    assert sum(1 for r in harness.sim.requests if r.path.endswith("/timeslots")) == 0


async def test_a_hanging_timeslot_call_is_unavailable_within_the_budget(budgeted: Harness) -> None:
    await budgeted.rest.get("/HealthCheck")  # token and catalogue warm
    budgeted.sim.faults.add(method="GET", path=rf"/services/{seed.PASSPORT}/timeslots", action="hang", times=None)
    answers, elapsed = await lookup(budgeted, [asked(seed.HAIRCUT, at(1, 10), 30), asked(seed.PASSPORT, at(1, 10), 15)])
    assert answers == [True, False]
    assert elapsed < GENEROUS


async def test_a_hanging_catalogue_is_unavailable_within_the_budget(budgeted: Harness) -> None:
    # Cold: the catalogue is not cached yet, and the call that fetches it hangs.
    budgeted.sim.faults.add(method="GET", path=r"^/services$", action="hang", times=None)
    answers, elapsed = await lookup(budgeted, [asked(seed.HAIRCUT, at(1, 10), 30)])
    assert answers == [False]
    assert elapsed < GENEROUS


class DeafUpstream:
    """An upstream whose timeslot call never returns and ignores every deadline."""

    def __init__(self) -> None:
        self.cancelled = 0

    async def timeslots(self, *args, **kwargs):
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


class Catalogue:
    async def offering(self, slot: Slot, target: Target) -> Offering:
        return Offering(branch_id=target.branch_id, branch_name="b", service_id=target.service_id,
                        service_name="s", max_reservations=1, online_bookable=True, resource_ids=(),
                        resource_required=False)


async def test_the_budget_holds_even_for_a_call_that_ignores_its_deadline(caplog) -> None:
    clock = ManualClock(dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone.utc))
    upstream = DeafUpstream()
    availability = Availability(upstream, Catalogue(), clock)  # type: ignore[arg-type]
    target = Target("tenant", "branch", "service", None, "Europe/Stockholm")
    slot = Slot("m", "s", clock.now() + dt.timedelta(days=1), dt.timedelta(minutes=30))

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="bridge.core.availability"):
        answers = await asyncio.wait_for(availability.lookup([(slot, target)], BUDGET), timeout=5)
    assert answers == [False]
    assert time.monotonic() - started < GENEROUS
    await asyncio.sleep(0)  # let the cancelled call see its cancellation
    assert upstream.cancelled == 1
    [record] = [r for r in caplog.records if r.getMessage().startswith("availability budget exhausted")]
    assert record.groups == ["branch/service/2026-11-24/party=1/resource=-"]


async def test_a_cold_catalogue_is_fetched_once_for_a_whole_export_of_reads(harness: Harness) -> None:
    # Eight readers ask at once, before anything is cached: one catalogue call serves all.
    ctx = harness.bridge.core.context
    target = ctx.mapper.resolve(seed.STOCKHOLM, seed.HAIRCUT)
    found = await asyncio.gather(*(ctx.catalogue.find(target) for _ in range(8)))
    assert all(f is not None and f.service_id == seed.HAIRCUT for f in found)
    assert harness.upstream_calls("GET", "/services") == 1
