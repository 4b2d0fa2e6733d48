"""Server reflection answers in v1, which grpcurl and current clients ask for first, and in
v1alpha, for older ones; and the console script says its version."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha
from grpc_reflection.v1alpha import reflection_pb2_grpc as v1alpha_grpc

from bridge._proto import reflection_v1_pb2 as v1
from bridge._proto import reflection_v1_pb2_grpc as v1_grpc

from .harness import Harness

SERVED = {
    "ext.maps.booking.partner.v0.BookingService",
    "ext.maps.booking.partner.v2.BookingService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}


async def ask(stub: object, requests: list[object]) -> list[object]:
    async def stream():  # type: ignore[no-untyped-def]
        for request in requests:
            yield request

    return [answer async for answer in stub.ServerReflectionInfo(stream(), timeout=5)]  # type: ignore[attr-defined]


async def test_a_v1_client_lists_the_services_and_reads_their_descriptors(harness: Harness) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{harness.server.port}") as channel:
        listed, described = await ask(v1_grpc.ServerReflectionStub(channel), [
            v1.ServerReflectionRequest(list_services=""),
            v1.ServerReflectionRequest(file_containing_symbol="ext.maps.booking.partner.v2.BookingService"),
        ])
    assert isinstance(listed, v1.ServerReflectionResponse)
    assert {service.name for service in listed.list_services_response.service} == SERVED
    files = [descriptor_pb2.FileDescriptorProto.FromString(raw)
             for raw in described.file_descriptor_response.file_descriptor_proto]
    services = {f"{f.package}.{s.name}": [m.name for m in s.method] for f in files for s in f.service}
    assert "CreateBooking" in services["ext.maps.booking.partner.v2.BookingService"]


async def test_reflection_describes_its_own_v1_service(harness: Harness) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{harness.server.port}") as channel:
        [answer] = await ask(v1_grpc.ServerReflectionStub(channel), [
            v1.ServerReflectionRequest(file_containing_symbol="grpc.reflection.v1.ServerReflection"),
        ])
    [raw] = answer.file_descriptor_response.file_descriptor_proto
    assert descriptor_pb2.FileDescriptorProto.FromString(raw).package == "grpc.reflection.v1"


async def test_a_v1alpha_client_still_lists_the_services(harness: Harness) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{harness.server.port}") as channel:
        [listed] = await ask(v1alpha_grpc.ServerReflectionStub(channel), [v1alpha.ServerReflectionRequest(list_services="")])
    assert {service.name for service in listed.list_services_response.service} == SERVED


def test_v1_and_v1alpha_messages_are_the_same_on_the_wire() -> None:
    # What lets the v1alpha servicer answer v1 calls: every field, name, number and type alike.
    def fields(module: object) -> dict[str, set[tuple[str, int, int]]]:
        messages = module.DESCRIPTOR.message_types_by_name  # type: ignore[attr-defined]
        return {name: {(f.name, f.number, f.type) for f in m.fields} for name, m in messages.items()}

    assert fields(v1) == fields(v1alpha)


def test_version_is_the_installed_distribution_s() -> None:
    result = subprocess.run([sys.executable, "-m", "bridge", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"booking-bridge {importlib.metadata.version('booking-bridge')}"
