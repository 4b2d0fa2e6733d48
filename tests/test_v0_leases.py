"""CreateLease end to end: gRPC client → bridge → simulator over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge.core.catalogue import Catalogue
from bridge.failures import invalid
from bridge.simulator import seed

from .harness import Harness, at, lease_message


async def test_lease_echoes_the_request_and_holds_once(harness: Harness) -> None:
    start = at(1, 10)
    requested = harness.clock.now() + dt.timedelta(minutes=5)
    sent = lease_message(start, reference="r-echo", availability_tag="tag-7", staff=seed.ANNA)
    sent.lease_expiration_time.FromDatetime(requested)

    lease = (await harness.stub.CreateLease(pb.CreateLeaseRequest(lease=sent))).lease

    assert lease.lease_id
    echoed = pb.Lease()
    echoed.CopyFrom(lease)
    echoed.ClearField("lease_id")
    assert echoed == sent  # every field as sent, the shorter expiration kept
    assert harness.upstream_calls("POST", "/reservations") == 1
    held = [a for a in harness.sim.state.appointments.values() if a.status == "RESERVED"]
    assert [(a.start, a.resource_id) for a in held] == [(start, seed.ANNA)]


async def test_lease_expiration_is_capped_by_the_upstream_hold(harness: Harness) -> None:
    far = lease_message(at(1, 10), reference="r-far")
    far.lease_expiration_time.FromDatetime(harness.clock.now() + dt.timedelta(hours=2))
    lease = (await harness.stub.CreateLease(pb.CreateLeaseRequest(lease=far))).lease
    # 15-minute upstream hold less the 60-second safety margin.
    assert lease.lease_expiration_time.ToDatetime(dt.timezone.utc) == harness.clock.now() + dt.timedelta(minutes=14)

    unset = await harness.lease(at(1, 11), reference="r-unset")
    assert unset.lease_expiration_time.ToDatetime(dt.timezone.utc) == harness.clock.now() + dt.timedelta(minutes=14)


async def test_same_client_reference_returns_the_same_lease_without_a_second_hold(harness: Harness) -> None:
    first = await harness.lease(at(1, 10), reference="r-same")
    again = await harness.lease(at(1, 10), reference="r-same")
    assert again == first
    assert harness.upstream_calls("POST", "/reservations") == 1


async def test_a_replay_asks_the_upstream_nothing_with_the_catalogue_warm_or_cold(harness: Harness) -> None:
    """A known reference is found by its refused insert when the catalogue is at hand, and
    looked up first when checking the slot would fetch the catalogue."""
    first = await harness.lease(at(1, 10), reference="r-quiet")
    before = len(harness.sim.requests)
    assert await harness.lease(at(1, 10), reference="r-quiet") == first
    harness.bridge.core.context.catalogue._cache.clear()  # as after a restart, or five minutes on
    assert await harness.lease(at(1, 10), reference="r-quiet") == first
    assert harness.sim.requests[before:] == []


async def test_a_replay_is_answered_though_its_slot_no_longer_passes_the_catalogue(harness: Harness, monkeypatch) -> None:
    """The slot is checked before the reference is looked up; a check that fails sends the
    call to the look-up, so a replay still gets its lease, and a new reference the error."""
    first = await harness.lease(at(1, 10), reference="r-changed")

    async def withdrawn(self: Catalogue, slot: object, target: object) -> object:
        raise invalid("service_id", "is no longer offered")

    monkeypatch.setattr(Catalogue, "offering", withdrawn)
    assert await harness.lease(at(1, 10), reference="r-changed") == first
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(at(1, 11), reference="r-new")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("lease.service_id "), err.value.details()
    assert harness.upstream_calls("POST", "/reservations") == 1


async def test_client_reference_reused_for_another_slot_is_refused(harness: Harness) -> None:
    await harness.lease(at(1, 10), reference="r-reuse")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(at(1, 11), reference="r-reuse")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("lease.client_reference "), err.value.details()
    assert harness.upstream_calls("POST", "/reservations") == 1


async def test_taken_slot_is_resource_exhausted(harness: Harness) -> None:
    await harness.lease(at(1, 10), reference="a", service=seed.PASSPORT, minutes=15)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(at(1, 10), reference="b", service=seed.PASSPORT, minutes=15)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert harness.upstream_calls("POST", "/reservations") == 2  # one hold asked for per lease
    # A failed attempt leaves nothing behind: the same reference is processed afresh later.
    assert await harness.bridge.store.get_lease_by_reference("b") is None


async def test_many_concurrent_leases_on_one_slot_give_exactly_one(harness: Harness) -> None:
    start = at(1, 10)
    results = await asyncio.gather(
        *(harness.lease(start, reference=f"race-{i}", service=seed.PASSPORT, minutes=15) for i in range(20)),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, pb.Lease)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1
    assert len(lost) == 19
    assert {e.code() for e in lost} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert harness.upstream_calls("POST", "/reservations") == 20  # one hold asked for per lease


async def test_concurrent_replays_of_one_reference_hold_once(harness: Harness) -> None:
    leases = await asyncio.gather(*(harness.lease(at(1, 10), reference="r-dup") for _ in range(10)))
    assert len({lease.lease_id for lease in leases}) == 1
    assert harness.upstream_calls("POST", "/reservations") == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m.ClearField("merchant_id"), "lease.merchant_id"),
        (lambda m: m.ClearField("service_id"), "lease.service_id"),
        (lambda m: m.ClearField("start_time"), "lease.start_time"),
        (lambda m: m.ClearField("duration"), "lease.duration"),
        (lambda m: m.duration.FromTimedelta(dt.timedelta(0)), "lease.duration"),
        (lambda m: m.duration.FromTimedelta(dt.timedelta(days=2)), "lease.duration"),
        (lambda m: m.ClearField("client_reference"), "lease.client_reference"),
        (lambda m: setattr(m, "merchant_id", "x" * 256), "lease.merchant_id"),
        (lambda m: setattr(m, "client_reference", "r" * 300), "lease.client_reference"),
        (lambda m: setattr(m, "availability_tag", "t" * 2000), "lease.availability_tag"),
        (lambda m: setattr(m.resources, "staff_id", "s" * 256), "lease.resources.staff_id"),
        (lambda m: m.start_time.FromDatetime(dt.datetime(2020, 1, 1)), "lease.start_time"),
        (lambda m: setattr(m, "merchant_id", "no-such-branch"), "lease.merchant_id"),
        (lambda m: setattr(m, "service_id", "no-such-service"), "lease.service_id"),
        (lambda m: setattr(m.resources, "staff_id", seed.CARLA), "lease.resources.staff_id"),
    ],
)
async def test_bad_lease_is_invalid_argument_naming_the_field(harness: Harness, change, field: str) -> None:
    message = lease_message(at(1, 10), reference="r-bad")
    change(message)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.CreateLease(pb.CreateLeaseRequest(lease=message))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(field), err.value.details()
    assert harness.upstream_calls("POST", "/reservations") == 0
    assert await harness.bridge.store.get_lease_by_reference("r-bad") is None


async def test_empty_request_is_invalid_argument(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.CreateLease(pb.CreateLeaseRequest())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "lease is required"
    assert harness.upstream_calls("POST", "/reservations") == 0


async def test_a_slot_off_the_upstream_grid_is_invalid_argument(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(at(1, 10, 7), reference="r-grid")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The upstream refused the hold; the bridge cannot know the v0 field, so the upstream's
    # own naming of it (timeSlot) is what the caller sees.
    assert "400 VALIDATION_ERROR: timeSlot" in err.value.details(), err.value.details()
    assert harness.upstream_calls("POST", "/reservations") == 1
    assert await harness.bridge.store.get_lease_by_reference("r-grid") is None
