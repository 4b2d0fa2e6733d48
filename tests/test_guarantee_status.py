"""GetBookingStatus and ListBookings: what they learn from the upstream is recorded and
acted on, and a user's list holds only what is still to come."""

from __future__ import annotations


import grpc
import pytest

from bridge.simulator import seed

from .harness import Harness, at
from .test_guarantee_changes import available
from .test_v3_rest import book, user


def appointment_of(harness: Harness):
    [found] = [a for a in harness.sim.state.appointments.values() if a.status != "RESERVED"]
    return found


async def test_a_branch_cancellation_seen_by_status_is_recorded(harness: Harness) -> None:
    booking = (await book(harness, "t-s", at(1, 10)))["booking"]
    harness.sim.state.cancel_at_branch(appointment_of(harness).id)
    r = await harness.rest.post("/GetBookingStatus", json={"booking_id": booking["booking_id"]})
    assert r.json()["booking_status"] == "CANCELED"

    # Known now: cancelling says so from the store, with no upstream cancel sent.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.cancel(booking["booking_id"])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "already cancelled elsewhere" in err.value.details()
    assert harness.upstream_calls("DELETE", "/appointments/") == 0


async def test_a_branch_cancellation_seen_by_status_frees_the_slot_at_once(harness: Harness) -> None:
    booking = (await book(harness, "t-a", at(1, 10), service=seed.PASSPORT, minutes=15))["booking"]
    assert await available(harness, at(1, 10)) is False  # and now cached
    harness.sim.state.cancel_at_branch(appointment_of(harness).id)
    r = await harness.rest.post("/GetBookingStatus", json={"booking_id": booking["booking_id"]})
    assert r.json()["booking_status"] == "CANCELED"
    assert await available(harness, at(1, 10)) is True


async def test_a_users_list_leaves_out_what_has_ended(harness: Harness) -> None:
    await book(harness, "t-past", at(1, 10))
    upcoming = (await book(harness, "t-next", at(3, 10)))["booking"]
    harness.clock.advance(days=2)
    listed = await harness.rest.post("/ListBookings", json={"user_id": user()["user_id"]})
    assert [b["booking_id"] for b in listed.json()["bookings"]] == [upcoming["booking_id"]]
