"""``booking-bridge demo``: the simulator and the bridge on loopback, driven for real.

Plays Actions Center twice: over v0 gRPC (lease, replay, a competing lease, booking,
reschedule, cancel) and over v3 REST (availability, booking in one call, its replay,
status, reschedule, listing, cancel) — printing each step and what the upstream saw.
Then keeps a fake Google in step: a booking is cancelled at the branch, and the booking
notification and the availability update that Google receives are printed.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import tempfile

import grpc
import httpx

from . import config as config_mod
from ._proto import booking_v0_pb2 as pb
from ._proto import booking_v0_pb2_grpc as pb_grpc
from .app import Bridge
from .server import BridgeServer
from .simulator import FakeGoogle, Simulator, seed

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
    "BRIDGE_REST_PASSWORD": "demo-rest-password",
}
_REST_USER = "google"


async def run() -> int:
    sim = Simulator()
    await sim.start()
    google = FakeGoogle()
    await google.start()
    with tempfile.TemporaryDirectory(prefix="booking-bridge-demo-") as tmp:
        config = _config(sim, google, pathlib.Path(tmp))
        environ = {**_ENV, "GOOGLE_APPLICATION_CREDENTIALS": str(google.write_key_file(pathlib.Path(tmp) / "key.json"))}
        bridge = Bridge.open(config, environ=environ)
        server = BridgeServer.from_config(bridge.core, config, _ENV)
        port = await server.start()
        rest_url = f"http://127.0.0.1:{server.rest_port}/v3"
        print(f"simulator  {sim.base_url}   (demo tenant {seed.DEMO_TENANT_ID})")
        print(f"google     {google.base_url}   (a fake Maps Booking API, partner {google.partner_id})")
        print(f"bridge     grpc://127.0.0.1:{port}   {rest_url}   store {config.store.path}")
        shown = _Upstream(sim)
        try:
            print("\n== v0 gRPC ==")
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await _v0(pb_grpc.BookingServiceStub(channel), shown)
            print("\n== v3 REST ==")
            auth = (_REST_USER, _ENV["BRIDGE_REST_PASSWORD"])
            async with httpx.AsyncClient(base_url=rest_url, auth=auth, timeout=5) as client:
                await _v3(client, shown)
                print("\n== keeping Google in step ==")
                await _in_step(client, bridge, sim, google, shown)
            print("\n== the daily feeds ==")
            await _feeds(config, environ, pathlib.Path(tmp) / "feeds", shown)
        except (grpc.aio.AioRpcError, _Unexpected) as exc:
            detail = f"{exc.code().name}: {exc.details()}" if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
            print(f"\nFAILED: {detail}")
            return 1
        finally:
            await server.stop(grace=1.0)
            await bridge.aclose()
            await google.stop()
            await sim.stop()
    print("\ndemo finished: every step answered as Actions Center expects.")
    return 0


def _config(sim: Simulator, google: FakeGoogle, tmp: pathlib.Path) -> config_mod.Config:
    (tmp / "mappings").mkdir()
    (tmp / "mappings" / "demo.toml").write_text(_MAPPING, encoding="utf-8")
    return config_mod.from_dict(
        {
            "server": {
                "grpc_listen": "127.0.0.1:0",
                "rest_listen": "127.0.0.1:0",
                "rest_auth": {"username": _REST_USER, "password_env": "BRIDGE_REST_PASSWORD"},
                # The demo prints the upstream requests each step caused: no background probe.
                "health_follows_upstream": False,
            },
            "upstream": {
                "base_url": sim.base_url,
                "token_url": sim.token_url,
                "account": seed.DEMO_ACCOUNT,
                "tenant_id": seed.DEMO_TENANT_ID,
            },
            "store": {"path": str(tmp / "bridge.sqlite3")},
            "booking": {"mappings_dir": str(tmp / "mappings"), "default_time_zone": "Europe/Stockholm"},
            # The demo runs the inventory rounds itself, one by one, with nothing to coalesce.
            "google": {"partner_id": google.partner_id, "api_base_url": google.base_url,
                       "availability_coalesce_seconds": 0.0},
        }
    )


def _tomorrow_at(hour: int) -> dt.datetime:
    zone = seed.zone(seed.STOCKHOLM)
    tomorrow = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(hour, 0), tzinfo=zone)


async def _v0(stub: pb_grpc.BookingServiceStub, shown: _Upstream) -> None:
    zone = seed.zone(seed.STOCKHOLM)
    start = _tomorrow_at(10)
    later = start + dt.timedelta(hours=2)

    lease = pb.Lease(merchant_id=MERCHANT, service_id=SERVICE, client_reference="demo-lease-1")
    lease.start_time.FromDatetime(start)
    lease.duration.FromTimedelta(dt.timedelta(minutes=30))
    lease.resources.staff_id = STAFF

    _step(1, f"CreateLease  {MERCHANT} / {SERVICE} with {STAFF}, {start:%a %d %b %H:%M} {zone.key}, 30 min")
    got = (await stub.CreateLease(pb.CreateLeaseRequest(lease=lease), timeout=5)).lease
    _said(f"lease {got.lease_id}, held until {_hhmm(got.lease_expiration_time, zone)} {zone.key}")
    shown()

    _step(2, "CreateLease  again with the same client_reference (a retry)")
    again = (await stub.CreateLease(pb.CreateLeaseRequest(lease=lease), timeout=5)).lease
    _said(f"same lease: {again == got}; no second hold upstream")
    shown()

    _step(3, "CreateLease  the same slot with the same staff, for someone else")
    rival = pb.Lease()
    rival.CopyFrom(lease)
    rival.client_reference = "demo-lease-2"
    try:
        await stub.CreateLease(pb.CreateLeaseRequest(lease=rival), timeout=5)
        _said("unexpectedly granted")
    except grpc.aio.AioRpcError as exc:
        _said(f"{exc.code().name}: {exc.details()}")
    shown()

    _step(4, "CreateBooking  for the lease, with the customer's details")
    client = pb.ClientInformation(
        given_name="Ada", family_name="Lovelace", email="ada@example.com", telephone="+46 70 123 45 67"
    )
    request = pb.CreateBookingRequest(lease_ref=pb.LeaseReference(lease_id=got.lease_id), client_information=client)
    booking = (await stub.CreateBooking(request, timeout=5)).booking
    _said(f"booking {booking.booking_id}: {pb.BookingStatus.Name(booking.status)} at {_hhmm(booking.start_time, zone)}")
    shown()

    _step(5, f"UpdateBooking  reschedule to {later:%H:%M}")
    moved = pb.Booking(booking_id=booking.booking_id)
    moved.start_time.FromDatetime(later)
    moved.duration.FromTimedelta(dt.timedelta(minutes=30))
    update = pb.UpdateBookingRequest(booking=moved)
    update.update_mask.paths.extend(["start_time", "duration"])
    result = (await stub.UpdateBooking(update, timeout=5)).booking
    _said(f"booking {result.booking_id}: {pb.BookingStatus.Name(result.status)} at {_hhmm(result.start_time, zone)}")
    shown()

    _step(6, "UpdateBooking  cancel")
    cancel = pb.UpdateBookingRequest(booking=pb.Booking(booking_id=booking.booking_id, status=pb.CANCELED))
    cancel.update_mask.paths.append("status")
    result = (await stub.UpdateBooking(cancel, timeout=5)).booking
    _said(f"booking {result.booking_id}: {pb.BookingStatus.Name(result.status)}")
    shown()


async def _v3(client: httpx.AsyncClient, shown: _Upstream) -> None:
    start, later = _tomorrow_at(14), _tomorrow_at(15)
    slot = {"merchant_id": MERCHANT, "service_id": SERVICE, "start_sec": str(int(start.timestamp())), "duration_sec": "1800"}
    user = {"user_id": "1111111111111111111", "given_name": "Grace", "family_name": "Hopper", "email": "grace@example.com"}

    _step(7, "GET /v3/HealthCheck")
    _said(str((await client.get("/HealthCheck")).status_code))
    shown()

    _step(8, f"POST /v3/BatchAvailabilityLookup  {start:%H:%M} and {later:%H:%M}")
    times = [{"service_id": SERVICE, "start_sec": str(int(t.timestamp())), "duration_sec": "1800"} for t in (start, later)]
    answer = await _post(client, "BatchAvailabilityLookup", {"merchant_id": MERCHANT, "slot_time": times})
    _said(", ".join(str(a["available"]).lower() for a in answer["slot_time_availability"]))
    shown()

    _step(9, "POST /v3/CreateBooking  without a lease: hold and confirm in one call")
    request = {"idempotency_token": "demo-token-1", "slot": slot, "user_information": user}
    booking = (await _post(client, "CreateBooking", request))["booking"]
    _said(f"booking {booking['booking_id']}: {booking['status']}")
    shown()

    _step(10, "POST /v3/CreateBooking  the same request again (Google retries)")
    first = await client.post("/CreateBooking", json=request)
    again = await client.post("/CreateBooking", json=request)
    _said(f"byte-identical answer: {first.content == again.content}; nothing sent upstream")
    shown()

    _step(11, f"POST /v3/UpdateBooking  reschedule to {later:%H:%M}")
    moved = {"booking_id": booking["booking_id"], "slot": {"start_sec": str(int(later.timestamp())), "duration_sec": "1800"}}
    result = (await _post(client, "UpdateBooking", {"booking": moved}))["booking"]
    _said(f"{result['status']} at {dt.datetime.fromtimestamp(int(result['slot']['start_sec']), later.tzinfo):%H:%M}")
    shown()

    _step(12, "POST /v3/ListBookings and /v3/GetBookingStatus")
    listed = await _post(client, "ListBookings", {"user_id": user["user_id"]})
    status = await _post(client, "GetBookingStatus", {"booking_id": booking["booking_id"]})
    _said(f"{len(listed['bookings'])} booking(s) for the user; status {status['booking_status']}")
    shown()

    _step(13, "POST /v3/UpdateBooking  cancel")
    result = (await _post(client, "UpdateBooking", {"booking": {"booking_id": booking["booking_id"], "status": "CANCELED"}}))
    _said(result["booking"]["status"])
    shown()


async def _in_step(client: httpx.AsyncClient, bridge: Bridge, sim: Simulator, google: FakeGoogle,
                   shown: _Upstream) -> None:
    assert bridge.inventory is not None
    await bridge.inventory.tick()  # what the flows above changed goes out first
    replaced = len(google.replacements)
    start = _tomorrow_at(11)
    slot = {"merchant_id": MERCHANT, "service_id": SERVICE, "start_sec": str(int(start.timestamp())), "duration_sec": "1800"}
    user = {"user_id": "2222222222222222222", "given_name": "Alan", "family_name": "Turing", "email": "alan@example.com"}

    _step(14, f"POST /v3/CreateBooking  {start:%H:%M}")
    booking = (await _post(client, "CreateBooking", {"idempotency_token": "demo-token-2", "slot": slot,
                                                     "user_information": user}))["booking"]
    _said(f"booking {booking['booking_id']}: {booking['status']}")
    shown()

    _step(15, "at the branch: staff cancel that appointment (Google is not told by anyone but the bridge)")
    [appointment] = [a for a in sim.state.appointments.values() if a.status == "CONFIRMED"]
    sim.state.cancel_at_branch(appointment.id)
    _said(f"appointment {appointment.id}: CANCELLED")

    _step(16, "the bridge's inventory round: read the watched bookings, send the outbox, update availability")
    await bridge.inventory.tick()
    shown()
    for note in google.notifications:
        print(f"     Google received PATCH …/bookings/{note.booking_id}?updateMask={','.join(note.mask)}")
        print(f"       {json.dumps(note.body)}")
    for replace in google.replacements[replaced:]:
        for entry in replace.entries:
            print(f"     Google received availability:replace {entry['merchantId']} / {entry['serviceId']} "
                  f"{entry['startTimeRestrict']} – {entry['endTimeRestrict']}: {len(entry.get('availability', []))} open slot(s)")
    freed = start.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    published = [s for s in google.published(MERCHANT, SERVICE) if s.start == start.astimezone(dt.timezone.utc)]
    _said(f"notifications: {len(google.notifications)}; {freed} published as open again: {bool(published)}")
    if len(google.notifications) != 1 or not published:
        raise _Unexpected("Google was not kept in step")


async def _feeds(config: config_mod.Config, environ: dict[str, str], out: pathlib.Path, shown: _Upstream) -> None:
    import io

    from .inventory.feeds.export import export

    _step(17, "booking-bridge feeds export --days 30  (merchants, services, availability)")
    done = await export(config, out, days=30, environ=environ, progress=io.StringIO())
    _said(f"{done.merchants} merchant(s), {done.services} service(s), {done.slots} open slot(s) "
          f"in {', '.join(f'{n} {kind} file(s)' for kind, n in done.shards.items())}")
    if done.sample:
        when = dt.datetime.fromtimestamp(done.sample["start_sec"], seed.zone(seed.STOCKHOLM))
        staff = done.sample.get("resources", {}).get("staff_id", "any staff")
        _said(f"e.g. {done.sample['merchant_id']} / {done.sample['service_id']} {when:%a %d %b %H:%M}, "
              f"{done.sample['duration_sec'] // 60} min, {staff}, {done.sample['spots_open']} of "
              f"{done.sample['spots_total']} spot(s) open")
    for path in done.files:
        print(f"     {path.name}")
    shown.count_only()
    if not done.slots:
        raise _Unexpected("the availability feed is empty")


class _Unexpected(Exception):
    pass


async def _post(client: httpx.AsyncClient, method: str, body: dict) -> dict:
    response = await client.post(f"/{method}", json=body)
    answer = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code != 200 or "booking_failure" in answer:
        raise _Unexpected(f"{method}: HTTP {response.status_code} {response.text}")
    return answer


class _Upstream:
    """Prints the upstream requests made since it last printed."""

    def __init__(self, sim: Simulator):
        self._sim = sim
        self._seen = 0

    def __call__(self) -> None:
        new = self._sim.requests[self._seen :]
        self._seen = len(self._sim.requests)
        calls = ", ".join(f"{r.method} {r.path}" for r in new) or "none"
        print(f"     upstream: {calls}")

    def count_only(self) -> None:
        new = self._sim.requests[self._seen :]
        self._seen = len(self._sim.requests)
        kinds: dict[str, int] = {}
        for r in new:
            kind = f"{r.method} {r.path.rsplit('/', 1)[-1] if r.path.endswith('timeslots') else r.path}"
            kinds[kind] = kinds.get(kind, 0) + 1
        print(f"     upstream: {len(new)} call(s): " + ", ".join(f"{n}× {k}" for k, n in sorted(kinds.items())))


def _step(n: int, text: str) -> None:
    print(f"{n}. {text}")


def _said(text: str) -> None:
    print(f"     → {text}")


def _hhmm(ts: object, zone: dt.tzinfo) -> str:
    return ts.ToDatetime(dt.timezone.utc).astimezone(zone).strftime("%H:%M")  # type: ignore[attr-defined]
