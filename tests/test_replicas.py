"""Several replicas on one PostgreSQL database.

Two real `booking-bridge serve` processes, replica A and replica B, each on its own ports,
share one database, one live simulator (the upstream) and, for notifications, one fake
Google. Google may send the same call to both at once (a retry that overtakes the
original, two front ends); whatever the interleaving, one request must cost the upstream
one hold and one confirm, and Google must hear of one change once.

Every scenario counts, as it checks:

- duplicates: more than one upstream hold, confirm or Google notification for one
  request, or two callers of one request told different answers;
- losses: a request that should have ended in a lease, a booking or a notification and
  did not (a caller left with an error, a record missing from the store or the upstream).

Each test asserts its own counts are 0; the module prints them all at its end (visible in
a plain run, or with -s), so they can be quoted. Without PostgreSQL the tests skip (the
session ``postgres`` fixture); BRIDGE_REQUIRE_POSTGRES=1 makes that a failure.

Nothing is timed: every wait is on an observable condition, with a generous limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import pathlib
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v0_pb2_grpc as pb_grpc
from bridge.simulator import FakeGoogle, Simulator
from bridge.simulator.parse import HoldRequest
from bridge.simulator.state import CONFIRMED, Appointment

from . import pgcluster
from .harness import ENV, REST_USER, client_message, lease_message
from .test_inventory_kill import live_google  # noqa: F401 (fixture)
from .test_v0_kill import Served, free_port, live_sim, serve_config, tomorrow_at  # noqa: F401 (fixture)
from .test_v3_rest import booking_request

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

# How often one caller asks again after UNAVAILABLE, alternating replicas.
ATTEMPTS = 5
# The bound on every wait for something the replicas do; never asserted on.
PATIENCE = 40.0
# Distinct requests per concurrency scenario; each on its own slot of tomorrow.
FLOWS = 10
# notify_within_seconds' floor ([google], config.py): the watcher then reads each
# booking every 10 s (bridge.inventory.read_period), the shortest period there is.
NOTIFY_WITHIN = 30


# --- the counts -----------------------------------------------------------------------------


@dataclass
class Counts:
    flows: int = 0
    retries: int = 0  # UNAVAILABLE answers, each asked again: allowed, and reported
    duplicates: list[str] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.duplicates and not self.losses, (
            f"{len(self.duplicates)} duplicates, {len(self.losses)} losses in {self.flows} flows:\n"
            + "\n".join([*(f"duplicate: {d}" for d in self.duplicates), *(f"loss: {x}" for x in self.losses)])
        )


# Scenario name -> its counts; filled by each test, printed at the module's end.
SUMMARY: dict[str, Counts] = {}


def counts_for(request: pytest.FixtureRequest) -> Counts:
    counts = SUMMARY[request.node.name] = Counts()
    return counts


@pytest.fixture(scope="module", autouse=True)
def _print_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not SUMMARY:
        return
    lines = ["", "replicas: duplicates and losses per scenario"]
    for name, c in SUMMARY.items():
        lines.append(f"  {name}: flows={c.flows} duplicates={len(c.duplicates)} losses={len(c.losses)} "
                     f"retried_after_unavailable={c.retries}")
    total = list(SUMMARY.values())
    lines.append(f"  total: flows={sum(c.flows for c in total)} duplicates={sum(len(c.duplicates) for c in total)} "
                 f"losses={sum(len(c.losses) for c in total)}")
    # Past pytest's capture, so that a plain run shows them too, not only -s.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        print("\n".join(lines), flush=True)


# --- two replicas on one database ---------------------------------------------------------


@dataclass
class Replica:
    name: str
    served: Served
    rest_port: int
    stub: pb_grpc.BookingServiceStub | None = None
    rest: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self.stub = await self.served.start()
        self.rest = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.rest_port}/v3",
                                      auth=(REST_USER, ENV["BRIDGE_REST_PASSWORD"]), timeout=30.0)

    async def close(self) -> None:
        if self.rest is not None:
            await self.rest.aclose()
        await self.served.close()


@dataclass
class Pair:
    a: Replica
    b: Replica
    database: str

    def __getitem__(self, i: int) -> Replica:
        return (self.a, self.b)[i % 2]


@pytest.fixture
def database(postgres: Any) -> str:
    """A fresh, migrated database of the session's throwaway cluster (skips without PostgreSQL)."""
    return postgres.new_database(pgcluster.TEMPLATE)


