"""``booking-bridge demo``: the simulator and the bridge on loopback, driven over real gRPC.

Plays Actions Center for one appointment: lease, replay, booking, a competing lease,
reschedule, cancel — printing each step and what the upstream saw.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import tempfile

import grpc

from . import config as config_mod
from ._proto import booking_v0_pb2 as pb
from ._proto import booking_v0_pb2_grpc as pb_grpc
from .app import Bridge
from .server import BridgeServer
from .simulator import Simulator, seed

MERCHANT, SERVICE, STAFF = "stockholm-central", "haircut", "anna"
_MAPPING = f"""
[merchants."{MERCHANT}"]
branch_id = "{seed.STOCKHOLM}"
time_zone = "Europe/Stockholm"
services = {{ "{SERVICE}" = "{seed.HAIRCUT}" }}
staff = {{ "{STAFF}" = "{seed.ANNA}" }}
"""
_ENV = {
    "QMATIC_CLIENT_ID": seed.DEMO_CLIENT_ID,
    "QMATIC_CLIENT_SECRET": seed.DEMO_CLIENT_SECRET,
    "BRIDGE_IDENTITY_KEY": "demo-identity-key-not-for-production",
}


async def run() -> int:
    sim = Simulator()
    await sim.start()
    with tempfile.TemporaryDirectory(prefix="booking-bridge-demo-") as tmp:
        config = _config(sim, pathlib.Path(tmp))
        bridge = Bridge.open(config, environ=_ENV)
        server = BridgeServer(bridge.core, config.server)
        port = await server.start()
        print(f"simulator  {sim.base_url}   (demo tenant {seed.DEMO_TENANT_ID})")
        print(f"bridge     grpc://127.0.0.1:{port}   store {config.store.path}\n")
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await _script(pb_grpc.BookingServiceStub(channel), sim)
        except grpc.aio.AioRpcError as exc:
            print(f"\nFAILED: {exc.code().name}: {exc.details()}")
            return 1
        finally:
            await server.stop(grace=1.0)
            await bridge.aclose()
            await sim.stop()
    print("\ndemo finished: every step answered as Actions Center expects.")
    return 0


def _config(sim: Simulator, tmp: pathlib.Path) -> config_mod.Config:
    (tmp / "mappings").mkdir()
    (tmp / "mappings" / "demo.toml").write_text(_MAPPING, encoding="utf-8")
    return config_mod.from_dict(
        {
            "server": {"grpc_listen": "127.0.0.1:0"},
            "upstream": {
                "base_url": sim.base_url,
                "token_url": sim.token_url,
                "account": seed.DEMO_ACCOUNT,
                "tenant_id": seed.DEMO_TENANT_ID,
            },
            "store": {"path": str(tmp / "bridge.sqlite3")},
            "booking": {"mappings_dir": str(tmp / "mappings"), "default_time_zone": "Europe/Stockholm"},
        }
    )


async def _script(stub: pb_grpc.BookingServiceStub, sim: Simulator) -> None:
    zone = seed.zone(seed.STOCKHOLM)
    tomorrow = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    start = dt.datetime.combine(tomorrow, dt.time(10, 0), tzinfo=zone)
    later = start + dt.timedelta(hours=2)

    lease = pb.Lease(merchant_id=MERCHANT, service_id=SERVICE, client_reference="demo-lease-1")
    lease.start_time.FromDatetime(start)
    lease.duration.FromTimedelta(dt.timedelta(minutes=30))
    lease.resources.staff_id = STAFF

    _step(1, f"CreateLease  {MERCHANT} / {SERVICE} with {STAFF}, {start:%a %d %b %H:%M} {zone.key}, 30 min")
    got = (await stub.CreateLease(pb.CreateLeaseRequest(lease=lease), timeout=5)).lease
    _said(f"lease {got.lease_id}, held until {_hhmm(got.lease_expiration_time, zone)}")
    _upstream(sim)

    _step(2, "CreateLease  again with the same client_reference (a retry)")
    again = (await stub.CreateLease(pb.CreateLeaseRequest(lease=lease), timeout=5)).lease
    _said(f"same lease: {again == got}; no second hold upstream")
    _upstream(sim)

    _step(3, "CreateLease  the same slot with the same staff, for someone else")
    rival = pb.Lease()
    rival.CopyFrom(lease)
    rival.client_reference = "demo-lease-2"
    try:
        await stub.CreateLease(pb.CreateLeaseRequest(lease=rival), timeout=5)
        _said("unexpectedly granted")
    except grpc.aio.AioRpcError as exc:
        _said(f"{exc.code().name}: {exc.details()}")
    _upstream(sim)

    _step(4, "CreateBooking  for the lease, with the customer's details")
    client = pb.ClientInformation(
        given_name="Ada", family_name="Lovelace", email="ada@example.com", telephone="+46 70 123 45 67"
    )
    request = pb.CreateBookingRequest(lease_ref=pb.LeaseReference(lease_id=got.lease_id), client_information=client)
    booking = (await stub.CreateBooking(request, timeout=5)).booking
    _said(f"booking {booking.booking_id}: {pb.BookingStatus.Name(booking.status)} at {_hhmm(booking.start_time, zone)}")
    _upstream(sim)

    _step(5, f"UpdateBooking  reschedule to {later:%H:%M}")
    moved = pb.Booking(booking_id=booking.booking_id)
    moved.start_time.FromDatetime(later)
    moved.duration.FromTimedelta(dt.timedelta(minutes=30))
    update = pb.UpdateBookingRequest(booking=moved)
    update.update_mask.paths.extend(["start_time", "duration"])
    result = (await stub.UpdateBooking(update, timeout=5)).booking
    _said(f"booking {result.booking_id}: {pb.BookingStatus.Name(result.status)} at {_hhmm(result.start_time, zone)}")
    _upstream(sim)

    _step(6, "UpdateBooking  cancel")
    cancel = pb.UpdateBookingRequest(booking=pb.Booking(booking_id=booking.booking_id, status=pb.CANCELED))
    cancel.update_mask.paths.append("status")
    result = (await stub.UpdateBooking(cancel, timeout=5)).booking
    _said(f"booking {result.booking_id}: {pb.BookingStatus.Name(result.status)}")
    _upstream(sim)


_seen = 0


def _upstream(sim: Simulator) -> None:
    """The upstream requests made since the last step."""
    global _seen
    new = sim.requests[_seen:]
    _seen = len(sim.requests)
    calls = ", ".join(f"{r.method} {r.path}" for r in new) or "none"
    print(f"     upstream: {calls}")


def _step(n: int, text: str) -> None:
    print(f"{n}. {text}")


def _said(text: str) -> None:
    print(f"     → {text}")


def _hhmm(ts: object, zone: dt.tzinfo) -> str:
    return ts.ToDatetime(dt.timezone.utc).astimezone(zone).strftime("%H:%M")  # type: ignore[attr-defined]
