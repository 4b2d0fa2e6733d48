"""Booking notifications end to end: a change made at the branch reaches the fake Google
as exactly one PATCH with the right mask and body, inside the promise; Google's own
changes are never echoed back."""

from __future__ import annotations

import datetime as dt
import pathlib

import grpc
import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge.clock import ManualClock
from bridge.simulator import FakeGoogle, Simulator, seed

from .google_harness import NOTIFY_WITHIN, fake_google, google_harness, live, run_for, step  # noqa: F401
from .harness import Harness, at
from .test_v3_rest import book, update


async def booked(h: Harness, start: dt.datetime, **lease) -> pb.Booking:
    booking = await h.book((await h.lease(start, **lease)).lease_id)
    await step(h)  # its first read: nothing to tell yet
    return booking


def appointment_id(h: Harness) -> str:
    [found] = [a.id for a in h.sim.state.appointments.values() if a.status == "CONFIRMED"]
    return found


async def delay_until_notified(h: Harness, google: FakeGoogle, limit: int = NOTIFY_WITHIN + 60) -> int:
    """Seconds of simulated time until Google holds a notification; fails past ``limit``."""
    for second in range(1, limit + 1):
        await step(h)
        if google.notifications:
            return second
    pytest.fail(f"no notification within {limit} s")


@pytest.mark.parametrize(
    ("change", "mask", "fields"),
    [
        ("cancel", ("status",), {"status": "CANCELED"}),
        ("delete", ("status",), {"status": "CANCELED"}),
        ("move", ("startTime",), {"startTime": "2026-11-24T13:00:00Z"}),
        ("lengthen", ("duration",), {"duration": "2700s"}),
        ("move-and-lengthen", ("startTime", "duration"), {"startTime": "2026-11-24T13:00:00Z", "duration": "2700s"}),
        ("party", ("partySize",), {"partySize": "2"}),
    ],
)
async def test_a_change_at_the_branch_is_notified_once_inside_the_promise(
    live: Harness, fake_google: FakeGoogle, change: str, mask: tuple, fields: dict
) -> None:
    booking = await booked(live, at(1, 10), service=seed.CONSULTATION, minutes=60)
    appointment = live.sim.state.appointments[appointment_id(live)]
    if change == "cancel":
        live.sim.state.cancel_at_branch(appointment.id)
    elif change == "delete":
        del live.sim.state.appointments[appointment.id]
    elif change == "move":
        live.sim.state.move_at_branch(appointment.id, at(1, 14))
    elif change == "lengthen":
        live.sim.state.move_at_branch(appointment.id, at(1, 10), at(1, 10, 45))
    elif change == "move-and-lengthen":
        live.sim.state.move_at_branch(appointment.id, at(1, 14), at(1, 14, 45))
    elif change == "party":
        live.sim.state.resize_at_branch(appointment.id, 2)

    delay = await delay_until_notified(live, fake_google)
    assert delay <= NOTIFY_WITHIN
    [note] = fake_google.notifications
    assert note.booking_id == booking.booking_id
    assert note.mask == mask
    assert note.body == {
        "name": f"partners/20001234/bookings/{booking.booking_id}",
        "merchantId": seed.STOCKHOLM,
        "serviceId": seed.CONSULTATION,
        **fields,
    }
    # Once: a whole further period of rounds sends nothing more.
    await run_for(live, NOTIFY_WITHIN)
    assert len(fake_google.notifications) == 1


async def test_what_the_branch_did_is_what_the_bridge_answers_after(live: Harness, fake_google: FakeGoogle) -> None:
    booking = (await book(live, "t-known", at(1, 10)))["booking"]
    await step(live)
    live.sim.state.cancel_at_branch(appointment_id(live))
    await delay_until_notified(live, fake_google)
    reads = live.upstream_calls("GET", "/appointments/")
    r = await live.rest.post("/GetBookingStatus", json={"booking_id": booking["booking_id"]})
    assert r.json()["booking_status"] == "CANCELED"
    stored = await live.bridge.store.get_booking(booking["booking_id"])
    assert stored.status.name == "CANCELED" and stored.cancelled_elsewhere
    assert live.upstream_calls("GET", "/appointments/") == reads  # known: not asked again


