"""The end-to-end harness: the simulator over real HTTP, the bridge over real gRPC, a real
SQLite file, and one ManualClock shared by all of them so expiry needs no sleeping."""

from __future__ import annotations

import datetime as dt
import pathlib
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx

from bridge import config as config_mod
from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v0_pb2_grpc as pb_grpc
from bridge._proto import booking_v2_pb2_grpc as v2_grpc
from bridge.app import Bridge
from bridge.clock import ManualClock
from bridge.server import BridgeServer
from bridge.simulator import Simulator, seed

# A Monday, 08:00 in Stockholm: the branch opens at 09:00, so today still has slots.
T0 = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone.utc)
STOCKHOLM_TZ = seed.zone(seed.STOCKHOLM)

IDENTITY_KEY = "test-identity-key-0123456789"
ENV = {
    "QMATIC_CLIENT_ID": seed.DEMO_CLIENT_ID,
    "QMATIC_CLIENT_SECRET": seed.DEMO_CLIENT_SECRET,
    "BRIDGE_IDENTITY_KEY": IDENTITY_KEY,
    "BRIDGE_REST_PASSWORD": "rest-password-now",
    "BRIDGE_REST_PASSWORD_NEXT": "rest-password-next",
}
REST_USER, REST_NEXT_USER = "google", "google-next"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A Stockholm wall-clock time ``day`` days after T0's date, as UTC."""
    local = dt.datetime.combine(T0.astimezone(STOCKHOLM_TZ).date() + dt.timedelta(days=day), dt.time(hour, minute))
    return local.replace(tzinfo=STOCKHOLM_TZ).astimezone(dt.timezone.utc)


def bridge_config(
    sim: Simulator,
    store_path: pathlib.Path,
    booking: dict[str, Any] | None = None,
    server: dict[str, Any] | None = None,
    google: dict[str, Any] | None = None,
    **upstream: Any,
) -> config_mod.Config:
    return config_mod.from_dict(
        {
            **({"google": google} if google is not None else {}),
            "server": {
                "grpc_listen": "127.0.0.1:0",
                "shutdown_grace_seconds": 5.0,
                # Off here: its background probe would add upstream requests to tests that
                # count them exactly. tests/test_observe_health.py turns it on.
                "health_follows_upstream": False,
                "rest_listen": "127.0.0.1:0",
                "rest_auth": {
                    "username": REST_USER,
                    "password_env": "BRIDGE_REST_PASSWORD",
                    "next_username": REST_NEXT_USER,
                    "next_password_env": "BRIDGE_REST_PASSWORD_NEXT",
                },
                **(server or {}),
            },
            "upstream": {
                "base_url": sim.base_url,
                "token_url": sim.token_url,
                "account": seed.DEMO_ACCOUNT,
                "tenant_id": seed.DEMO_TENANT_ID,
                "connect_timeout": 1.0,
                "read_timeout": 3.0,
                **upstream,
            },
            "store": {"path": str(store_path)},
            "booking": {"default_time_zone": "Europe/Stockholm", **(booking or {})},
        }
    )


@dataclass
class Harness:
    """A running bridge; ``restart()`` replaces it with a fresh one on the same store file."""

    sim: Simulator
    clock: ManualClock
    config: config_mod.Config
    bridge: Bridge = field(init=False)
    server: BridgeServer = field(init=False)
    channel: grpc.aio.Channel = field(init=False)
    environ: dict[str, str] = field(default_factory=lambda: dict(ENV))
    google_options: dict[str, Any] = field(default_factory=dict)
    stub: pb_grpc.BookingServiceStub = field(init=False)
    v2: v2_grpc.BookingServiceStub = field(init=False)
    rest: httpx.AsyncClient = field(init=False)

    async def start(self) -> None:
        self.bridge = Bridge.open(self.config, environ=self.environ, clock=self.clock,
                                  google_options=self.google_options)
        self.server = BridgeServer.from_config(self.bridge.core, self.config, self.environ)
        port = await self.server.start()
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.stub = pb_grpc.BookingServiceStub(self.channel)
        self.v2 = v2_grpc.BookingServiceStub(self.channel)
        prefix = "/" + self.config.server.rest_path_prefix.strip("/") if self.config.server.rest_path_prefix else ""
        self.rest = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.server.rest_port}{prefix}/v3",
            auth=(REST_USER, ENV["BRIDGE_REST_PASSWORD"]),
            timeout=10.0,
        )

    async def stop(self) -> None:
        await self.rest.aclose()
        await self.channel.close()
        await self.server.stop(grace=1.0)
        await self.bridge.aclose()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def upstream_calls(self, method: str, path_prefix: str) -> int:
        return sum(1 for r in self.sim.requests if r.method == method and r.path.startswith(path_prefix))

    # Request builders, so tests read as the scenario they exercise.

    async def lease(self, start: dt.datetime, *, reference: str = "ref-1", service: str = seed.HAIRCUT,
                    minutes: int = 30, merchant: str = seed.STOCKHOLM, staff: str = "",
                    timeout: float = 10.0, **fields: Any) -> pb.Lease:
        response = await self.stub.CreateLease(
            pb.CreateLeaseRequest(lease=lease_message(start, reference=reference, service=service,
                                                      minutes=minutes, merchant=merchant, staff=staff, **fields)),
            timeout=timeout,
        )
        return response.lease

    async def book(self, lease_id: str, *, email: str = "ada@example.com", timeout: float = 10.0,
                   **client: Any) -> pb.Booking:
        response = await self.stub.CreateBooking(
            pb.CreateBookingRequest(lease_ref=pb.LeaseReference(lease_id=lease_id),
                                    client_information=client_message(email=email, **client)),
            timeout=timeout,
        )
        return response.booking

    async def cancel(self, booking_id: str, timeout: float = 10.0) -> pb.Booking:
        request = pb.UpdateBookingRequest(booking=pb.Booking(booking_id=booking_id, status=pb.CANCELED))
        request.update_mask.paths.append("status")
        return (await self.stub.UpdateBooking(request, timeout=timeout)).booking

    async def reschedule(self, booking_id: str, start: dt.datetime, minutes: int = 30,
                         timeout: float = 10.0) -> pb.Booking:
        booking = pb.Booking(booking_id=booking_id)
        booking.start_time.FromDatetime(start)
        booking.duration.FromTimedelta(dt.timedelta(minutes=minutes))
        request = pb.UpdateBookingRequest(booking=booking)
        request.update_mask.paths.extend(["start_time", "duration"])
        return (await self.stub.UpdateBooking(request, timeout=timeout)).booking


def lease_message(start: dt.datetime, *, reference: str = "ref-1", service: str = seed.HAIRCUT,
                  minutes: int = 30, merchant: str = seed.STOCKHOLM, staff: str = "",
                  **fields: Any) -> pb.Lease:
    lease = pb.Lease(merchant_id=merchant, service_id=service, client_reference=reference, **fields)
    lease.start_time.FromDatetime(start)
    lease.duration.FromTimedelta(dt.timedelta(minutes=minutes))
    if staff:
        lease.resources.staff_id = staff
    return lease


def client_message(*, email: str = "ada@example.com", given_name: str = "Ada",
                   family_name: str = "Lovelace", telephone: str = "+46 70-123 45 67") -> pb.ClientInformation:
    return pb.ClientInformation(given_name=given_name, family_name=family_name, email=email, telephone=telephone)
