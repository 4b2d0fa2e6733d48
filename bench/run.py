"""Latency and upstream cost of the v0 booking flow, on loopback.

    python -m bench.run [--n 200] [--json results.json]

The simulator, the bridge (real gRPC port, real SQLite file) and a grpc.aio client share
one event loop and one ManualClock, as in tests/harness.py. Each operation runs alone, so
the simulator's request log between its start and its end is exactly what it cost
upstream. Alongside every CreateLease the same hold is sent straight to a second, fresh
simulator with httpx, which gives the bridge's overhead as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import logging
import math
import os
import pathlib
import platform
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

if not __package__:
    # Run as `python bench/run.py`: sys.path holds bench/, not the repository root.
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import grpc
import httpx

from bridge import config as config_mod
from bridge import logs
from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v0_pb2_grpc as pb_grpc
from bridge.app import Bridge
from bridge.clock import ManualClock
from bridge.server import BridgeServer
from bridge.simulator import Simulator, seed

T = TypeVar("T")
UTC = dt.timezone.utc

# A Monday, 08:00 in Stockholm (as in the tests): the whole bookable week lies ahead.
T0 = dt.datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
STOCKHOLM_TZ = seed.zone(seed.STOCKHOLM)
ENV = {
    "QMATIC_CLIENT_ID": seed.DEMO_CLIENT_ID,
    "QMATIC_CLIENT_SECRET": seed.DEMO_CLIENT_SECRET,
    "BRIDGE_IDENTITY_KEY": "bench-identity-key-0123456789",
}
# Consultation is left out: it needs Anna or Carla, so its slots would collide with these.
LANES = ((seed.PASSPORT, seed.CARLA), (seed.HAIRCUT, seed.ANNA), (seed.HAIRCUT, seed.BEN))
CALL_TIMEOUT = 5.0
# A stuck run must end on its own, well inside the minute the benchmark is allowed.
TIME_LIMIT = 50.0

# What README's "How Actions Center's concepts land on Qmatic" promises per operation.
EXPECTED: dict[str, dict[str, int]] = {
    "CreateLease": {"POST /reservations": 1},
    "CreateLease replay": {},
    "CreateBooking": {"PUT /reservations/{id}": 1},
    "CreateBooking replay": {},
    "UpdateBooking cancel": {"DELETE /appointments/{id}": 1},
    "UpdateBooking reschedule": {"POST /reservations": 1, "PUT /appointments/{id}/reschedule": 1},
}
_UUID = re.compile(r"/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Slot:
    service: str
    staff: str
    start: dt.datetime  # UTC
    end: dt.datetime


@dataclass
class Op:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        n = len(self.latencies_ms)
        per_op = {k: v / n for k, v in sorted(self.calls.items())} if n else {}
        out: dict[str, Any] = {
            "count": n,
            "latency_ms": percentiles(self.latencies_ms),
            "upstream_calls_per_op": sum(per_op.values(), 0.0),
            "upstream_per_op": per_op,
        }
        if self.name in EXPECTED:
            out["upstream_expected"] = EXPECTED[self.name]
            # Exact counts, not rounded ratios: one stray call in 200 must show.
            wanted = {k: v * n for k, v in EXPECTED[self.name].items() if n}
            out["upstream_as_expected"] = dict(self.calls) == wanted
        return out


def percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)

    def rank(q: float) -> float:  # nearest rank: always a latency that was observed
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
    }


def template(method: str, path: str) -> str:
    return f"{method} {_UUID.sub('/{id}', path)}"


async def timed(op: Op, sim: Simulator, call: Awaitable[T]) -> T:
    before = len(sim.requests)
    started = time.perf_counter()
    result = await call
    op.latencies_ms.append((time.perf_counter() - started) * 1000)
    op.calls.update(template(r.method, r.path) for r in sim.requests[before:])
    return result


# --- slots ------------------------------------------------------------------------------


def week_slots(sim: Simulator) -> list[Slot]:
    """Every Stockholm slot of the bookable week, earliest first, from the simulator's own grid."""
    grid = sim.state.grid
    slots = [
        Slot(service, staff, start, end)
        for day in grid.days(seed.STOCKHOLM)
        for service, staff in LANES
        for start, end in grid.grid(seed.STOCKHOLM, service, day)
    ]
    lane = {pair: i for i, pair in enumerate(LANES)}
    # Time order spreads the work over every lane evenly, so each keeps spare slots to
    # reschedule onto.
    return sorted(slots, key=lambda s: (s.start, lane[(s.service, s.staff)]))