async def test_a_finalized_visit_is_not_notified_and_no_longer_read(live: Harness, fake_google: FakeGoogle) -> None:
    await booked(live, at(1, 10))
    live.sim.state.finalize_at_branch(appointment_id(live))
    await run_for(live, NOTIFY_WITHIN)
    reads = live.upstream_calls("GET", "/appointments/")
    await run_for(live, NOTIFY_WITHIN)
    assert fake_google.notifications == []
    assert live.upstream_calls("GET", "/appointments/") == reads


async def test_googles_own_cancel_and_reschedule_are_not_echoed(live: Harness, fake_google: FakeGoogle) -> None:
    moved = await booked(live, at(1, 10), reference="r-move")
    await live.reschedule(moved.booking_id, at(1, 15))
    v3 = (await book(live, "t-own", at(2, 10)))["booking"]
    await step(live)
    r = await update(live, {"booking_id": v3["booking_id"], "status": "CANCELED"})
    assert r.json()["booking"]["status"] == "CANCELED"
    await run_for(live, NOTIFY_WITHIN + 30)
    assert fake_google.notifications == []
    # The moved booking was read again at its new time, and found as Google left it.
    assert live.upstream_calls("GET", "/appointments/") >= 2


async def test_a_booking_that_has_ended_is_no_longer_read(live: Harness) -> None:
    await booked(live, at(0, 10))
    live.clock.advance(hours=4)  # past its end
    reads = live.upstream_calls("GET", "/appointments/")
    await run_for(live, NOTIFY_WITHIN)
    assert live.upstream_calls("GET", "/appointments/") == reads


async def test_a_later_change_supersedes_an_unsent_one(
    sim: Simulator, clock: ManualClock, fake_google: FakeGoogle, tmp_path: pathlib.Path
) -> None:
    live = google_harness(sim, clock, fake_google, tmp_path, max_notification_attempts=50)
    await live.start()
    try:
        await _superseded(live, fake_google)
    finally:
        await live.stop()


async def _superseded(live: Harness, fake_google: FakeGoogle) -> None:
    await booked(live, at(1, 10), service=seed.CONSULTATION, minutes=60)
    fake_google.fail("PATCH", r"/bookings/", 503, times=None)
    appointment = appointment_id(live)
    live.sim.state.move_at_branch(appointment, at(1, 14))
    await run_for(live, NOTIFY_WITHIN)  # noticed, but Google is down
    live.sim.state.cancel_at_branch(appointment)
    await run_for(live, NOTIFY_WITHIN)
    fake_google.faults.clear()
    await run_for(live, 400)  # past the outbox's back-off
    [note] = fake_google.notifications
    assert note.mask == ("status", "startTime")
    assert (note.body["status"], note.body["startTime"]) == ("CANCELED", "2026-11-24T13:00:00Z")


async def test_an_upstream_outage_while_reading_is_not_taken_for_a_cancellation(
    live: Harness, fake_google: FakeGoogle
) -> None:
    await booked(live, at(1, 10))
    live.sim.faults.add(method="GET", path=r"^/appointments/", action="status", status=503, times=None)
    await run_for(live, NOTIFY_WITHIN)
    live.sim.faults.clear()
    await run_for(live, NOTIFY_WITHIN)
    assert fake_google.notifications == []
    [appointment] = [a for a in live.sim.state.appointments.values() if a.status == "CONFIRMED"]
    assert appointment.start == at(1, 10)


async def test_googles_own_change_still_in_flight_is_not_echoed(live: Harness, fake_google: FakeGoogle) -> None:
    booking = await booked(live, at(1, 10))
    # Google's reschedule lands upstream but its answer is lost: the change stays pending.
    live.sim.faults.add(method="PUT", path=r"/reschedule$", action="drop_after")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await live.reschedule(booking.booking_id, at(1, 15))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    await run_for(live, NOTIFY_WITHIN + 30)  # the watcher reads the moved appointment meanwhile
    assert fake_google.notifications == []
    moved = await live.reschedule(booking.booking_id, at(1, 15))  # Google's retry settles it
    assert moved.start_time.ToDatetime(dt.timezone.utc) == at(1, 15)
    await run_for(live, NOTIFY_WITHIN + 30)
    assert fake_google.notifications == []
