"""UpdateBooking's decisions, each proven end to end: a refused or lost change leaves the
customer's booking as it was, gives back what it held, and frees what it released."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge.failures import BridgeError, Cause
from bridge.simulator import seed

from .harness import Harness, at
from .test_v3_rest import book, update


async def booked(harness: Harness, start: dt.datetime, **lease) -> pb.Booking:
    return await harness.book((await harness.lease(start, **lease)).lease_id)


def held(harness: Harness) -> list:
    return [a for a in harness.sim.state.appointments.values() if a.status == "RESERVED"]


def confirmed(harness: Harness) -> list:
    return [a for a in harness.sim.state.appointments.values() if a.status == "CONFIRMED"]


async def available(harness: Harness, start: dt.datetime, service: str = seed.PASSPORT, minutes: int = 15) -> bool:
    asked = [{"service_id": service, "start_sec": str(int(start.timestamp())), "duration_sec": str(minutes * 60)}]
    r = await harness.rest.post("/BatchAvailabilityLookup", json={"merchant_id": seed.STOCKHOLM, "slot_time": asked})
    assert r.status_code == 200
    return r.json()["slot_time_availability"][0]["available"]


REFUSED_RESCHEDULE = {"errorCode": "TIMESLOT_UNAVAILABLE", "message": "taken meanwhile"}


async def test_a_refused_reschedule_gives_back_the_new_hold_and_keeps_the_booking(harness: Harness) -> None:
    booking = await booked(harness, at(1, 10))
    harness.sim.faults.add(method="PUT", path=r"/reschedule$", action="status", status=409, body=REFUSED_RESCHEDULE)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.reschedule(booking.booking_id, at(1, 14))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert held(harness) == []
    assert harness.upstream_calls("DELETE", "/reservations/") == 1
    [appointment] = confirmed(harness)
    assert appointment.start == at(1, 10)
    stored = await harness.bridge.store.get_booking(booking.booking_id)
    assert (stored.slot.start, stored.pending) == (at(1, 10), None)


async def test_a_failed_clean_up_does_not_replace_the_callers_answer(harness: Harness) -> None:
    booking = await booked(harness, at(1, 10))
    harness.sim.faults.add(method="PUT", path=r"/reschedule$", action="status", status=409, body=REFUSED_RESCHEDULE)
    harness.sim.faults.add(method="DELETE", path=r"^/reservations/", action="status", status=503, times=None)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.reschedule(booking.booking_id, at(1, 14))
    # The reschedule's own answer, not the release's: the hold lapses upstream by itself.
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    stored = await harness.bridge.store.get_booking(booking.booking_id)
    assert (stored.slot.start, stored.pending) == (at(1, 10), None)


async def test_a_reschedule_into_the_past_is_invalid_and_holds_nothing(harness: Harness) -> None:
    booking = await booked(harness, at(1, 10))
    harness.clock.advance(hours=30)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.reschedule(booking.booking_id, at(1, 9))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "booking.start_time is in the past"
    assert harness.upstream_calls("POST", "/reservations") == 1  # the original lease's only


async def test_a_party_size_change_above_the_maximum_is_refused_before_any_hold(harness: Harness) -> None:
    booking = (await book(harness, "t-p", at(1, 10), service=seed.PASSPORT, minutes=15))["booking"]
    r = await update(harness, {"booking_id": booking["booking_id"], "slot": {"resources": {"party_size": 3}}})
    assert r.status_code == 400
    assert "party_size" in r.json()["error"]["message"]
    assert harness.upstream_calls("POST", "/reservations") == 1


async def test_a_cancel_lost_before_it_landed_is_sent_after_a_look(harness: Harness) -> None:
    booking = await booked(harness, at(1, 10))
    harness.sim.faults.add(method="DELETE", path=r"^/appointments/", action="drop_before")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.cancel(booking.booking_id)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert confirmed(harness) != []

    cancelled = await harness.cancel(booking.booking_id)
    assert cancelled.status == pb.CANCELED
    assert [a.status for a in harness.sim.state.appointments.values()] == ["CANCELLED"]
    assert harness.upstream_calls("GET", "/appointments/") == 1


async def test_a_cancel_frees_the_slot_for_the_next_lookup_at_once(harness: Harness) -> None:
    booking = (await book(harness, "t-f", at(1, 10), service=seed.PASSPORT, minutes=15))["booking"]
    assert await available(harness, at(1, 10)) is False  # and now cached
    r = await update(harness, {"booking_id": booking["booking_id"], "status": "CANCELED"})
    assert r.json()["booking"]["status"] == "CANCELED"
    assert await available(harness, at(1, 10)) is True


async def test_a_reschedule_frees_the_old_slot_for_the_next_lookup_at_once(harness: Harness) -> None:
    booking = (await book(harness, "t-m", at(1, 10), service=seed.PASSPORT, minutes=15))["booking"]
    assert await available(harness, at(1, 10)) is False  # and now cached
    # Onto another day: holding there says nothing about the day the booking leaves.
    moved = await update(harness, {"booking_id": booking["booking_id"],
                                   "slot": {"start_sec": str(int(at(2, 14).timestamp())), "duration_sec": "900"}})
    assert moved.json()["booking"]["slot"]["start_sec"] == str(int(at(2, 14).timestamp()))
    assert await available(harness, at(1, 10)) is True
    assert await available(harness, at(2, 14)) is False


async def confirming_booking_id(harness: Harness, action: str) -> str:
    """A booking whose confirm was lost. No front hands its id out before it is settled,
    so the id is read from the store, as a future caller holding it would know it."""
    lease = await harness.lease(at(1, 10))
    harness.sim.faults.add(method="PUT", path=r"^/reservations/", action=action)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    booking = await harness.bridge.store.get_booking_by_lease(lease.lease_id)
    assert booking is not None
    return booking.booking_id


async def test_a_change_to_a_booking_with_a_lost_confirm_settles_the_confirm_first(harness: Harness) -> None:
    booking_id = await confirming_booking_id(harness, "drop_after")
    cancelled = await harness.bridge.core.cancel_booking(booking_id)
    assert cancelled.status.name == "CANCELED"
    assert [a.status for a in harness.sim.state.appointments.values()] == ["CANCELLED"]
    assert harness.upstream_calls("PUT", "/reservations/") == 1


async def test_a_change_to_a_booking_whose_confirm_never_landed_is_not_found(harness: Harness) -> None:
    booking_id = await confirming_booking_id(harness, "drop_before")
    harness.clock.advance(minutes=16)  # and the hold lapsed
    with pytest.raises(BridgeError) as err:
        await harness.bridge.core.cancel_booking(booking_id)
    assert err.value.cause is Cause.NOT_FOUND
    assert harness.upstream_calls("DELETE", "/appointments/") == 0


async def test_a_cancel_of_a_visit_finalized_at_the_branch_is_not_cancellable(harness: Harness) -> None:
    booking = (await book(harness, "t-fin", at(1, 10)))["booking"]
    [appointment] = confirmed(harness)
    harness.sim.state.finalize_at_branch(appointment.id)
    r = await update(harness, {"booking_id": booking["booking_id"], "status": "CANCELED"})
    assert r.status_code == 200
    assert r.json()["booking_failure"]["cause"] == "BOOKING_NOT_CANCELLABLE"
    assert harness.sim.state.appointments[appointment.id].status == "FINALIZED"
