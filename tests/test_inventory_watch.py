"""The watcher's read budget with a thousand watched bookings: every booking is read again
within the read period, the reads never exceed the budget, and they are spread out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
from collections import defaultdict

import pytest

from bridge.core import BookingStatus
from bridge.inventory import _watcher, capacity_problem, read_period
from bridge.clock import ManualClock
from bridge.simulator import FakeGoogle, Simulator

from .google_harness import READS_PER_SECOND, fake_google, google_harness, live, step  # noqa: F401 (fixtures)
from .harness import Harness, at

WATCHED = 1000


async def watch_many(h: Harness, n: int) -> None:
    """``n`` confirmed bookings, written as the bridge writes them, each with its appointment."""
    template = await h.bridge.store.get_booking((await h.book((await h.lease(at(1, 10))).lease_id)).booking_id)
    appointment = h.sim.state.appointments[template.appointment_id]
    for i in range(1, n):
        start = at(1 + i % 7, 9) + dt.timedelta(minutes=30 * (i // 7 % 16))
        copy = dataclasses.replace(appointment, id=f"appt-{i}", start=start, end=start + dt.timedelta(minutes=30))
        h.sim.state.appointments[copy.id] = copy
        booking = dataclasses.replace(
            template, booking_id=f"booking-{i}", lease_id=None, appointment_id=copy.id, idempotency_key=None,
            personal_identifier=f"person{i:06d}", slot=dataclasses.replace(template.slot, start=start),
            status=BookingStatus.CONFIRMING,
        )
        await h.bridge.store.insert_booking(booking)
        await h.bridge.store.save(booking=dataclasses.replace(booking, status=BookingStatus.CONFIRMED))


async def test_a_thousand_watched_bookings_are_each_read_every_period_within_the_budget(live: Harness) -> None:
    await watch_many(live, WATCHED)
    period = read_period(live.config.google)
    reads_at: dict[str, list[int]] = defaultdict(list)
    per_second: list[int] = []
    seen = 0
    seconds = int(2 * period) + 1
    for second in range(seconds):
        await step(live)
        requests = live.sim.requests[seen:]
        seen = len(live.sim.requests)
        reads = [r.path.rsplit("/", 1)[1] for r in requests if r.method == "GET" and r.path.startswith("/appointments/")]
        per_second.append(len(reads))
        for appointment_id in reads:
            reads_at[appointment_id].append(second)

    # The budget: never more than a second's worth at once, nor more on average.
    assert max(per_second) <= READS_PER_SECOND
    assert sum(per_second) <= READS_PER_SECOND * seconds
    # The promise: every booking read again within the period, the first pass included.
    assert len(reads_at) == WATCHED
    gaps = [b - a for times in reads_at.values() for a, b in zip(times, times[1:])]
    assert gaps and max(gaps) <= period + 1
    first_reads = [times[0] for times in reads_at.values()]
    assert max(first_reads) <= period + 1
    # And no more often than that: about watched / period reads a second, once spread.
    steady = per_second[int(period) + 1:]
    rate = sum(steady) / len(steady)
    assert WATCHED / period * 0.95 <= rate <= WATCHED / period * 1.05, rate
    assert capacity_problem(WATCHED, READS_PER_SECOND, period) is None


async def test_reads_are_paced_to_spread_over_the_period(live: Harness) -> None:
    watched = 200
    await watch_many(live, watched)
    period = read_period(live.config.google)
    per_second = []
    seen = 0
    for _ in range(int(2 * period)):
        await step(live)
        per_second.append(sum(1 for r in live.sim.requests[seen:] if r.method == "GET"))
        seen = len(live.sim.requests)
    # About watched / period a second (0.9 here), never the budget's 5 in a row: no
    # ten seconds read more than the pace allows, and none of the period goes unread.
    pace = 1.25 * watched / period
    windows = [sum(per_second[i:i + 10]) for i in range(len(per_second) - 10)]
    assert max(windows) <= 10 * pace + 1
    assert min(windows) >= 1
    assert sum(per_second) >= 2 * watched - 1

def test_too_many_watched_bookings_for_the_budget_is_said_with_the_numbers() -> None:
    problem = capacity_problem(1500, 5.0, 220.0)
    assert problem is not None
    assert "1500 bookings are watched" in problem
    assert "covers 1100" in problem
    assert "raise it to 6.8 or more" in problem


async def test_more_bookings_than_the_budget_covers_are_read_no_faster_than_it(
    sim: Simulator, clock: ManualClock, fake_google: FakeGoogle, tmp_path: pathlib.Path
) -> None:
    h = google_harness(sim, clock, fake_google, tmp_path, max_upstream_reads_per_second=2.0)
    await h.start()
    try:
        await watch_many(h, 600)
        period = read_period(h.config.google)
        assert await h.bridge.inventory.watcher.capacity_problem() is not None  # 600 > 2 × 220
        per_second, seen = [], 0
        for _ in range(60):
            await step(h)
            per_second.append(sum(1 for r in sim.requests[seen:] if r.path.startswith("/appointments/")))
            seen = len(sim.requests)
        # Behind, and reading flat out: exactly as fast as the budget allows, never faster.
        assert max(per_second) == 2
        assert sum(per_second) >= 2 * 60 - 2
        assert period == 220
    finally:
        await h.stop()


def appointment_reads(h: Harness, since: int) -> int:
    return sum(1 for r in h.sim.requests[since:] if r.method == "GET" and r.path.startswith("/appointments/"))


async def test_a_booking_whose_claim_ran_out_before_its_read_is_left_for_a_later_round(
    live: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that could not start within its claim is not made (another replica may have
    taken the booking by then); the booking stays watched and is read in a later round."""
    await watch_many(live, 1)
    monkeypatch.setattr(_watcher, "CLAIM_MARGIN_SECONDS", _watcher.CLAIM_SECONDS)  # every claim already spent
    seen = len(live.sim.requests)
    for _ in range(int(_watcher.CLAIM_SECONDS) * 3):
        await step(live)
    assert appointment_reads(live, seen) == 0
    monkeypatch.undo()
    seen = len(live.sim.requests)
    for _ in range(int(read_period(live.config.google))):
        await step(live)
    assert appointment_reads(live, seen) >= 1
