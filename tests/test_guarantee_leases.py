"""CreateLease's decisions, each proven end to end: a lease is one upstream hold, a refused
one leaves nothing behind, and a hold the bridge could not record is given back."""

from __future__ import annotations

import datetime as dt
import sqlite3

import grpc
import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge.core import LeaseState
from bridge.simulator import seed

from .harness import Harness, at, lease_message


def held(harness: Harness) -> list:
    return [a for a in harness.sim.state.appointments.values() if a.status == "RESERVED"]


async def test_a_lease_expiration_in_the_past_is_invalid_and_holds_nothing(harness: Harness) -> None:
    message = lease_message(at(1, 10), reference="r-past")
    message.lease_expiration_time.FromDatetime(harness.clock.now() - dt.timedelta(seconds=1))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.CreateLease(pb.CreateLeaseRequest(lease=message))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "lease.lease_expiration_time is in the past"
    assert harness.upstream_calls("POST", "/reservations") == 0
    assert await harness.bridge.store.get_lease_by_reference("r-past") is None


async def test_a_start_in_the_past_is_invalid_and_holds_nothing(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(harness.clock.now() - dt.timedelta(minutes=30))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "lease.start_time is in the past"
    assert harness.upstream_calls("POST", "/reservations") == 0


async def test_a_refused_hold_leaves_the_reference_free_for_another_slot(harness: Harness) -> None:
    await harness.lease(at(1, 10), reference="blocker", service=seed.PASSPORT, minutes=15)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(at(1, 10), reference="mine", service=seed.PASSPORT, minutes=15)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await harness.bridge.store.get_lease_by_reference("mine") is None

    # Nothing was held, so nothing ties the caller's reference to the refused slot.
    lease = await harness.lease(at(1, 11), reference="mine", service=seed.PASSPORT, minutes=15)
    assert lease.lease_id
    assert harness.upstream_calls("GET", f"/services/{seed.PASSPORT}/timeslots") == 0


async def test_a_hold_that_could_not_be_recorded_is_given_back(harness: Harness, monkeypatch) -> None:
    store = harness.bridge.store
    real_save = store.save

    async def failing_save(*, lease=None, booking=None):
        if lease is not None and lease.state is LeaseState.HELD:
            raise sqlite3.OperationalError("disk I/O error")
        await real_save(lease=lease, booking=booking)

    monkeypatch.setattr(store, "save", failing_save)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(at(1, 10), service=seed.PASSPORT, minutes=15)
    assert err.value.code() == grpc.StatusCode.INTERNAL
    # The customer's slot is not left blocked by a hold nobody knows about.
    assert held(harness) == []
    assert harness.upstream_calls("DELETE", "/reservations/") == 1

    monkeypatch.setattr(store, "save", real_save)
    lease = await harness.lease(at(1, 10), service=seed.PASSPORT, minutes=15)
    assert lease.lease_id
    assert len(held(harness)) == 1


async def test_an_unknown_hold_whose_slot_is_gone_is_forgotten(harness: Harness) -> None:
    harness.sim.faults.add(method="POST", path=r"^/reservations$", action="drop_after")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(at(1, 10), service=seed.PASSPORT, minutes=15)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await harness.lease(at(1, 10), service=seed.PASSPORT, minutes=15)
        assert again.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The first retry looked at the slot list and forgot the lost hold; the second was a
    # new request, refused by the upstream itself.
    assert harness.upstream_calls("GET", f"/services/{seed.PASSPORT}/timeslots") == 1
    assert harness.upstream_calls("POST", "/reservations") == 2
    assert len(held(harness)) == 1
