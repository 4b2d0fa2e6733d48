"""Load (rss, opt-in): does one server's resident memory stay flat under the v0 flows?

32 workers (--workers) loop lease → booking → cancel over gRPC, as in bench/v0_flows.py,
against one server, until --rss-rpcs' last count of RPCs (default 100,000, about 33,334
flows) has been sent. The server's VmRSS (/proc/<pid>/status) is read at the start, with no
traffic yet, and the moment each count in --rss-rpcs has completed (default 10,000 and
100,000; failed RPCs count as completed). Reported: each reading, the growth from the first
count to the last in MiB and in % (the issue's target: within 10 %), VmHWM, the run's wall
time, flows/s, latency and CPU as for v0, and the same upstream check (bench/verify.py, in
full: every flow confirmed then cancelled, no duplicates, no losses, no strays).

Slots: every flow books a slot of its own, so the simulator's tenant is grown until there
are enough (bench/slots.py: 64 a branch a day, days 1 to days-2; 14 days, branches as
many as needed: 46 for 100,000 RPCs and 32 workers). A cancelled appointment no longer blocks its slot in
the simulator (State.hold counts CONFIRMED, FINALIZED and live holds only), so slots could
be reused, but then bench/verify.py could not tell which flow an appointment belongs to;
distinct slots keep the check exact. The slots are shuffled (fixed seed), so the flows
reach every branch and day from the start, as real traffic would: whatever the server
keeps per branch or per day is there by the first reading, and what still grows between
the readings grows with the number of RPCs.

The simulator keeps every appointment, cancelled ones too, and each hold scans them all,
so its CPU per hold grows through the run: flows/s falls as the run goes on, the floor's
most (it is the faster), and the wall times say more about the simulator than the usual
v0 load does. The readings are unaffected.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc

from bridge._proto import booking_v0_pb2_grpc as pb_grpc

from . import load, procs, slots, v0_flows
from .servers import Servers, SimHost
from .verify import Attempt

NAME = "rss"
TITLE = "rss (opt-in): server RSS under v0 flows, lease → booking → cancel"
RPCS = v0_flows.RPCS
DEFAULT_MARKS = (10_000, 100_000)
QUICK_MARKS = (1_000, 3_000)
TARGET_PCT = 10.0
DAYS = 14
SLOTS_PER_BRANCH = (DAYS - 2) * 64  # bench/slots.py: Passport photo, 32 a day × 2 staff


def flows_needed(marks: tuple[int, ...]) -> int:
    return math.ceil(marks[-1] / len(RPCS))


def tenant(marks: tuple[int, ...], workers: int) -> tuple[int, int]:
    """(branches, days) with a distinct slot for every flow, and some to spare."""
    return math.ceil((flows_needed(marks) + workers) * 1.05 / SLOTS_PER_BRANCH), DAYS


def supply(marks: tuple[int, ...], workers: int) -> list[slots.Slot]:
    every = slots.bookable(*tenant(marks, workers))
    if len(every) < flows_needed(marks):
        raise RuntimeError(f"rss: {len(every)} slots for {flows_needed(marks)} flows")
    random.Random(0).shuffle(every)
    return every


@dataclass
class Counting(load.Recorder):
    """A Recorder that calls ``done()`` as each RPC ends, failed or not."""

    done: Callable[[], None] = lambda: None

    @asynccontextmanager
    async def rpc(self, name: str):
        try:
            async with super().rpc(name):
                yield
        finally:
            self.done()


async def run(servers: Servers, sim: SimHost, supply: list[slots.Slot], *, workers: int, marks: tuple[int, ...],
              attempts: list[Attempt]) -> dict[str, Any]:
    if len(servers.pids) != 1:
        raise RuntimeError("rss measures one server")
    pid = servers.pids[0]
    pending = list(marks)
    readings: list[dict[str, Any]] = []
    completed = 0
    started = time.perf_counter()

    def reading(rpcs: int) -> dict[str, Any]:
        return {"rpcs": rpcs, "seconds": time.perf_counter() - started,
                "rss_mib": procs.rss_mib(pid), "hwm_mib": procs.peak_rss_mib(pid)}

    def done() -> None:
        nonlocal completed
        completed += 1
        while pending and completed >= pending[0]:
            readings.append(reading(pending.pop(0)))

    at_start = reading(0)
    recorder = Counting(done=done)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{servers.grpc_ports[0]}")
    flow = v0_flows.flow_unit([pb_grpc.BookingServiceStub(channel)], enumerate(supply), attempts)
    flows = flows_needed(marks)
    state = {"started": 0, "exhausted": False}

    async def worker(w: int) -> None:
        while state["started"] < flows and not state["exhausted"]:
            state["started"] += 1
            try:
                await flow(w, recorder)
            except load.Failed:
                pass
            except load.Exhausted:
                state["exhausted"] = True
                return
            recorder.units += 1

    try:
        before = load.snapshot(servers, sim)
        started = before.at
        async with asyncio.TaskGroup() as group:
            for w in range(workers):
                group.create_task(worker(w))
        after = load.snapshot(servers, sim)
    finally:
        await channel.close()
    row = load.window(before, after, recorder, exhausted=state["exhausted"])
    first, last = (readings[0], readings[-1]) if len(readings) >= 2 else (None, None)
    growth = last["rss_mib"] - first["rss_mib"] if first else None
    row["rss"] = {
        "marks": list(marks),
        "start": at_start,
        "readings": readings,
        "growth_mib": growth,
        "growth_pct": 100 * growth / first["rss_mib"] if first else None,
        "target_pct": TARGET_PCT,
        "tenant": list(tenant(marks, workers)),
        "slots": len(supply),
    }
    return row


def parse_marks(text: str) -> tuple[int, ...]:
    """``10000,100000`` → (10000, 100000): at least two counts, increasing."""
    marks = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    if len(marks) < 2 or any(m <= 0 for m in marks) or list(marks) != sorted(set(marks)):
        raise ValueError("want two or more increasing positive counts, e.g. 10000,100000")
    return marks
