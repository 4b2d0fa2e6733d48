"""UpdateBooking end to end: cancel and reschedule."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge.simulator import seed

from .harness import Harness, at


async def booked(harness: Harness, start: dt.datetime, reference: str = "ref-1", **lease) -> pb.Booking:
    lease_msg = await harness.lease(start, reference=reference, **lease)
    return await harness.book(lease_msg.lease_id)


def appointment(harness: Harness, booking: pb.Booking):
    [found] = [a for a in harness.sim.state.appointments.values() if a.status != "RESERVED"]
    return found


async def test_cancel_cancels_upstream_and_repeats_answer_the_same(harness: Harness) -> None:
    booking = await booked(harness, at(1, 10))
    cancelled = await harness.cancel(booking.booking_id)
    assert cancelled.booking_id == booking.booking_id
    assert cancelled.status == pb.CANCELED
    assert appointment(harness, booking).status == "CANCELLED"

    again = await harness.cancel(booking.booking_id)
    assert again == cancelled
    assert harness.upstream_calls("DELETE", "/appointments/") == 1


async def test_cancel_inside_the_cut_off_is_too_late(harness: Harness) -> None:
    # The simulator's tenant refuses cancellations less than two hours ahead.
    booking = await booked(harness, at(0, 9, 30))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.cancel(booking.booking_id)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "too late to cancel" in err.value.details()
    assert appointment(harness, booking).status == "CONFIRMED"
    assert harness.upstream_calls("DELETE", "/appointments/") == 1
    stored = await harness.bridge.store.get_booking(booking.booking_id)
    assert stored.pending is None


async def test_cancel_of_an_appointment_cancelled_at_the_branch(harness: Harness) -> None:
    booking = await booked(harness, at(1, 10))
    harness.sim.state.cancel_at_branch(appointment(harness, booking).id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.cancel(booking.booking_id)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "already cancelled" in err.value.details()
    # The bridge now knows the truth and says the same again, without asking upstream.
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await harness.cancel(booking.booking_id)
    assert (again.value.code(), again.value.details()) == (err.value.code(), err.value.details())
    assert harness.upstream_calls("DELETE", "/appointments/") == 1


async def test_reschedule_moves_the_appointment_and_keeps_the_booking_id(harness: Harness) -> None:
    booking = await booked(harness, at(1, 10))
    moved = await harness.reschedule(booking.booking_id, at(1, 14))
    assert moved.booking_id == booking.booking_id
    assert moved.status == pb.CONFIRMED
    assert moved.start_time.ToDatetime(dt.timezone.utc) == at(1, 14)
    assert moved.client_information == booking.client_information
    upstream = appointment(harness, booking)
    assert (upstream.start, upstream.status) == (at(1, 14), "CONFIRMED")
    # The new slot's hold was consumed by the reschedule; nothing is left reserved.
    assert [a.status for a in harness.sim.state.appointments.values()] == ["CONFIRMED"]

    again = await harness.reschedule(booking.booking_id, at(1, 14))
    assert again == moved
    assert harness.upstream_calls("PUT", "/appointments/") == 1
    # One hold for the lease, one for the new slot; the repeat held nothing.
    assert harness.upstream_calls("POST", "/reservations") == 2


async def test_reschedule_onto_a_taken_slot_leaves_the_booking_unchanged(harness: Harness) -> None:
    booking = await booked(harness, at(1, 10), service=seed.PASSPORT, minutes=15)
    await harness.lease(at(1, 11), reference="blocker", service=seed.PASSPORT, minutes=15)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.reschedule(booking.booking_id, at(1, 11), minutes=15)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert appointment(harness, booking).start == at(1, 10)
    assert harness.upstream_calls("PUT", "/appointments/") == 0  # no hold, so no move was sent
    stored = await harness.bridge.store.get_booking(booking.booking_id)
    assert (stored.slot.start, stored.pending) == (at(1, 10), None)


async def test_reschedule_of_a_cancelled_booking_is_refused(harness: Harness) -> None:
    booking = await booked(harness, at(1, 10))
    await harness.cancel(booking.booking_id)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.reschedule(booking.booking_id, at(1, 14))
    # BOOKING_ALREADY_CANCELLED, which v0 renders as INVALID_ARGUMENT (errortable.V0_STATUS).
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cancelled" in err.value.details()
    # Refused from the bridge's own record: nothing held, nothing moved.
    assert harness.upstream_calls("POST", "/reservations") == 1
    assert harness.upstream_calls("PUT", "/appointments/") == 0


async def test_unknown_booking_is_not_found(harness: Harness) -> None:
    for call in (harness.cancel("booking-nope"), harness.reschedule("booking-nope", at(1, 14))):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert err.value.details() == "booking 'booking-nope' does not exist"
    assert harness.upstream_calls("DELETE", "/appointments/") == 0
    assert harness.upstream_calls("PUT", "/appointments/") == 0


@pytest.mark.parametrize(
    ("paths", "status", "field"),
    [
        ([], pb.CANCELED, "update_mask"),
        (["client_information"], pb.CANCELED, "update_mask"),
        (["status", "start_time"], pb.CANCELED, "update_mask"),
        (["status"], pb.CONFIRMED, "booking.status"),
        (["start_time"], pb.BOOKING_STATUS_UNSPECIFIED, "booking.start_time"),
    ],
)
async def test_bad_update_is_invalid_argument(harness: Harness, paths, status, field: str) -> None:
    booking = await booked(harness, at(1, 10))
    request = pb.UpdateBookingRequest(booking=pb.Booking(booking_id=booking.booking_id, status=status))
    request.update_mask.paths.extend(paths)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.UpdateBooking(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field} "), err.value.details()
    assert appointment(harness, booking).status == "CONFIRMED"
    assert harness.upstream_calls("DELETE", "/appointments/") == 0
    assert harness.upstream_calls("PUT", "/appointments/") == 0