@pytest.fixture
async def replicas(
    live_sim: Simulator, database: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> AsyncIterator[Callable[..., Awaitable[Pair]]]:
    """Starts replicas A and B: same mappings, identity key and database, their own ports
    (gRPC and v3 REST); with ``google``, both keep that fake Google in step."""
    started: list[Replica] = []

    async def start(google: FakeGoogle | None = None) -> Pair:
        extra = '[server.rest_auth]\nusername = "google"\npassword_env = "BRIDGE_REST_PASSWORD"\n'
        if google is not None:
            monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.write_key_file(tmp_path / "key.json")))
            extra += (f'[google]\npartner_id = "{google.partner_id}"\napi_base_url = "{google.base_url}"\n'
                      f"notify_within_seconds = {NOTIFY_WITHIN}\n")
        pair = []
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            rest_port = free_port()
            served = serve_config(live_sim, folder, extra, server=f'rest_listen = "127.0.0.1:{rest_port}"\n',
                                  store=f'url = "{database}"')
            pair.append(Replica(name.upper(), served, rest_port))
            started.append(pair[-1])
        await asyncio.gather(*(replica.start() for replica in pair))
        return Pair(pair[0], pair[1], database)

    try:
        yield start
    finally:
        for replica in started:
            await replica.close()


