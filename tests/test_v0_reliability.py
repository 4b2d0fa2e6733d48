"""Unknown outcomes, an upstream that is down or hangs, restarts: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge.simulator import seed

from .harness import Harness, at


def statuses(harness: Harness) -> list[str]:
    return sorted(a.status for a in harness.sim.state.appointments.values())


async def test_confirm_lost_after_it_landed_is_reconciled_not_resent(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    harness.sim.faults.add(method="PUT", path=r"^/reservations/", action="drop_after")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE

    booking = await harness.book(lease.lease_id)
    assert booking.status == pb.CONFIRMED
    assert statuses(harness) == ["CONFIRMED"]
    assert harness.upstream_calls("PUT", "/reservations/") == 1  # looked up, never resent
    assert harness.upstream_calls("GET", "/appointments/") == 1
    assert await harness.book(lease.lease_id) == booking
    # The replay asked the upstream nothing more.
    assert (harness.upstream_calls("PUT", "/reservations/"), harness.upstream_calls("GET", "/appointments/")) == (1, 1)


async def test_confirm_lost_before_it_landed_is_sent_again_after_a_look(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    harness.sim.faults.add(method="PUT", path=r"^/reservations/", action="drop_before")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE

    booking = await harness.book(lease.lease_id)
    assert booking.status == pb.CONFIRMED
    assert statuses(harness) == ["CONFIRMED"]
    assert harness.upstream_calls("GET", "/appointments/") == 1
    assert harness.upstream_calls("PUT", "/reservations/") == 2  # the dropped confirm, then exactly one more


async def test_confirm_answered_5xx_is_not_resent_blindly(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    harness.sim.faults.add(method="PUT", path=r"^/reservations/", action="status", status=503)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert harness.upstream_calls("PUT", "/reservations/") == 1


async def test_cancel_lost_after_it_landed_is_reconciled(harness: Harness) -> None:
    booking = await harness.book((await harness.lease(at(1, 10))).lease_id)
    harness.sim.faults.add(method="DELETE", path=r"^/appointments/", action="drop_after")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.cancel(booking.booking_id)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE

    cancelled = await harness.cancel(booking.booking_id)
    assert cancelled.status == pb.CANCELED
    assert harness.upstream_calls("DELETE", "/appointments/") == 1  # looked up, never resent
    assert harness.upstream_calls("GET", "/appointments/") == 1


async def test_reschedule_lost_after_it_landed_is_reconciled(harness: Harness) -> None:
    booking = await harness.book((await harness.lease(at(1, 10))).lease_id)
    harness.sim.faults.add(method="PUT", path=r"/reschedule$", action="drop_after")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.reschedule(booking.booking_id, at(1, 15))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE

    moved = await harness.reschedule(booking.booking_id, at(1, 15))
    assert moved.start_time.ToDatetime(dt.timezone.utc) == at(1, 15)
    assert harness.upstream_calls("PUT", "/appointments/") == 1  # looked up, never resent
    assert harness.upstream_calls("GET", "/appointments/") == 1
    assert harness.upstream_calls("POST", "/reservations") == 2  # the lease's hold and the new slot's
    assert statuses(harness) == ["CONFIRMED"]


async def test_reschedule_lost_before_it_landed_is_done_once(harness: Harness) -> None:
    booking = await harness.book((await harness.lease(at(1, 10))).lease_id)
    harness.sim.faults.add(method="PUT", path=r"/reschedule$", action="drop_before")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.reschedule(booking.booking_id, at(1, 15))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE

    moved = await harness.reschedule(booking.booking_id, at(1, 15))
    assert moved.start_time.ToDatetime(dt.timezone.utc) == at(1, 15)
    # The first attempt's hold was given back; the second one was consumed.
    assert statuses(harness) == ["CONFIRMED"]
    assert harness.upstream_calls("PUT", "/appointments/") == 2  # the dropped move, then exactly one more
    assert harness.upstream_calls("GET", "/appointments/") == 1
    assert harness.upstream_calls("POST", "/reservations") == 3  # the lease's hold, one per attempt
    assert harness.upstream_calls("DELETE", "/reservations/reservations/") == 1


async def test_hold_lost_in_flight_is_reconciled_from_the_slot_list(harness: Harness) -> None:
    harness.sim.faults.add(method="POST", path=r"^/reservations$", action="drop_before")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(at(1, 10))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # The slot is still offered, so the hold never landed: holding again is safe.
    lease = await harness.lease(at(1, 10))
    assert lease.lease_id
    assert statuses(harness) == ["RESERVED"]
    assert harness.upstream_calls("POST", "/reservations") == 2  # the dropped hold, then exactly one more
    assert harness.upstream_calls("GET", f"/services/{seed.HAIRCUT}/timeslots") == 1


async def test_upstream_down_is_unavailable_inside_the_deadline(harness: Harness) -> None:
    await harness.lease(at(1, 9), reference="warm")  # token and catalogue cached
    await harness.sim.stop()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(at(1, 10), timeout=2.0)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_hanging_upstream_is_unavailable_before_the_callers_deadline(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    harness.sim.faults.add(method="PUT", path=r"^/reservations/", action="hang")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id, timeout=1.0)
    # UNAVAILABLE, not DEADLINE_EXCEEDED: the bridge answered before the caller gave up.
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    harness.sim.faults.clear()
    assert (await harness.book(lease.lease_id)).status == pb.CONFIRMED
    assert statuses(harness) == ["CONFIRMED"]
    assert harness.upstream_calls("PUT", "/reservations/") == 2  # the hung confirm, then exactly one more


async def test_restart_loses_nothing_and_replays_answer_as_before(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    booking = await harness.book(lease.lease_id)
    moved = await harness.reschedule(booking.booking_id, at(1, 12))
    before = len(harness.sim.requests)

    await harness.restart()

    assert await harness.lease(at(1, 10)) == lease
    assert await harness.book(lease.lease_id) == moved
    assert await harness.reschedule(booking.booking_id, at(1, 12)) == moved
    # Replays are answered from the store: no upstream request at all. (Counted by position,
    # not compared by value: a resent confirm would equal the first one.)
    assert harness.sim.requests[before:] == []


async def test_in_flight_call_finishes_during_graceful_shutdown(harness: Harness, monkeypatch) -> None:
    lease = await harness.lease(at(1, 10))
    upstream = harness.bridge.upstream
    real_confirm = upstream.confirm
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_confirm(*args, **kwargs):
        entered.set()
        await release.wait()
        return await real_confirm(*args, **kwargs)

    monkeypatch.setattr(upstream, "confirm", slow_confirm)
    call = asyncio.ensure_future(harness.book(lease.lease_id))
    await entered.wait()
    stopping = asyncio.ensure_future(harness.server.stop(grace=5.0))
    while not stopping.done() and serving(harness):
        await asyncio.sleep(0)
    assert not serving(harness)  # health flipped before the call finished
    release.set()
    booking = await call
    assert booking.status == pb.CONFIRMED
    await stopping


def serving(harness: Harness) -> bool:
    from grpc_health.v1 import health_pb2

    statuses = harness.server.health._server_status  # the servicer's own table
    return statuses.get("") == health_pb2.HealthCheckResponse.SERVING


async def test_hold_that_landed_unseen_makes_the_retry_say_unavailable_not_hold_twice(harness: Harness) -> None:
    # Passport photos in Stockholm have one resource: the lost hold fills the slot.
    harness.sim.faults.add(method="POST", path=r"^/reservations$", action="drop_after")
    with pytest.raises(grpc.aio.AioRpcError) as lost:
        await harness.lease(at(1, 10), service=seed.PASSPORT, minutes=15)
    assert lost.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(at(1, 10), service=seed.PASSPORT, minutes=15)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert harness.upstream_calls("POST", "/reservations") == 1
    assert harness.upstream_calls("GET", f"/services/{seed.PASSPORT}/timeslots") == 1  # the one look at the slot
    assert await harness.bridge.store.get_lease_by_reference("ref-1") is None