@dataclass
class Plan:
    warm: Slot
    leases: list[Slot]
    cancels: list[int]  # indexes into leases
    moves: list[tuple[int, Slot]]


def plan(pool: list[Slot], n: int, subset: int) -> Plan:
    if n + 1 > len(pool):
        raise SystemExit(f"--n {n} needs more slots than the week has ({len(pool) - 1} at most)")
    warm, leases = pool[0], pool[1 : n + 1]
    spare: dict[tuple[str, str], list[Slot]] = {}
    for s in pool[n + 1 :]:
        spare.setdefault((s.service, s.staff), []).append(s)
    # The simulator refuses a cancel within 2 h of the start; a margin keeps it off the edge.
    cancellable = [i for i, s in enumerate(leases) if s.start - T0 >= dt.timedelta(hours=2, minutes=1)]
    cancels = cancellable[:subset]
    taken = set(cancels)
    moves = []
    for i, s in enumerate(leases):
        if len(moves) == subset:
            break
        free = spare.get((s.service, s.staff))
        if i not in taken and free:
            moves.append((i, free.pop(0)))
    if len(moves) < subset:
        raise SystemExit(f"--n {n} leaves too few free slots to reschedule onto; use a smaller --n")
    return Plan(warm, leases, cancels, moves)


# --- messages ---------------------------------------------------------------------------


def lease_request(slot: Slot, reference: str) -> pb.CreateLeaseRequest:
    lease = pb.Lease(merchant_id=seed.STOCKHOLM, service_id=slot.service, client_reference=reference)
    lease.start_time.FromDatetime(slot.start)
    lease.duration.FromTimedelta(slot.end - slot.start)
    lease.resources.staff_id = slot.staff
    return pb.CreateLeaseRequest(lease=lease)


def booking_request(lease_id: str, i: int) -> pb.CreateBookingRequest:
    # One e-mail per booking: the bridge refuses a person's second booking at the same time.
    client = pb.ClientInformation(
        given_name="Ada", family_name="Lovelace", email=f"guest{i}@example.com", telephone="+46 70 123 45 67"
    )
    return pb.CreateBookingRequest(lease_ref=pb.LeaseReference(lease_id=lease_id), client_information=client)


def cancel_request(booking_id: str) -> pb.UpdateBookingRequest:
    request = pb.UpdateBookingRequest(booking=pb.Booking(booking_id=booking_id, status=pb.CANCELED))
    request.update_mask.paths.append("status")
    return request


def reschedule_request(booking_id: str, slot: Slot) -> pb.UpdateBookingRequest:
    booking = pb.Booking(booking_id=booking_id)
    booking.start_time.FromDatetime(slot.start)
    booking.duration.FromTimedelta(slot.end - slot.start)
    request = pb.UpdateBookingRequest(booking=booking)
    request.update_mask.paths.extend(["start_time", "duration"])
    return request


def hold_body(slot: Slot) -> dict[str, Any]:
    # What the bridge's client sends for the same lease, times in the branch's offset.
    return {
        "serviceId": slot.service,
        "branchId": seed.STOCKHOLM,
        "timeSlot": {
            "startTime": slot.start.astimezone(STOCKHOLM_TZ).isoformat(),
            "endTime": slot.end.astimezone(STOCKHOLM_TZ).isoformat(),
        },
        "numberOfReservations": 1,
        "requestedResourceId": slot.staff,
    }


# --- the run ----------------------------------------------------------------------------


def bridge_config(sim: Simulator, store: pathlib.Path) -> config_mod.Config:
    return config_mod.from_dict(
        {
            # No background health probe: it would add to the upstream requests counted per call.
            "server": {"grpc_listen": "127.0.0.1:0", "shutdown_grace_seconds": 5.0, "health_follows_upstream": False},
            "upstream": {
                "base_url": sim.base_url,
                "token_url": sim.token_url,
                "account": seed.DEMO_ACCOUNT,
                "tenant_id": seed.DEMO_TENANT_ID,
                "connect_timeout": 1.0,
                "read_timeout": 3.0,
            },
            "store": {"path": str(store)},
            "booking": {"default_time_zone": "Europe/Stockholm"},
        }
    )