async def rows(database: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    """What the shared store holds, read as a third party."""
    async with await psycopg.AsyncConnection.connect(database, autocommit=True, row_factory=dict_row) as db:
        return await (await db.execute(sql, args)).fetchall()  # type: ignore[arg-type]


# --- what the upstream did -------------------------------------------------------------------


class Upstream:
    """The simulator's holds and confirms, counted as they succeed: holds by slot start,
    confirms by appointment. (Its request log has no bodies, so it cannot say which slot a
    hold was for, and a released hold vanishes from its state.)"""

    def __init__(self, sim: Simulator, monkeypatch: pytest.MonkeyPatch):
        self.sim = sim
        self.holds: dict[dt.datetime, list[str]] = {}
        self.confirms: Counter[str] = Counter()
        hold, confirm = sim.state.hold, sim.state.confirm

        def counted_hold(req: HoldRequest) -> Appointment:
            appointment = hold(req)
            self.holds.setdefault(appointment.start, []).append(appointment.id)
            return appointment

        def counted_confirm(appointment_id: str, customer: dict[str, str | None]) -> Appointment:
            appointment = confirm(appointment_id, customer)
            self.confirms[appointment_id] += 1
            return appointment

        monkeypatch.setattr(sim.state, "hold", counted_hold)
        monkeypatch.setattr(sim.state, "confirm", counted_confirm)

    def holds_at(self, start: dt.datetime) -> list[str]:
        return self.holds.get(start, [])

    def confirms_sent(self, appointment_id: str) -> int:
        """Confirm requests that reached the upstream for the hold, successful or not."""
        return sum(r.method == "PUT" and r.path == f"/reservations/{appointment_id}" for r in self.sim.requests)

    def confirmed_at(self, start: dt.datetime) -> list[Appointment]:
        return [a for a in self.sim.state.appointments.values() if a.start == start and a.status == CONFIRMED]


# --- callers -------------------------------------------------------------------------------


class Unavailable(Exception):
    """The replica asked to be asked again (HTTP 503; gRPC says UNAVAILABLE)."""


class Refused(Exception):
    """Any other answer than the one wanted (a REST error, a booking failure)."""


@dataclass
class Outcome:
    value: Any = None  # the lease id, booking id or REST body the caller finally got
    error: str | None = None  # else, what it was last told
    retries: int = 0


async def answered(attempt: Callable[[Replica], Awaitable[Any]], replicas: list[Replica], first: int) -> Outcome:
    """One caller: ``attempt`` on ``replicas[first]``, after UNAVAILABLE again on the next
    replica, at once the first time (the worst case: the other call is still in flight),
    then backing off a little."""
    retries, last = 0, ""
    for i in range(ATTEMPTS):
        replica = replicas[(first + i) % len(replicas)]
        try:
            return Outcome(value=await attempt(replica), retries=retries)
        except Refused as exc:
            return Outcome(error=f"{replica.name}: {exc}", retries=retries)
        except (Unavailable, grpc.aio.AioRpcError) as exc:
            if isinstance(exc, grpc.aio.AioRpcError) and exc.code() is not grpc.StatusCode.UNAVAILABLE:
                return Outcome(error=f"{replica.name}: {exc.code().name} {exc.details()}", retries=retries)
            retries += 1
            last = f"{replica.name}: UNAVAILABLE"
            if i:
                await asyncio.sleep(0.05 * i)  # a client's backoff, not a wait for the servers
    return Outcome(error=f"{last} after {ATTEMPTS} attempts", retries=retries)


async def both_at_once(attempt: Callable[[Replica], Awaitable[Any]], pair: Pair) -> tuple[Outcome, Outcome]:
    """The same request to A and B at the same moment, each caller retrying on its own."""
    first, second = await asyncio.gather(answered(attempt, [pair.a, pair.b], 0), answered(attempt, [pair.a, pair.b], 1))
    return first, second


def judge_answers(counts: Counts, what: str, outcomes: tuple[Outcome, Outcome]) -> Any:
    """Both callers must end with the same answer; the answer, or None."""
    counts.retries += sum(o.retries for o in outcomes)
    values = {o.value for o in outcomes if o.error is None}
    for caller, o in zip("AB", outcomes, strict=True):
        if o.error is not None:
            counts.losses.append(f"{what}: the caller that asked {caller} first got {o.error}")
    if len(values) > 1:
        counts.duplicates.append(f"{what}: the two callers got different answers")
    return next(iter(values)) if len(values) == 1 else None


def slots(n: int) -> list[dt.datetime]:
    """``n`` distinct half-hour haircut slots tomorrow from 09:00. Haircuts have two staff
    in Stockholm, so a second hold on a slot succeeds too and shows as a duplicate, not as
    a refusal."""
    return [tomorrow_at(9) + dt.timedelta(minutes=30 * i) for i in range(n)]


def lease_call(start: dt.datetime, reference: str) -> Callable[[Replica], Awaitable[str]]:
    async def call(replica: Replica) -> str:
        assert replica.stub is not None
        request = pb.CreateLeaseRequest(lease=lease_message(start, reference=reference))
        return (await replica.stub.CreateLease(request, timeout=15)).lease.lease_id

    return call


def booking_call(lease_id: str) -> Callable[[Replica], Awaitable[str]]:
    async def call(replica: Replica) -> str:
        assert replica.stub is not None
        request = pb.CreateBookingRequest(lease_ref=pb.LeaseReference(lease_id=lease_id),
                                          client_information=client_message())
        booking = (await replica.stub.CreateBooking(request, timeout=15)).booking
        if booking.status != pb.CONFIRMED:
            raise Refused(f"booking {booking.booking_id} is {pb.BookingStatus.Name(booking.status)}")
        return booking.booking_id

    return call


async def until(condition: Callable[[], bool | Awaitable[bool]], limit: float = PATIENCE) -> bool:
    """Poll until ``condition`` holds; False after ``limit`` seconds (the caller counts it).
    Nothing is asserted about how long it took."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        held = condition()
        if held if isinstance(held, bool) else await held:
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)


# --- 1. CreateLease, the same one to both ----------------------------------------------------


async def test_the_same_lease_sent_to_both_replicas_holds_once(
    replicas: Callable[..., Awaitable[Pair]], live_sim: Simulator, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    counts = counts_for(request)
    pair = await replicas()
    upstream = Upstream(live_sim, monkeypatch)
    for i, start in enumerate(slots(FLOWS)):
        reference = f"dup-lease-{i}"
        counts.flows += 1
        lease_id = judge_answers(counts, reference, await both_at_once(lease_call(start, reference), pair))
        holds = upstream.holds_at(start)
        stored = await rows(pair.database, "SELECT lease_id, state, hold_id FROM leases WHERE client_reference = %s",
                            reference)
        if len(holds) > 1:
            kept = {r["hold_id"] for r in stored}
            counts.duplicates.append(f"{reference}: {len(holds)} upstream holds, {len(set(holds) - kept)} of them "
                                     "held by no stored lease")
        if lease_id is None:
            continue
        if not holds:
            counts.losses.append(f"{reference}: answered {lease_id} but no upstream hold")
        if [(r["lease_id"], r["state"]) for r in stored] != [(lease_id, "held")] or stored[0]["hold_id"] not in holds:
            counts.losses.append(f"{reference}: the answered lease is not the stored, held one: {stored}")
    counts.check()


# --- 2. CreateBooking, the same one to both --------------------------------------------------


async def test_the_same_booking_sent_to_both_replicas_confirms_once(
    replicas: Callable[..., Awaitable[Pair]], live_sim: Simulator, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    counts = counts_for(request)
    pair = await replicas()
    upstream = Upstream(live_sim, monkeypatch)
    leases = []
    for i, start in enumerate(slots(FLOWS)):  # one at a time, alternating replicas: no race here
        leases.append((start, await lease_call(start, f"dup-booking-{i}")(pair[i])))
    for start, lease_id in leases:
        counts.flows += 1
        booking_id = judge_answers(counts, lease_id, await both_at_once(booking_call(lease_id), pair))
        [hold] = upstream.holds_at(start)
        if upstream.confirms_sent(hold) > 1 or upstream.confirms[hold] > 1:
            counts.duplicates.append(f"{lease_id}: {upstream.confirms_sent(hold)} confirms sent upstream, "
                                     f"{upstream.confirms[hold]} succeeded")
        if booking_id is None:
            continue
        stored = await rows(pair.database, "SELECT booking_id, status FROM bookings WHERE lease_id = %s", lease_id)
        if upstream.confirms[hold] != 1 or stored != [{"booking_id": booking_id, "status": "confirmed"}]:
            counts.losses.append(f"{lease_id}: answered {booking_id}, upstream confirms {upstream.confirms[hold]}, "
                                 f"stored {stored}")
    counts.check()


# --- 3. v3 REST CreateBooking without a lease, the same one to both --------------------------


def rest_booking_call(token: str, start: dt.datetime) -> Callable[[Replica], Awaitable[bytes]]:
    async def call(replica: Replica) -> bytes:
        assert replica.rest is not None
        r = await replica.rest.post("/CreateBooking", json=booking_request(token, start))
        if r.status_code == 503:
            raise Unavailable
        if r.status_code != 200 or "booking" not in r.json():
            raise Refused(f"HTTP {r.status_code} {r.text[:200]}")
        return r.content

    return call


async def test_the_same_v3_booking_sent_to_both_replicas_holds_and_confirms_once(
    replicas: Callable[..., Awaitable[Pair]], live_sim: Simulator, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    counts = counts_for(request)
    pair = await replicas()
    upstream = Upstream(live_sim, monkeypatch)
    for i, start in enumerate(slots(FLOWS)):
        token = f"dup-v3-{i}"
        counts.flows += 1
        # Byte-identical answers: two different bodies count as two answers.
        body = judge_answers(counts, token, await both_at_once(rest_booking_call(token, start), pair))
        holds = upstream.holds_at(start)
        if len(holds) > 1:
            counts.duplicates.append(f"{token}: {len(holds)} upstream holds")
        if any(upstream.confirms_sent(h) > 1 for h in holds) or sum(upstream.confirms[h] for h in holds) > 1:
            counts.duplicates.append(f"{token}: {[upstream.confirms_sent(h) for h in holds]} confirms sent")
        if body is None:
            continue
        booking = json.loads(body)["booking"]
        stored = await rows(pair.database, "SELECT status FROM bookings WHERE booking_id = %s", booking["booking_id"])
        confirmed = len(upstream.confirmed_at(start))
        if booking["status"] != "CONFIRMED" or stored != [{"status": "confirmed"}] or confirmed != 1:
            counts.losses.append(f"{token}: answered {booking['booking_id']} ({booking['status']}), stored {stored}, "
                                 f"{confirmed} confirmed upstream")
    counts.check()


# --- 4. a replica killed while its confirm is in flight -------------------------------------


@pytest.mark.parametrize("fault", ["hang", "pause"])
async def test_a_replica_killed_mid_confirm_leaves_the_booking_to_the_other(
    fault: str, replicas: Callable[..., Awaitable[Pair]], live_sim: Simulator,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
) -> None:
    """``hang``: the confirm A sent is dropped unprocessed once released; ``pause``: it is
    carried out once released, after A is dead. Either way B finishes the booking."""
    counts = counts_for(request)
    counts.flows = 1
    pair = await replicas()
    upstream = Upstream(live_sim, monkeypatch)
    start = tomorrow_at(12)
    lease_id = await lease_call(start, f"kill-{fault}")(pair.a)
    [hold] = upstream.holds_at(start)
    live_sim.faults.add(method="PUT", path=rf"^/reservations/{hold}$", action=fault)
    in_flight = asyncio.ensure_future(booking_call(lease_id)(pair.a))
    assert await until(lambda: upstream.confirms_sent(hold) == 1), "A's confirm never reached the upstream"
    await pair.a.served.kill()
    with pytest.raises(grpc.aio.AioRpcError):
        await in_flight  # A died mid-call
    live_sim.faults.clear()  # releases the confirm held at the upstream

    outcome = await answered(booking_call(lease_id), [pair.b], 0)
    counts.retries += outcome.retries
    stored = await rows(pair.database, "SELECT booking_id, status FROM bookings WHERE lease_id = %s", lease_id)
    lease = await rows(pair.database, "SELECT state FROM leases WHERE lease_id = %s", lease_id)
    if outcome.error is not None:
        counts.losses.append(f"B did not finish the booking: {outcome.error}")
    elif stored != [{"booking_id": outcome.value, "status": "confirmed"}] or lease != [{"state": "consumed"}]:
        counts.losses.append(f"B answered {outcome.value}; the store holds {stored}, the lease {lease}")
    if len(upstream.confirmed_at(start)) != 1:
        counts.losses.append(f"{len(upstream.confirmed_at(start))} confirmed appointments upstream")
    if upstream.confirms[hold] > 1 or len(upstream.holds_at(start)) > 1:
        counts.duplicates.append(f"{len(upstream.holds_at(start))} holds, {upstream.confirms[hold]} confirms")
    counts.check()


# --- 5. a change at the branch, watched by both ---------------------------------------------


async def book(replica: Replica, start: dt.datetime, reference: str) -> str:
    return await booking_call(await lease_call(start, reference)(replica))(replica)


async def test_a_branch_cancellation_reaches_google_once_from_two_watching_replicas(
    replicas: Callable[..., Awaitable[Pair]], live_sim: Simulator, live_google: FakeGoogle,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
) -> None:
    """Booking X is cancelled at the branch while both replicas watch it: Google hears once.

    A duplicate would come from the other replica reading X, or sending X's notification,
    too, in one of its rounds after the first. So after X's notification the test waits a
    whole watcher period more, observably: booking Y, made and read once after that, is then
    cancelled at the branch too, which the replicas can only notice at Y's next read, a
    period after the first. Y's notification arriving (once) closes the wait. (X is
    cancelled at once, before its first read as a rule, so that it is noticed at that read.)"""
    counts = counts_for(request)
    counts.flows = 2
    pair = await replicas(google=live_google)
    upstream = Upstream(live_sim, monkeypatch)

    def notifications(booking_id: str) -> list[dict[str, Any]]:
        return [n.body for n in live_google.notifications if n.booking_id == booking_id]

    def reads_of(appointment: Appointment) -> int:
        return sum(r.method == "GET" and r.path == f"/appointments/{appointment.id}" for r in live_sim.requests)

    async def cancelled_at_branch(name: str, replica: Replica, start: dt.datetime, *, after_a_read: bool) -> str:
        """Book at ``start`` through ``replica``, cancel it at the branch (``after_a_read``:
        once a replica has read it), and wait for Google to hear of it."""
        booking_id = await book(replica, start, f"branch-{name}")
        [appointment] = upstream.confirmed_at(start)
        if after_a_read:
            assert await until(lambda: reads_of(appointment) >= 1), f"{name} was never read by either replica"
        live_sim.state.cancel_at_branch(appointment.id)
        if not await until(lambda: bool(notifications(booking_id))):
            counts.losses.append(f"{name}'s cancellation at the branch never reached Google")
        return booking_id

    x = await cancelled_at_branch("X", pair.b, tomorrow_at(10), after_a_read=False)
    y = await cancelled_at_branch("Y", pair.a, tomorrow_at(11), after_a_read=True)  # a period's worth later

    async def outbox_settled() -> bool:
        return not await rows(pair.database, "SELECT id FROM outbox WHERE state = 'pending'")

    # Both delivered and settled: nothing is still on its way that could be a duplicate.
    settled = await until(outbox_settled)
    for name, booking_id in (("X", x), ("Y", y)):
        bodies = notifications(booking_id)
        if len(bodies) > 1:
            counts.duplicates.append(f"{name}: {len(bodies)} notifications reached Google")
        if any(body.get("status") != "CANCELED" for body in bodies):
            counts.losses.append(f"{name}: Google was told {[body.get('status') for body in bodies]}, not CANCELED")
    if not settled:
        counts.duplicates.append("a notification was still pending after both were delivered")
    counts.check()
