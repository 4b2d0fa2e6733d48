"""CreateBooking's decisions, each proven end to end: what the customer ends up with when a
confirm's outcome is lost, refused, or overtaken by what happened at the branch."""

from __future__ import annotations

import grpc
import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge.simulator import seed

from .harness import Harness, at
from .test_v3_rest import booking_request, user


def appointments(harness: Harness, status: str | None = None) -> list:
    return [a for a in harness.sim.state.appointments.values() if status in (None, a.status)]


async def lost_confirm(harness: Harness, action: str = "drop_after") -> pb.Lease:
    """A lease whose confirm was sent and whose answer never came back."""
    lease = await harness.lease(at(1, 10))
    harness.sim.faults.add(method="PUT", path=r"^/reservations/", action=action)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    return lease


async def test_a_lost_confirm_found_cancelled_at_the_branch_is_recorded_cancelled(harness: Harness) -> None:
    lease = await lost_confirm(harness)
    [appointment] = appointments(harness, "CONFIRMED")
    harness.sim.state.cancel_at_branch(appointment.id)

    booking = await harness.book(lease.lease_id)
    assert booking.status == pb.CANCELED
    # Recorded as cancelled elsewhere: a cancel now says so without asking upstream again.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.cancel(booking.booking_id)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "already cancelled elsewhere" in err.value.details()
    assert harness.upstream_calls("DELETE", "/appointments/") == 0
    assert harness.upstream_calls("PUT", "/reservations/") == 1


async def test_a_lost_confirm_finalized_at_the_branch_counts_as_confirmed(harness: Harness) -> None:
    lease = await lost_confirm(harness)
    [appointment] = appointments(harness, "CONFIRMED")
    harness.sim.state.finalize_at_branch(appointment.id)

    booking = await harness.book(lease.lease_id)
    assert booking.status == pb.CONFIRMED
    assert harness.upstream_calls("PUT", "/reservations/") == 1


async def test_a_lost_confirm_whose_appointment_is_gone_lets_the_customer_book_again(harness: Harness) -> None:
    # The confirm never landed and the hold lapsed meanwhile: nothing exists upstream.
    lease = await lost_confirm(harness, action="drop_before")
    harness.clock.advance(minutes=16)
    assert appointments(harness, "RESERVED")[0].is_expired_hold(harness.clock.now())

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "expired" in err.value.details()
    assert await harness.bridge.store.get_booking_by_lease(lease.lease_id) is None

    # No phantom booking is left to make the same person's new booking "overlapping".
    again = await harness.lease(at(1, 10), reference="ref-again")
    booking = await harness.book(again.lease_id)
    assert booking.status == pb.CONFIRMED
    assert len(appointments(harness, "CONFIRMED")) == 1


async def test_a_lost_confirm_with_the_upstream_unreachable_keeps_the_booking(harness: Harness) -> None:
    lease = await lost_confirm(harness)
    harness.sim.faults.add(method="GET", path=r"^/appointments/", action="status", status=503, times=None)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id, timeout=3.0)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert await harness.bridge.store.get_booking_by_lease(lease.lease_id) is not None

    harness.sim.faults.clear()
    booking = await harness.book(lease.lease_id)
    assert booking.status == pb.CONFIRMED
    assert harness.upstream_calls("PUT", "/reservations/") == 1


async def test_a_confirm_answered_already_confirmed_is_looked_up_not_failed(harness: Harness) -> None:
    # An earlier confirm of this hold (say, from another replica) landed first.
    lease = await harness.lease(at(1, 10))
    [hold] = appointments(harness, "RESERVED")
    harness.sim.state.confirm(hold.id, {"personalIdentifier": "earlier"})

    booking = await harness.book(lease.lease_id)
    assert booking.status == pb.CONFIRMED
    assert harness.upstream_calls("PUT", "/reservations/") == 1
    assert harness.upstream_calls("GET", "/appointments/") == 1
    assert await harness.book(lease.lease_id) == booking


async def test_a_refused_confirm_is_forgotten_so_the_retry_starts_afresh(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    harness.sim.faults.add(method="PUT", path=r"^/reservations/", action="status", status=400,
                           body={"errorCode": "INVALID_CUSTOMER", "message": "email rejected"})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await harness.bridge.store.get_booking_by_lease(lease.lease_id) is None

    booking = await harness.book(lease.lease_id)
    assert booking.status == pb.CONFIRMED
    # Nothing was pending, so nothing needed looking up.
    assert harness.upstream_calls("GET", "/appointments/") == 0
    assert harness.upstream_calls("PUT", "/reservations/") == 2


async def test_a_refused_lease_less_booking_leaves_no_booking_in_the_users_list(harness: Harness) -> None:
    harness.sim.faults.add(method="PUT", path=r"^/reservations/", action="status", status=400,
                           body={"errorCode": "INVALID_CUSTOMER", "message": "email rejected"})
    r = await harness.rest.post("/CreateBooking", json=booking_request("t-refused", at(1, 10)))
    assert r.status_code == 400
    listed = await harness.rest.post("/ListBookings", json={"user_id": user()["user_id"]})
    assert listed.status_code == 200 and listed.json() == {}
    # The internal lease's hold was given back.
    assert appointments(harness, "RESERVED") == []


async def test_a_hold_gone_upstream_is_settled_once(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    [hold] = list(harness.sim.state.appointments)
    del harness.sim.state.appointments[hold]  # released by staff before the lease ran out
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await harness.book(lease.lease_id)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert "expired" in err.value.details()
    # The second answer came from the store: the upstream was asked once.
    assert harness.upstream_calls("PUT", "/reservations/") == 1

    # And the person may book the same slot under a new lease.
    booking = await harness.book((await harness.lease(at(1, 10), reference="ref-2")).lease_id)
    assert booking.status == pb.CONFIRMED


async def test_an_expired_lease_is_settled_once(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    harness.clock.advance(minutes=14)
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await harness.book(lease.lease_id)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert harness.upstream_calls("DELETE", "/reservations/") == 1
    assert harness.upstream_calls("PUT", "/reservations/") == 0


async def test_a_lease_consumed_by_one_token_is_expired_for_another(harness: Harness) -> None:
    r = await harness.rest.post("/CreateLease", json={"lease": {"user_reference": "r", "slot": {
        "merchant_id": seed.STOCKHOLM, "service_id": seed.HAIRCUT,
        "start_sec": str(int(at(1, 10).timestamp())), "duration_sec": "1800"}}})
    lease_id = r.json()["lease"]["lease_id"]
    first = dict(booking_request("t-one", at(1, 10)), lease_ref={"lease_id": lease_id})
    assert (await harness.rest.post("/CreateBooking", json=first)).json()["booking"]["status"] == "CONFIRMED"
    second = dict(first, idempotency_token="t-two", user_information=user("other-user", "other@example.com"))
    answer = await harness.rest.post("/CreateBooking", json=second)
    assert answer.json() == {"booking_failure": {"cause": "LEASE_EXPIRED",
                                                 "description": answer.json()["booking_failure"]["description"]}}
    assert harness.upstream_calls("PUT", "/reservations/") == 1