class DirectClient:
    """The bridge's one upstream call, made by hand: what a hold costs without the bridge."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self._http = httpx.AsyncClient(timeout=CALL_TIMEOUT)
        self._headers: dict[str, str] = {}

    async def login(self) -> None:
        basic = base64.b64encode(f"{seed.DEMO_CLIENT_ID}:{seed.DEMO_CLIENT_SECRET}".encode()).decode()
        response = await self._http.post(
            self.sim.token_url,
            headers={"Authorization": f"Basic {basic}", "X-ACCOUNT": seed.DEMO_ACCOUNT},
            data={"grant_type": "client_credentials"},
        )
        response.raise_for_status()
        self._headers = {
            "Authorization": f"Bearer {response.json()['access_token']}",
            "X-TENANT-ID": seed.DEMO_TENANT_ID,
            "Accept": "application/json",
        }

    async def hold(self, body: dict[str, Any]) -> None:
        response = await self._http.post(f"{self.sim.base_url}/reservations", json=body, headers=self._headers)
        if response.status_code != 201:
            raise RuntimeError(f"direct hold answered {response.status_code}: {response.text}")

    async def aclose(self) -> None:
        await self._http.aclose()


async def measure(n: int, subset: int) -> dict[str, Any]:
    clock = ManualClock(T0)
    sim, direct_sim = Simulator(clock), Simulator(clock)
    await sim.start()
    await direct_sim.start()
    direct = DirectClient(direct_sim)
    ops = {name: Op(name) for name in EXPECTED}
    direct_op = Op("direct POST /reservations")
    try:
        work = plan(week_slots(sim), n, subset)
        with tempfile.TemporaryDirectory(prefix="booking-bridge-bench-") as tmp:
            config = bridge_config(sim, pathlib.Path(tmp) / "bridge.sqlite3")
            bridge = Bridge.open(config, environ=ENV, clock=clock)
            server = BridgeServer(bridge.core, config.server)
            port = await server.start()
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                    stub = pb_grpc.BookingServiceStub(channel)
                    await run_flow(stub, sim, direct, work, ops, direct_op)
            finally:
                await server.stop(grace=1.0)
                await bridge.aclose()
    finally:
        await direct.aclose()
        await direct_sim.stop()
        await sim.stop()
    return {"ops": ops, "direct": direct_op}


async def run_flow(
    stub: pb_grpc.BookingServiceStub,
    sim: Simulator,
    direct: DirectClient,
    work: Plan,
    ops: dict[str, Op],
    direct_op: Op,
) -> None:
    def call(method: Callable[..., Any], request: Any) -> Awaitable[Any]:
        return method(request, timeout=CALL_TIMEOUT)

    # Warm-up, unmeasured: token, catalogue, connections and the SQLite file on both paths.
    await direct.login()
    await direct.hold(hold_body(work.warm))
    warm = (await call(stub.CreateLease, lease_request(work.warm, "bench-warm"))).lease
    await call(stub.CreateBooking, booking_request(warm.lease_id, -1))

    lease_requests = [lease_request(s, f"bench-{i}") for i, s in enumerate(work.leases)]
    bodies = [hold_body(s) for s in work.leases]
    leases = []
    for request, body in zip(lease_requests, bodies):
        # Interleaved so both series see the same machine, state size and moment.
        await timed(direct_op, direct.sim, direct.hold(body))
        leases.append((await timed(ops["CreateLease"], sim, call(stub.CreateLease, request))).lease)

    for request, lease in zip(lease_requests, leases):
        again = (await timed(ops["CreateLease replay"], sim, call(stub.CreateLease, request))).lease
        if again.lease_id != lease.lease_id:
            raise RuntimeError(f"replay of {request.lease.client_reference} answered another lease")

    booking_requests = [booking_request(lease.lease_id, i) for i, lease in enumerate(leases)]
    bookings = []
    for request in booking_requests:
        booking = (await timed(ops["CreateBooking"], sim, call(stub.CreateBooking, request))).booking
        if booking.status != pb.CONFIRMED:
            raise RuntimeError(f"booking {booking.booking_id} is {pb.BookingStatus.Name(booking.status)}")
        bookings.append(booking)

    for request, booking in zip(booking_requests, bookings):
        again = (await timed(ops["CreateBooking replay"], sim, call(stub.CreateBooking, request))).booking
        if again.booking_id != booking.booking_id:
            raise RuntimeError(f"replay of lease {request.lease_ref.lease_id} answered another booking")

    for i in work.cancels:
        done = (await timed(ops["UpdateBooking cancel"], sim,
                            call(stub.UpdateBooking, cancel_request(bookings[i].booking_id)))).booking
        if done.status != pb.CANCELED:
            raise RuntimeError(f"cancel of {done.booking_id} left it {pb.BookingStatus.Name(done.status)}")

    for i, target in work.moves:
        moved = (await timed(ops["UpdateBooking reschedule"], sim,
                             call(stub.UpdateBooking, reschedule_request(bookings[i].booking_id, target)))).booking
        if moved.start_time.ToDatetime(UTC) != target.start:
            raise RuntimeError(f"reschedule of {moved.booking_id} did not land on {target.start:%Y-%m-%d %H:%M}")


# --- report -----------------------------------------------------------------------------


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def results(n: int, measured: dict[str, Any], wall: float) -> dict[str, Any]:
    ops: dict[str, Op] = measured["ops"]
    direct: Op = measured["direct"]
    lease = percentiles(ops["CreateLease"].latencies_ms)
    raw = percentiles(direct.latencies_ms)
    assert lease is not None and raw is not None
    return {
        "n": n,
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "grpcio": grpc.__version__,
            "httpx": httpx.__version__,
        },
        "operations": {name: op.summary() for name, op in ops.items()},
        "direct_hold": direct.summary(),
        "overhead": {
            "ratio_p50": lease["p50"] / raw["p50"],
            "ratio_p95": lease["p95"] / raw["p95"],
            "ratio_mean": lease["mean"] / raw["mean"],
            "added_ms_p50": lease["p50"] - raw["p50"],
        },
        "upstream_as_expected": all(op.summary()["upstream_as_expected"] for op in ops.values()),
        "peak_rss_mib": peak_rss_mib(),
        "wall_seconds": wall,
    }


def render(r: dict[str, Any]) -> str:
    env = r["environment"]
    lines = [
        f"booking-bridge benchmark: n={r['n']} distinct slots, loopback, one event loop",
        f"Python {env['python']}, grpcio {env['grpcio']}, httpx {env['httpx']}, {env['cpus']} CPUs, {env['platform']}",
        "",
        f"{'operation':<27}{'count':>6}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}   upstream calls per operation",
        f"{'':<27}{'':>6}{'ms':>9}{'ms':>9}{'ms':>9}{'ms':>9}",
    ]

    def row(name: str, s: dict[str, Any], upstream: str) -> str:
        lat = s["latency_ms"]
        cells = "".join(f"{lat[k]:>9.2f}" if lat else f"{'-':>9}" for k in ("p50", "p95", "p99", "max"))
        return f"{name:<27}{s['count']:>6}{cells}   {upstream}"

    def upstream(s: dict[str, Any]) -> str:
        per_op = ", ".join(f"{k} {v:.2f}" for k, v in s["upstream_per_op"].items()) or "none"
        ok = s.get("upstream_as_expected", True)
        verdict = "" if ok else f"   UNEXPECTED (want {s['upstream_expected'] or 'none'})"
        return f"{s['upstream_calls_per_op']:.2f}  ({per_op}){verdict}"

    for name, s in r["operations"].items():
        lines.append(row(name, s, upstream(s)))
    lines.append(row("direct hold (httpx → sim)", r["direct_hold"], upstream(r["direct_hold"])))

    o = r["overhead"]
    lines += [
        "",
        (
            f"bridge overhead, CreateLease ÷ direct POST /reservations: {o['ratio_p50']:.2f}× at p50 "
            f"(+{o['added_ms_p50']:.2f} ms), {o['ratio_p95']:.2f}× at p95, {o['ratio_mean']:.2f}× on the mean"
        ),
        "upstream calls match README's mapping: " + ("yes" if r["upstream_as_expected"] else "NO"),
        f"peak RSS {r['peak_rss_mib']:.1f} MiB, wall time {r['wall_seconds']:.1f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=200, help="distinct slots to lease and book (default 200, at most about 350)"
    )
    parser.add_argument("--json", type=pathlib.Path, metavar="PATH", help="also write the numbers here as JSON")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    # The bridge logs one JSON line per call at INFO; only trouble should reach the terminal.
    logs.setup(logging.WARNING)

    async def bounded() -> dict[str, Any]:
        async with asyncio.timeout(TIME_LIMIT):
            return await measure(args.n, subset=max(1, args.n // 4))

    started = time.perf_counter()
    try:
        measured = asyncio.run(bounded())
    except grpc.aio.AioRpcError as exc:
        print(f"benchmark failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except (RuntimeError, TimeoutError) as exc:
        print(f"benchmark failed: {exc or f'did not finish within {TIME_LIMIT:.0f} s'}", file=sys.stderr)
        return 1
    report = results(args.n, measured, time.perf_counter() - started)
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
