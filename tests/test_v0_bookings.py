"""CreateBooking end to end: a booking is the confirmation of the lease's hold."""

from __future__ import annotations

import datetime as dt
import re

import grpc
import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge.simulator import seed

from .harness import Harness, at, client_message


def confirmed(harness: Harness) -> list:
    return [a for a in harness.sim.state.appointments.values() if a.status == "CONFIRMED"]


async def test_booking_confirms_the_hold_with_a_derived_identifier(harness: Harness) -> None:
    start = at(1, 10)
    lease = await harness.lease(start)
    booking = await harness.book(lease.lease_id, email="Ada@Example.com ")

    assert booking.booking_id
    assert booking.status == pb.CONFIRMED
    assert (booking.merchant_id, booking.service_id) == (seed.STOCKHOLM, seed.HAIRCUT)
    assert booking.start_time.ToDatetime(dt.timezone.utc) == start
    assert booking.duration.ToTimedelta() == dt.timedelta(minutes=30)
    assert booking.client_information.given_name == "Ada"
    assert booking.client_information.email == "Ada@Example.com"

    [appointment] = confirmed(harness)
    assert appointment.id == (await harness.bridge.store.get_lease(lease.lease_id)).hold_id
    pid = appointment.customer["personalIdentifier"]
    assert re.fullmatch(r"[A-Za-z0-9]{10,48}", pid)
    assert "ada" not in pid.lower()
    assert appointment.customer["email"] == "Ada@Example.com"
    assert harness.upstream_calls("PUT", "/reservations/") == 1


async def test_identifier_is_the_same_for_the_same_customer(harness: Harness) -> None:
    a = await harness.book((await harness.lease(at(1, 10), reference="a")).lease_id, email="x@example.com")
    b = await harness.book((await harness.lease(at(1, 11), reference="b")).lease_id, email=" X@EXAMPLE.com")
    pids = {appt.customer["personalIdentifier"] for appt in confirmed(harness)}
    assert a.booking_id != b.booking_id
    assert len(pids) == 1
    assert len(confirmed(harness)) == 2


async def test_the_same_lease_again_returns_the_same_booking_and_confirms_once(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    first = await harness.book(lease.lease_id)
    again = await harness.book(lease.lease_id)
    assert again == first
    assert harness.upstream_calls("PUT", "/reservations/") == 1
    assert len(confirmed(harness)) == 1


async def test_unknown_lease_is_not_found(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book("lease-does-not-exist")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "lease 'lease-does-not-exist' does not exist"
    assert harness.upstream_calls("PUT", "/reservations/") == 0


async def test_lease_expired_by_our_clock_is_not_found_and_the_hold_released(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    harness.clock.advance(minutes=14)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "expired" in err.value.details()
    assert harness.upstream_calls("PUT", "/reservations/") == 0
    assert harness.upstream_calls("DELETE", "/reservations/reservations/") == 1
    assert not [a for a in harness.sim.state.appointments.values() if a.status == "RESERVED"]
    # And it stays expired.
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await harness.book(lease.lease_id)
    assert again.value.code() == grpc.StatusCode.NOT_FOUND
    assert "expired" in again.value.details()
    # Nothing more was sent for it: no confirm, and no second release.
    assert harness.upstream_calls("PUT", "/reservations/") == 0
    assert harness.upstream_calls("DELETE", "/reservations/reservations/") == 1


async def test_hold_gone_upstream_is_not_found_saying_expired(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    # The lease asked for 14 minutes; here the upstream hold is gone sooner (released by staff).
    [hold] = list(harness.sim.state.appointments)
    del harness.sim.state.appointments[hold]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "expired" in err.value.details()
    assert harness.upstream_calls("PUT", "/reservations/") == 1  # the confirm that met the gone hold
    assert await harness.bridge.store.get_booking_by_lease(lease.lease_id) is None


@pytest.mark.parametrize(
    ("client", "field"),
    [
        ({"given_name": ""}, "client_information.given_name"),
        ({"family_name": ""}, "client_information.family_name"),
        ({"given_name": "A" * 256}, "client_information.given_name"),
        ({"email": ""}, "client_information.email"),
        ({"email": "not-an-email"}, "client_information.email"),
        ({"email": "a@" + "b" * 260 + ".com"}, "client_information.email"),
        ({"telephone": "call me maybe"}, "client_information.telephone"),
    ],
)
async def test_invalid_client_information_names_the_field(harness: Harness, client: dict, field: str) -> None:
    lease = await harness.lease(at(1, 10))
    request = pb.CreateBookingRequest(
        lease_ref=pb.LeaseReference(lease_id=lease.lease_id), client_information=client_message(**client)
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.CreateBooking(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(field), err.value.details()
    assert harness.upstream_calls("PUT", "/reservations/") == 0
    # The lease is still good for a corrected request.
    booking = await harness.book(lease.lease_id)
    assert booking.status == pb.CONFIRMED


async def test_missing_client_information_is_invalid(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.CreateBooking(pb.CreateBookingRequest(lease_ref=pb.LeaseReference(lease_id=lease.lease_id)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("client_information "), err.value.details()
    assert harness.upstream_calls("PUT", "/reservations/") == 0


async def test_same_person_on_the_same_slot_under_another_lease_already_exists(harness: Harness) -> None:
    # Haircut in Stockholm has two resources, so one slot can be leased twice.
    first = await harness.lease(at(1, 10), reference="one")
    second = await harness.lease(at(1, 10), reference="two")
    await harness.book(first.lease_id, email="same@example.com")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(second.lease_id, email="same@example.com")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert len(confirmed(harness)) == 1
    # Refused before any confirm was sent for the second lease; its one hold is released once.
    assert harness.upstream_calls("PUT", "/reservations/") == 1
    assert harness.upstream_calls("DELETE", "/reservations/reservations/") == 1
    # The second hold can never be confirmed now, so it was given back.
    assert not [a for a in harness.sim.state.appointments.values() if a.status == "RESERVED"]
