"""The committed cassettes (recorded from the simulator) replayed through the real bridge.

Each test drives the v0 gRPC front — or, for flows Actions Center has no operation for,
the bridge's upstream client — so that the bridge makes exactly the recorded upstream
requests; the cassette fixture fails the test on any request it lacks or any it expected
and did not see. Re-record with ``python scripts/record_cassettes.py``.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import zoneinfo
from collections.abc import AsyncIterator

import grpc
import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge.cassette.replay import Replay
from bridge.failures import BridgeError, Cause
from bridge.upstream import AppointmentStatus, Customer

from .replay_harness import TENANT, ReplayedBridge, slots, upstream_client


@pytest.fixture
async def replayed(cassette: Replay, tmp_path: pathlib.Path) -> AsyncIterator[ReplayedBridge]:
    bridge = ReplayedBridge(cassette, tmp_path / "bridge.sqlite3")
    await bridge.start()
    yield bridge
    await bridge.stop()


@pytest.mark.cassette("hold_confirm_cancel")
async def test_hold_confirm_cancel(replayed: ReplayedBridge) -> None:
    [slot] = slots(replayed.replay)
    lease = await replayed.lease(slot, "r-1")
    booking = await replayed.book(lease.lease_id)
    assert booking.status == pb.CONFIRMED
    assert booking.start_time.ToDatetime(dt.timezone.utc) == slot.start
    assert (await replayed.cancel(booking.booking_id)).status == pb.CANCELED


@pytest.mark.cassette("reschedule")
async def test_reschedule(replayed: ReplayedBridge) -> None:
    first, second = slots(replayed.replay)
    booking = await replayed.book((await replayed.lease(first, "r-1")).lease_id)
    moved = await replayed.reschedule(booking.booking_id, second)
    assert moved.booking_id == booking.booking_id
    assert moved.start_time.ToDatetime(dt.timezone.utc) == second.start
    assert (await replayed.cancel(booking.booking_id)).status == pb.CANCELED


@pytest.mark.cassette("hold_expiry_confirm")
async def test_confirm_of_a_hold_the_upstream_expired(replayed: ReplayedBridge) -> None:
    # The recording held the bridge's clock back while the upstream's ran on: the lease is
    # still valid here, so the confirm goes out and meets the upstream's expiry answer.
    [slot] = slots(replayed.replay)
    lease = await replayed.lease(slot, "r-1")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await replayed.book(lease.lease_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "expired" in err.value.details()


@pytest.mark.cassette("slot_conflict")
async def test_slot_conflict(replayed: ReplayedBridge) -> None:
    [slot] = slots(replayed.replay)
    granted = []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        for i in range(1, 10):
            granted.append(await replayed.lease(slot, f"r-{i}"))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(granted) == replayed.replay.meta.inputs["granted_holds"]
    # The recording gave its holds back; the bridge's upstream client does the same here.
    for lease in granted:
        held = await replayed.bridge.store.get_lease(lease.lease_id)
        assert held is not None and held.hold_id
        await replayed.bridge.upstream.release(TENANT, held.hold_id)


@pytest.mark.cassette("validation_error")
async def test_validation_error(replayed: ReplayedBridge) -> None:
    [off_grid] = slots(replayed.replay)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await replayed.lease(off_grid, "r-1")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "400 VALIDATION_ERROR" in err.value.details(), err.value.details()


@pytest.mark.cassette("customer_update")
async def test_customer_update(replayed: ReplayedBridge) -> None:
    [slot] = slots(replayed.replay)
    booking = await replayed.book(
        (await replayed.lease(slot, "r-1")).lease_id, email="ada@example.com", given_name="Ada"
    )
    stored = await replayed.bridge.store.get_booking(booking.booking_id)
    assert stored is not None
    upstream = replayed.bridge.upstream
    # Same first name, e-mail and identifier as the confirm (each must bind to the same
    # placeholder as there); a new last name and phone, and a date of birth.
    update = Customer(
        personal_identifier=stored.personal_identifier,
        first_name="Ada",
        last_name="King",
        email="ada@example.com",
        phone="+44 20 7946 0000",
        date_of_birth=dt.date(1815, 12, 10),
    )
    await upstream.update_customer(TENANT, stored.appointment_id, update)
    appointment = await upstream.get_appointment(TENANT, stored.appointment_id)
    assert appointment.status is AppointmentStatus.CONFIRMED
    found = await upstream.search(TENANT, stored.personal_identifier)
    assert [a.id for a in found] == [stored.appointment_id]
    assert (await replayed.cancel(booking.booking_id)).status == pb.CANCELED


@pytest.mark.cassette("catalogue")
async def test_catalogue(cassette: Replay) -> None:
    meta = cassette.meta
    branch, service = meta.offering["branch_id"], meta.offering["upstream_service_id"]
    day = dt.date.fromisoformat(meta.inputs["day"])
    async with upstream_client(cassette) as client:
        offerings = await client.services(TENANT)
        groups = await client.groups(TENANT)
        branches = await client.branches(TENANT, service)
        free = await client.timeslots(TENANT, service_id=service, branch_id=branch, day=day)
    assert (branch, service) in {(o.branch_id, o.service_id) for o in offerings}
    assert service in {s.id for s in groups.services}
    assert any(service in {s.id for s in g.services} for g in groups.groups)
    assert branch in {b.branch_id for b in branches}
    zone = zoneinfo.ZoneInfo(meta.offering["time_zone"])
    assert free and all(start.astimezone(zone).date() == day for start, _ in free)


@pytest.mark.cassette("hold_release")
async def test_hold_release(cassette: Replay) -> None:
    [slot] = slots(cassette)
    zone = zoneinfo.ZoneInfo(cassette.meta.offering["time_zone"])
    async with upstream_client(cassette) as client:
        hold = await client.hold(
            TENANT,
            service_id=cassette.meta.offering["upstream_service_id"],
            branch_id=cassette.meta.offering["branch_id"],
            start=slot.start.astimezone(zone),
            end=(slot.start + slot.duration).astimezone(zone),
        )
        assert hold.status is AppointmentStatus.RESERVED
        await client.release(TENANT, hold.id)
        with pytest.raises(BridgeError) as err:
            await client.get_appointment(TENANT, hold.id)
    assert type(err.value) is BridgeError
    assert err.value.cause is Cause.NOT_FOUND
