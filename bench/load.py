"""Running a closed-loop load and measuring its window.

N workers each repeat one unit of work (a flow, a booking, a lookup) back to back. A
warm-up round goes first, unmeasured. Then the window opens: a snapshot of the servers'
CPU, the simulator's CPU and the upstream request counts; workers start units until the
time is up (or the work runs out) and finish the unit in hand; the window closes with a
second snapshot once every worker has stopped, so every call counted belongs to a unit
counted. Latency is per RPC, nearest-rank percentiles.
"""

from __future__ import annotations

import asyncio
import math
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from . import procs
from .servers import Servers, SimHost


class Exhausted(Exception):
    """No distinct slot or question is left to ask: the load ends early."""


class Failed(Exception):
    """A unit of work ended in an RPC failure (already recorded)."""


@dataclass
class Recorder:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    units: int = 0
    calls: int = 0

    @asynccontextmanager
    async def rpc(self, name: str):
        """Time one call; an exception is recorded as its failure and ends the unit."""
        self.calls += 1
        started = time.perf_counter()
        try:
            yield
        except Exception as exc:
            self.failures[f"{name}: {_describe(exc)}"] += 1
            raise Failed(name) from exc
        self.latencies.setdefault(name, []).append((time.perf_counter() - started) * 1000)

    def fail(self, name: str, why: str) -> None:
        """The call answered, but not as it should have: a failure of the unit."""
        self.failures[f"{name}: {why}"] += 1
        raise Failed(name)

    @property
    def rpcs(self) -> int:
        return self.calls


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    if callable(code):  # grpc.aio.AioRpcError
        return code().name
    return type(exc).__name__


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Snapshot:
    at: float
    server_cpu: float
    sim_cpu: float
    db_cpu: float | None
    bench_cpu: float
    upstream: dict[str, Any]


def snapshot(servers: Servers, sim: SimHost) -> Snapshot:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return Snapshot(time.perf_counter(), servers.cpu_seconds(), procs.cpu_seconds(sim.child.pid),
                    servers.database_cpu_seconds() if servers.database else None, usage.ru_utime + usage.ru_stime, sim.counts())


Unit = Callable[[int, Recorder], Awaitable[None]]


async def closed_loop(workers: int, unit: Unit, seconds: float, *, warmup: int, servers: Servers, sim: SimHost
                      ) -> dict[str, Any]:
    """Run ``unit(worker, recorder)`` from ``workers`` workers; the window's figures."""
    warm, measured = Recorder(), Recorder()
    state = {"exhausted": False, "deadline": 0.0}

    async def worker(w: int, recorder: Recorder, rounds: int | None) -> None:
        done = 0
        while not state["exhausted"] and (done < rounds if rounds is not None else time.perf_counter() < state["deadline"]):
            try:
                await unit(w, recorder)
            except Failed:
                pass
            except Exhausted:
                state["exhausted"] = True
                return
            recorder.units += 1
            done += 1

    async def all_workers(recorder: Recorder, rounds: int | None) -> None:
        async with asyncio.TaskGroup() as group:  # a bug in one worker stops them all
            for w in range(workers):
                group.create_task(worker(w, recorder, rounds))

    await all_workers(warm, warmup)
    before = snapshot(servers, sim)
    state["deadline"] = time.perf_counter() + seconds
    await all_workers(measured, None)
    after = snapshot(servers, sim)
    return window(before, after, measured, warm, bool(state["exhausted"]))


def window(before: Snapshot, after: Snapshot, measured: Recorder, warm: Recorder | None = None,
           exhausted: bool = False) -> dict[str, Any]:
    wall = after.at - before.at
    rpcs = measured.rpcs
    by_op = Counter(after.upstream["by_op"])
    by_op.subtract(before.upstream["by_op"])
    upstream = after.upstream["total"] - before.upstream["total"]
    return {
        "seconds": wall,
        "units": measured.units,
        "units_per_second": measured.units / wall if wall > 0 else 0.0,
        "rpc": {name: {"count": len(v), "p50_ms": percentile(v, 0.50), "p99_ms": percentile(v, 0.99),
                       "mean_ms": sum(v) / len(v)} for name, v in measured.latencies.items()},
        "rpcs": rpcs,
        "failures": dict(measured.failures + (warm.failures if warm else Counter())),
        "failed_rpcs": sum(measured.failures.values()) + (sum(warm.failures.values()) if warm else 0),
        "server_cpu_s": after.server_cpu - before.server_cpu,
        "server_cpu_ms_per_rpc": 1000 * (after.server_cpu - before.server_cpu) / rpcs if rpcs else None,
        "server_cores_busy": (after.server_cpu - before.server_cpu) / wall if wall > 0 else None,
        "sim_cores_busy": (after.sim_cpu - before.sim_cpu) / wall if wall > 0 else None,
        "database_cores_busy": ((after.db_cpu - before.db_cpu) / wall
                                if wall > 0 and after.db_cpu is not None and before.db_cpu is not None else None),
        "bench_cores_busy": (after.bench_cpu - before.bench_cpu) / wall if wall > 0 else None,
        "upstream_calls": upstream,
        "upstream_per_rpc": upstream / rpcs if rpcs else None,
        "upstream_by_op": {k: v for k, v in sorted(by_op.items()) if v},
        "exhausted": exhausted,
    }


def take(items: Iterator[Any]) -> Any:
    """The next distinct item a worker may use; Exhausted when none is left."""
    try:
        return next(items)
    except StopIteration:
        raise Exhausted from None
