"""The gRPC server around the front: health, reflection, hostile input, logs."""

from __future__ import annotations

import logging

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from bridge._proto import booking_v0_pb2 as pb

from .harness import Harness, at, lease_message

SERVICE = "ext.maps.booking.partner.v0.BookingService"


@pytest.mark.parametrize("name", ["", SERVICE])
async def test_health_is_serving(harness: Harness, name: str) -> None:
    stub = health_pb2_grpc.HealthStub(harness.channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=name))
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_booking_service(harness: Harness) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(harness.channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = set()
    async for response in responses:
        names |= {s.name for s in response.list_services_response.service}
    assert SERVICE in names
    assert "grpc.health.v1.Health" in names


async def test_malformed_protobuf_is_rejected_and_the_server_keeps_serving(harness: Harness) -> None:
    raw = harness.channel.unary_unary(f"/{SERVICE}/CreateLease", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await raw(b"\x0a\xff\xff\xff\xff\x0f garbage")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "request is not a valid protobuf message"
    assert harness.sim.requests == []  # refused before anything reached the upstream
    lease = await harness.lease(at(1, 10))
    assert lease.lease_id


async def test_oversized_request_is_refused_by_grpc_and_the_server_keeps_serving(harness: Harness) -> None:
    huge = lease_message(at(1, 10), availability_tag="t" * 200_000)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.CreateLease(pb.CreateLeaseRequest(lease=huge))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert harness.sim.requests == []  # refused by gRPC itself, before the front
    assert (await harness.lease(at(1, 10))).lease_id


async def test_one_log_line_per_call(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    # That no line carries a secret or the customer is checked for every test, this one
    # included, by the autouse fixture in tests/conftest.py (rules in tests/logcheck.py).
    caplog.set_level(logging.DEBUG)
    lease = await harness.lease(at(1, 10))
    booking = await harness.book(lease.lease_id)
    await harness.cancel(booking.booking_id)

    calls = [r for r in caplog.records if r.name == "bridge.calls"]
    assert [(r.method.rsplit("/", 1)[1], r.status) for r in calls] == [
        ("CreateLease", "OK"), ("CreateBooking", "OK"), ("UpdateBooking", "OK")
    ]
    assert all(isinstance(r.latency_ms, float) for r in calls)


async def test_the_token_is_fetched_once_for_a_whole_flow(harness: Harness) -> None:
    booking = await harness.book((await harness.lease(at(1, 10))).lease_id)
    await harness.reschedule(booking.booking_id, at(1, 13))
    await harness.cancel(booking.booking_id)
    assert harness.upstream_calls("POST", "/oauth2/token") == 1


async def test_a_revoked_token_is_renewed_once_and_the_call_goes_through(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    harness.sim.revoke_tokens()
    booking = await harness.book(lease.lease_id)
    assert booking.status == pb.CONFIRMED
    assert harness.upstream_calls("POST", "/oauth2/token") == 2
    assert harness.upstream_calls("PUT", "/reservations/") == 2  # refused with 401, then accepted

