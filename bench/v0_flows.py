"""Load (a): v0 gRPC flows. Each worker loops lease → booking → cancel, every flow on a
slot of its own with a client_reference and an e-mail of its own; worker w talks to
server port w mod the number of replicas. Upstream at 0 ms."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc

from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v0_pb2_grpc as pb_grpc

from . import load, slots
from .servers import Servers, SimHost
from .verify import Attempt

NAME = "v0"
TITLE = "v0 flows: lease → booking → cancel"
RPCS = ("CreateLease", "CreateBooking", "UpdateBooking cancel")
TIMEOUT = 10.0


def lease_request(slot: slots.Slot, reference: str) -> pb.CreateLeaseRequest:
    lease = pb.Lease(merchant_id=slot.branch, service_id=slot.service, client_reference=reference)
    lease.start_time.FromDatetime(slot.start)
    lease.duration.FromTimedelta(slot.end - slot.start)
    lease.resources.staff_id = slot.staff
    return pb.CreateLeaseRequest(lease=lease)


def booking_request(lease_id: str, n: int) -> pb.CreateBookingRequest:
    client = pb.ClientInformation(given_name="Ada", family_name="Lovelace", email=f"guest{n}@example.com",
                                  telephone="+46 70 123 45 67")
    return pb.CreateBookingRequest(lease_ref=pb.LeaseReference(lease_id=lease_id), client_information=client)


def cancel_request(booking_id: str) -> pb.UpdateBookingRequest:
    request = pb.UpdateBookingRequest(booking=pb.Booking(booking_id=booking_id, status=pb.CANCELED))
    request.update_mask.paths.append("status")
    return request


def flow_unit(stubs: list[pb_grpc.BookingServiceStub], numbered: Iterator[tuple[int, slots.Slot]],
              attempts: list[Attempt]) -> load.Unit:
    """One flow on the next slot of ``numbered``: lease, booking, cancel; worker w uses stubs[w mod n]."""

    async def flow(w: int, rec: load.Recorder) -> None:
        n, slot = load.take(numbered)
        stub = stubs[w % len(stubs)]
        attempt = Attempt(slot, "CONFIRMED→CANCELLED")
        attempts.append(attempt)
        async with rec.rpc("CreateLease"):
            lease = (await stub.CreateLease(lease_request(slot, f"bench-{n}"), timeout=TIMEOUT)).lease
        async with rec.rpc("CreateBooking"):
            booking = (await stub.CreateBooking(booking_request(lease.lease_id, n), timeout=TIMEOUT)).booking
        if booking.status != pb.CONFIRMED:
            rec.fail("CreateBooking", f"answered {pb.BookingStatus.Name(booking.status)}")
        async with rec.rpc("UpdateBooking cancel"):
            done = (await stub.UpdateBooking(cancel_request(booking.booking_id), timeout=TIMEOUT)).booking
        if done.status != pb.CANCELED:
            rec.fail("UpdateBooking cancel", f"answered {pb.BookingStatus.Name(done.status)}")
        attempt.answered = True

    return flow


async def run(servers: Servers, sim: SimHost, supply: list[slots.Slot], *, workers: int, seconds: float,
              attempts: list[Attempt]) -> dict[str, Any]:
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for port in servers.grpc_ports]
    flow = flow_unit([pb_grpc.BookingServiceStub(c) for c in channels], enumerate(supply), attempts)
    try:
        return await load.closed_loop(workers, flow, seconds, warmup=1, servers=servers, sim=sim)
    finally:
        for channel in channels:
            await channel.close()
