"""Availability updates end to end: what a booking, cancel or branch change takes or frees
reaches the fake Google as one replace of the affected (merchant, service, local day),
holding exactly the slots Qmatic's timeslots now show."""

from __future__ import annotations

import datetime as dt

from bridge.simulator import FakeGoogle, seed

from .google_harness import fake_google, live, run_for, step  # noqa: F401 (fixtures)
from .harness import STOCKHOLM_TZ, Harness, at
from .test_v3_rest import book, update

DAY1 = (at(1, 0) + dt.timedelta(hours=2)).astimezone(STOCKHOLM_TZ).date()


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), STOCKHOLM_TZ).astimezone(dt.timezone.utc)


async def offered(h: Harness, service: str, day: dt.date) -> list[tuple[dt.datetime, dt.timedelta]]:
    pairs = await h.bridge.upstream.timeslots(seed.DEMO_TENANT_ID, service_id=service, branch_id=seed.STOCKHOLM, day=day)
    return sorted((start.astimezone(dt.timezone.utc), end - start) for start, end in pairs)


def published(google: FakeGoogle, service: str) -> list[tuple[dt.datetime, dt.timedelta]]:
    return [(s.start, s.duration) for s in google.published(seed.STOCKHOLM, service)]


async def test_a_booking_then_a_cancel_each_replace_the_day_as_qmatic_shows_it(
    live: Harness, fake_google: FakeGoogle
) -> None:
    booking = (await book(live, "t-a", at(1, 10), service=seed.PASSPORT, minutes=15))["booking"]
    await run_for(live, 3)  # past the coalescing wait
    [replace] = fake_google.replacements
    [entry] = replace.entries
    assert (entry["merchantId"], entry["serviceId"]) == (seed.STOCKHOLM, seed.PASSPORT)
    assert entry["startTimeRestrict"] == local_midnight(DAY1).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert entry["endTimeRestrict"] == local_midnight(DAY1 + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = await offered(live, seed.PASSPORT, DAY1)
    assert (at(1, 10), dt.timedelta(minutes=15)) not in shown
    assert published(fake_google, seed.PASSPORT) == shown
    assert {(s.spots_total, s.spots_open, s.staff_id) for s in fake_google.published(seed.STOCKHOLM, seed.PASSPORT)} == {(1, 1, "")}

    r = await update(live, {"booking_id": booking["booking_id"], "status": "CANCELED"})
    assert r.json()["booking"]["status"] == "CANCELED"
    await run_for(live, 3)
    assert len(fake_google.replacements) == 2
    assert (at(1, 10), dt.timedelta(minutes=15)) in published(fake_google, seed.PASSPORT)
    assert published(fake_google, seed.PASSPORT) == await offered(live, seed.PASSPORT, DAY1)


async def test_a_lease_alone_sends_nothing(live: Harness, fake_google: FakeGoogle) -> None:
    await live.lease(at(1, 10), service=seed.PASSPORT, minutes=15)
    await run_for(live, 10)
    assert fake_google.replacements == []


async def test_a_burst_of_bookings_on_one_day_is_one_replace(live: Harness, fake_google: FakeGoogle) -> None:
    for i, hour in enumerate((9, 10, 11)):
        await book(live, f"t-burst-{i}", at(1, hour), service=seed.PASSPORT, minutes=15)
    await run_for(live, 3)
    assert len(fake_google.replacements) == 1
    assert published(fake_google, seed.PASSPORT) == await offered(live, seed.PASSPORT, DAY1)


async def test_a_move_at_the_branch_replaces_both_days(live: Harness, fake_google: FakeGoogle) -> None:
    await book(live, "t-m", at(1, 10), service=seed.PASSPORT, minutes=15)
    await run_for(live, 3)
    [appointment] = [a for a in live.sim.state.appointments.values() if a.status == "CONFIRMED"]
    live.sim.state.move_at_branch(appointment.id, at(2, 10))
    await run_for(live, 240)
    days = {entry["startTimeRestrict"] for r in fake_google.replacements[1:] for entry in r.entries}
    assert days == {local_midnight(DAY1).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    local_midnight(DAY1 + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert (at(1, 10), dt.timedelta(minutes=15)) in published(fake_google, seed.PASSPORT)
    assert (at(2, 10), dt.timedelta(minutes=15)) not in published(fake_google, seed.PASSPORT)


async def test_a_rate_limited_replace_backs_off_and_is_sent_later(live: Harness, fake_google: FakeGoogle) -> None:
    fake_google.fail("POST", r"availability:replace$", 429, times=5, retry_after=1)
    await book(live, "t-429", at(1, 10), service=seed.PASSPORT, minutes=15)
    await run_for(live, 3)
    assert fake_google.replacements == []  # the client's five tries were all refused
    await run_for(live, 30)
    assert len(fake_google.replacements) == 1
    assert published(fake_google, seed.PASSPORT) == await offered(live, seed.PASSPORT, DAY1)
