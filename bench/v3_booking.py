"""Load (b): v3 REST CreateBooking without a lease: each call books a slot of its own under
an idempotency token and a user of its own (hold + confirm upstream). Upstream at 0 ms."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from . import load, slots
from .servers import REST_PASSWORD, REST_USER, Servers, SimHost
from .verify import Attempt

NAME = "v3book"
TITLE = "v3 CreateBooking (no lease, idempotency token)"
RPCS = ("CreateBooking",)
TIMEOUT = 10.0


def body(slot: slots.Slot, n: int) -> dict[str, Any]:
    return {
        "idempotency_token": f"bench-token-{n}",
        "slot": {"merchant_id": slot.branch, "service_id": slot.service, "start_sec": str(int(slot.start.timestamp())),
                 "duration_sec": str(int((slot.end - slot.start).total_seconds())),
                 "resources": {"staff_id": slot.staff}},
        "user_information": {"user_id": f"bench-user-{n}", "given_name": "Ada", "family_name": "Lovelace",
                             "telephone": "+46701234567", "email": f"guest{n}@example.com"},
        "payment_information": {"prepayment_status": "PREPAYMENT_NOT_PROVIDED"},
    }


def session() -> aiohttp.ClientSession:
    basic = base64.b64encode(f"{REST_USER}:{REST_PASSWORD}".encode()).decode()
    return aiohttp.ClientSession(headers={"Authorization": f"Basic {basic}"},
                                 timeout=aiohttp.ClientTimeout(total=TIMEOUT),
                                 connector=aiohttp.TCPConnector(limit=0))


async def run(servers: Servers, sim: SimHost, supply: list[slots.Slot], *, workers: int, seconds: float,
              attempts: list[Attempt]) -> dict[str, Any]:
    urls = [f"http://127.0.0.1:{port}/v3/CreateBooking" for port in servers.rest_ports]
    numbered = enumerate(supply)
    async with session() as http:

        async def book(w: int, rec: load.Recorder) -> None:
            n, slot = load.take(numbered)
            attempt = Attempt(slot, "CONFIRMED")
            attempts.append(attempt)
            async with rec.rpc("CreateBooking"):
                async with http.post(urls[w % len(urls)], json=body(slot, n)) as answer:
                    status, answered = answer.status, await answer.json(content_type=None)
            if status != 200:
                rec.fail("CreateBooking", f"HTTP {status}")
            if answered.get("booking", {}).get("status") != "CONFIRMED":
                rec.fail("CreateBooking", str(answered.get("booking_failure", {}).get("cause", "not CONFIRMED")))
            attempt.answered = True

        return await load.closed_loop(workers, book, seconds, warmup=1, servers=servers, sim=sim)
