"""The bridge over real gRPC with its upstream served from a cassette: no simulator, no network.

The bridge is configured with the cassette's placeholder URLs and runs on a manual clock
set to when the cassette was recorded, so the recorded slots are still in the future.
Merchant and service ids map by identity onto the recorded branch and service.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from dataclasses import dataclass, field
from typing import Any

import grpc

from bridge import config as config_mod
from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v0_pb2_grpc as pb_grpc
from bridge.app import Bridge
from bridge.cassette.replay import Replay
from bridge.clock import ManualClock
from bridge.server import BridgeServer
from bridge.upstream import QmaticClient

from .harness import client_message, lease_message

# Deliberately not the recording's: placeholders bind whatever values the replay sends.
TENANT = "replay-tenant"
ENV = {
    "QMATIC_CLIENT_ID": "replay-client",
    "QMATIC_CLIENT_SECRET": "replay-secret",
    "BRIDGE_IDENTITY_KEY": "replay-identity-key-0123456789",
}


@dataclass(frozen=True)
class RecordedSlot:
    start: dt.datetime
    duration: dt.timedelta


def config(replay: Replay, store: pathlib.Path | None = None) -> config_mod.Config:
    meta = replay.meta
    return config_mod.from_dict(
        {
            # No background health probe: a cassette replays only the exchanges it recorded.
            "server": {"grpc_listen": "127.0.0.1:0", "shutdown_grace_seconds": 1.0, "health_follows_upstream": False},
            "upstream": {
                "base_url": meta.base_url,
                "token_url": meta.token_url,
                "account": "replay",
                "tenant_id": TENANT,
            },
            "store": {"path": str(store or "unused.sqlite3")},
            "booking": {"default_time_zone": meta.offering["time_zone"]},
        }
    )


def slots(replay: Replay) -> list[RecordedSlot]:
    found = []
    for s in replay.meta.slots:
        start, end = dt.datetime.fromisoformat(s["start"]), dt.datetime.fromisoformat(s["end"])
        found.append(RecordedSlot(start, end - start))
    return found


def upstream_client(replay: Replay) -> QmaticClient:
    """The bridge's upstream client alone, for the flows with no Actions Center operation."""
    cfg = config(replay)
    return QmaticClient(
        cfg.upstream,
        client_id=ENV["QMATIC_CLIENT_ID"],
        client_secret=ENV["QMATIC_CLIENT_SECRET"],
        transport=replay.transport,
    )


@dataclass
class ReplayedBridge:
    replay: Replay
    store: pathlib.Path
    clock: ManualClock = field(init=False)
    bridge: Bridge = field(init=False)
    server: BridgeServer = field(init=False)
    channel: grpc.aio.Channel = field(init=False)
    stub: pb_grpc.BookingServiceStub = field(init=False)

    async def start(self) -> None:
        cfg = config(self.replay, self.store)
        self.clock = ManualClock(self.replay.meta.recorded_at)
        self.bridge = Bridge.open(cfg, environ=ENV, clock=self.clock, transport=self.replay.transport)
        self.server = BridgeServer(self.bridge.core, cfg.server)
        port = await self.server.start()
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.stub = pb_grpc.BookingServiceStub(self.channel)

    async def stop(self) -> None:
        await self.channel.close()
        await self.server.stop(grace=1.0)
        await self.bridge.aclose()

    @property
    def merchant(self) -> str:
        return self.replay.meta.offering["branch_id"]

    @property
    def service(self) -> str:
        return self.replay.meta.offering["upstream_service_id"]

    async def lease(self, slot: RecordedSlot, reference: str) -> pb.Lease:
        minutes = int(slot.duration.total_seconds() // 60)
        message = lease_message(
            slot.start, reference=reference, service=self.service, merchant=self.merchant, minutes=minutes
        )
        return (await self.stub.CreateLease(pb.CreateLeaseRequest(lease=message), timeout=10)).lease

    async def book(self, lease_id: str, **client: Any) -> pb.Booking:
        request = pb.CreateBookingRequest(
            lease_ref=pb.LeaseReference(lease_id=lease_id), client_information=client_message(**client)
        )
        return (await self.stub.CreateBooking(request, timeout=10)).booking

    async def cancel(self, booking_id: str) -> pb.Booking:
        request = pb.UpdateBookingRequest(booking=pb.Booking(booking_id=booking_id, status=pb.CANCELED))
        request.update_mask.paths.append("status")
        return (await self.stub.UpdateBooking(request, timeout=10)).booking

    async def reschedule(self, booking_id: str, slot: RecordedSlot) -> pb.Booking:
        booking = pb.Booking(booking_id=booking_id)
        booking.start_time.FromDatetime(slot.start)
        booking.duration.FromTimedelta(slot.duration)
        request = pb.UpdateBookingRequest(booking=booking)
        request.update_mask.paths.extend(["start_time", "duration"])
        return (await self.stub.UpdateBooking(request, timeout=10)).booking
