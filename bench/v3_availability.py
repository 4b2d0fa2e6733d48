"""Load (c): v3 REST BatchAvailabilityLookup, 50 slots of one service over 7 days, against a
simulator answering after 50 ms, from 8 concurrent workers.

- first: one lookup alone on the fresh server (token, catalogue and 7 timeslot reads);
- cold: every lookup a (branch, service, week) never asked before, so no answer is cached;
- warm: each worker repeats one lookup asked just before on its server, so the answers
  are cached, except when the bridge's cache lets them go (availability_cache_seconds, 5 s).

Nothing is booked meanwhile, so every slot asked must be answered available.
"""

from __future__ import annotations

from typing import Any

from . import load
from .servers import Servers, SimHost
from .v3_booking import session

NAME = "v3avail"
TITLE = "v3 BatchAvailabilityLookup, 50 slots over 7 days, upstream 50 ms"
WORKERS = 8
LATENCY_MS = 50.0


async def run(servers: Servers, sim: SimHost, supply: list[dict[str, Any]], *, seconds: float) -> dict[str, Any]:
    urls = [f"http://127.0.0.1:{port}/v3/BatchAvailabilityLookup" for port in servers.rest_ports]
    # The warm set is put aside first, so the cold lookups cannot use it up.
    warm_set, bodies = supply[:WORKERS], iter(supply[WORKERS:])
    check = {"lookups": 0, "slots_asked": 0, "answered_unavailable": 0, "losses": 0}

    async with session() as http:

        async def lookup(url: str, body: dict[str, Any], rec: load.Recorder) -> None:
            check["lookups"] += 1
            check["slots_asked"] += len(body["slot_time"])
            try:
                async with rec.rpc("BatchAvailabilityLookup"):
                    async with http.post(url, json=body) as answer:
                        status, answered = answer.status, await answer.json(content_type=None)
                if status != 200:
                    rec.fail("BatchAvailabilityLookup", f"HTTP {status}")
                got = answered.get("slot_time_availability", [])
                if [a["slot_time"]["start_sec"] for a in got] != [s["start_sec"] for s in body["slot_time"]]:
                    rec.fail("BatchAvailabilityLookup", "answers not one per slot, in order")
            except load.Failed:
                check["losses"] += 1
                raise
            check["answered_unavailable"] += sum(not a.get("available", False) for a in got)

        async def cold(w: int, rec: load.Recorder) -> None:
            await lookup(urls[w % len(urls)], load.take(bodies), rec)

        first_rec = load.Recorder()
        before = load.snapshot(servers, sim)
        try:
            await lookup(urls[0], load.take(bodies), first_rec)
        except load.Failed:
            pass
        first_rec.units = 1
        first = load.window(before, load.snapshot(servers, sim), first_rec)

        cold_window = await load.closed_loop(WORKERS, cold, seconds, warmup=0, servers=servers, sim=sim)

        for w, body in enumerate(warm_set):  # each asked once on the server its worker uses
            try:
                await lookup(urls[w % len(urls)], body, load.Recorder())
            except load.Failed:
                pass

        async def warm(w: int, rec: load.Recorder) -> None:
            await lookup(urls[w % len(urls)], warm_set[w], rec)

        warm_window = await load.closed_loop(WORKERS, warm, seconds, warmup=0, servers=servers, sim=sim)
    return {"first": first, "cold": cold_window, "warm": warm_window, "check": check}

