"""The floor: the least any server must do for the bench's loads. A yardstick, not a product.

    python -m bench.floor --base-url URL --token-url URL [--grpc-port 0] [--rest-port 0]

A grpc.aio server with v0 BookingService CreateLease, CreateBooking and UpdateBooking
(cancel only), and an aiohttp.web app with v3 CreateBooking (without a lease) and
BatchAvailabilityLookup, each carried out with exactly the upstream calls the bridge makes
for it (README, "How Actions Center's concepts land on Qmatic"), on the same paths and
bodies as bridge/upstream, and nothing else:

    v0 CreateLease           POST /reservations
    v0 CreateBooking         PUT /reservations/{lease id}
    v0 UpdateBooking cancel  DELETE /appointments/{booking id}
    v3 CreateBooking         POST /reservations, then PUT /reservations/{id}
    v3 BatchAvailabilityLookup  GET /services/{id}/timeslots per service, day, party
                                size and staff asked, concurrently

One shared aiohttp.ClientSession, the token fetched once and never renewed, the demo
tenant and the generated branches' time zone hard-coded. No store (the lease id and the
booking id are the simulator's appointment id), no idempotency, no retries, no deadlines,
no logging, no authentication, no checks beyond what the mapping needs; an upstream
refusal is a bare status. Never serve anything with it: it exists so the bench can say how
far the bridge is from the cost of the upstream calls themselves, measured in the same run.

Prints one JSON line with its ports once it serves; ends at SIGTERM or when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import json
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import grpc
from aiohttp import web

from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v0_pb2_grpc as pb_grpc

from . import procs

# From bridge/simulator/seed.py: the demo tenant and its credentials; every generated
# branch (and the demo's Stockholm one) keeps Stockholm's time.
TENANT = "6ab7b82a-9594-47cb-a745-c04af99cf95b"
ACCOUNT = "demo"
CLIENT_ID = "booking-bridge-demo"
CLIENT_SECRET = "demo-secret-not-for-production"
ZONE = ZoneInfo("Europe/Stockholm")
UTC = dt.timezone.utc


class Upstream:
    def __init__(self, base_url: str, token_url: str):
        self.base_url, self.token_url = base_url, token_url
        self.session: aiohttp.ClientSession | None = None
        self.headers: dict[str, str] = {}

    async def open(self) -> None:
        self.session = aiohttp.ClientSession()
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        async with self.session.post(
            self.token_url, data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}", "X-ACCOUNT": ACCOUNT},
        ) as answer:
            token = (await answer.json())["access_token"]
        self.headers = {"Authorization": f"Bearer {token}", "X-TENANT-ID": TENANT, "Accept": "application/json"}

    async def call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
                   ) -> tuple[int, Any]:
        assert self.session is not None
        async with self.session.request(method, self.base_url + path, json=body, params=params,
                                        headers=self.headers) as answer:
            data = await answer.json() if answer.status in (200, 201) else None
            return answer.status, data

    async def hold(self, branch: str, service: str, start: dt.datetime, end: dt.datetime, staff: str,
                   party: int = 1) -> tuple[int, Any]:
        body: dict[str, Any] = {
            "serviceId": service, "branchId": branch,
            "timeSlot": {"startTime": start.astimezone(ZONE).isoformat(), "endTime": end.astimezone(ZONE).isoformat()},
            "numberOfReservations": party,
        }
        if staff:
            body["requestedResourceId"] = staff
        return await self.call("POST", "/reservations", body)

    async def confirm(self, hold_id: str, email: str, given: str, family: str, phone: str, who: str) -> tuple[int, Any]:
        customer = {"personalIdentifier": hashlib.sha256(who.encode()).hexdigest()[:40],
                    "firstName": given, "lastName": family, "email": email}
        if phone:
            customer["phoneNumber"] = phone
        return await self.call("PUT", f"/reservations/{hold_id}", {"customer": customer})


def _grpc_status(status: int) -> grpc.StatusCode:
    return grpc.StatusCode.RESOURCE_EXHAUSTED if status == 409 else grpc.StatusCode.UNAVAILABLE


class V0(pb_grpc.BookingServiceServicer):
    def __init__(self, upstream: Upstream):
        self.up = upstream

    async def CreateLease(self, request: pb.CreateLeaseRequest, context: grpc.aio.ServicerContext) -> Any:
        lease = request.lease
        start = lease.start_time.ToDatetime(tzinfo=UTC)
        status, data = await self.up.hold(lease.merchant_id, lease.service_id, start,
                                          start + lease.duration.ToTimedelta(), lease.resources.staff_id)
        if status != 201:
            await context.abort(_grpc_status(status), f"hold answered {status}")
        out = pb.Lease()
        out.CopyFrom(lease)
        out.lease_id = data["appointmentId"]
        out.lease_expiration_time.FromDatetime(dt.datetime.now(UTC) + dt.timedelta(minutes=14))
        return pb.CreateLeaseResponse(lease=out)

    async def CreateBooking(self, request: pb.CreateBookingRequest, context: grpc.aio.ServicerContext) -> Any:
        c = request.client_information
        status, data = await self.up.confirm(request.lease_ref.lease_id, c.email, c.given_name, c.family_name,
                                             c.telephone, c.email.lower())
        if status != 201:
            await context.abort(_grpc_status(status), f"confirm answered {status}")
        booking = pb.Booking(booking_id=data["appointmentId"], merchant_id=data["branch"]["id"],
                             service_id=data["service"]["id"], status=pb.CONFIRMED)
        booking.client_information.CopyFrom(c)
        return pb.CreateBookingResponse(booking=booking)

    async def UpdateBooking(self, request: pb.UpdateBookingRequest, context: grpc.aio.ServicerContext) -> Any:
        if list(request.update_mask.paths) != ["status"] or request.booking.status != pb.CANCELED:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "the floor only cancels")
        booking_id = request.booking.booking_id
        status, _ = await self.up.call("DELETE", f"/appointments/{booking_id}")
        if status != 204:
            await context.abort(_grpc_status(status), f"cancel answered {status}")
        return pb.UpdateBookingResponse(booking=pb.Booking(booking_id=booking_id, status=pb.CANCELED))


class V3:
    def __init__(self, upstream: Upstream):
        self.up = upstream

    async def create_booking(self, request: web.Request) -> web.Response:
        body = await request.json()
        slot, user = body["slot"], body["user_information"]
        resources = slot.get("resources") or {}
        start = dt.datetime.fromtimestamp(int(slot["start_sec"]), UTC)
        end = start + dt.timedelta(seconds=int(slot["duration_sec"]))
        status, held = await self.up.hold(slot["merchant_id"], slot["service_id"], start, end,
                                          resources.get("staff_id", ""), resources.get("party_size") or 1)
        if status == 409:
            return web.json_response({"booking_failure": {"cause": "SLOT_UNAVAILABLE"}})
        if status != 201:
            return web.json_response({"error": {"code": 503}}, status=503)
        status, _ = await self.up.confirm(held["appointmentId"], user.get("email", ""), user.get("given_name", ""),
                                          user.get("family_name", ""), user.get("telephone", ""), user["user_id"])
        if status != 201:
            return web.json_response({"error": {"code": 503}}, status=503)
        return web.json_response({"booking": {"booking_id": held["appointmentId"], "slot": slot,
                                              "user_information": user, "status": "CONFIRMED",
                                              "payment_information": body.get("payment_information", {})}})

    async def batch_availability_lookup(self, request: web.Request) -> web.Response:
        body = await request.json()
        branch, asked = body["merchant_id"], body.get("slot_time", [])
        groups: dict[tuple[str, str, int, str], list[int]] = {}
        for i, s in enumerate(asked):
            start = dt.datetime.fromtimestamp(int(s["start_sec"]), ZONE)
            resources = s.get("resource_ids") or {}
            key = (s["service_id"], start.date().isoformat(), resources.get("party_size") or 1,
                   resources.get("staff_id", ""))
            groups.setdefault(key, []).append(i)
        keys = list(groups)
        answers = await asyncio.gather(*(self._free(branch, *key) for key in keys))
        available = [False] * len(asked)
        for key, free in zip(keys, answers):
            for i in groups[key]:
                start = int(asked[i]["start_sec"])
                available[i] = (start, start + int(asked[i]["duration_sec"])) in free
        return web.json_response({"slot_time_availability": [
            {"slot_time": s, "available": a} for s, a in zip(asked, available)]})

    async def _free(self, branch: str, service: str, day: str, party: int, staff: str) -> set[tuple[int, int]]:
        params = {"branchId": branch, "numberOfReservations": str(party), "date": day}
        if staff:
            params["requestedResourceId"] = staff
        status, slots = await self.up.call("GET", f"/services/{service}/timeslots", params=params)
        if status != 200:
            return set()
        return {(int(dt.datetime.fromisoformat(s["startTime"]).timestamp()),
                 int(dt.datetime.fromisoformat(s["endTime"]).timestamp())) for s in slots}


async def serve(args: argparse.Namespace) -> None:
    upstream = Upstream(args.base_url.rstrip("/"), args.token_url)
    await upstream.open()
    server = grpc.aio.server()
    pb_grpc.add_BookingServiceServicer_to_server(V0(upstream), server)
    grpc_port = server.add_insecure_port(f"127.0.0.1:{args.grpc_port}")
    await server.start()
    v3 = V3(upstream)
    app = web.Application()
    app.router.add_post("/v3/CreateBooking", v3.create_booking)
    app.router.add_post("/v3/BatchAvailabilityLookup", v3.batch_availability_lookup)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.rest_port).start()
    print(json.dumps({"grpc_port": grpc_port, "rest_port": runner.addresses[0][1]}), flush=True)
    try:
        await procs.until_stopped()
    finally:
        await server.stop(1.0)
        await runner.cleanup()
        assert upstream.session is not None
        await upstream.session.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the simulator's API root (…/external/v1)")
    parser.add_argument("--token-url", required=True)
    parser.add_argument("--grpc-port", type=int, default=0)
    parser.add_argument("--rest-port", type=int, default=0)
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
