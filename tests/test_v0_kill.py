"""SIGKILL at the worst moments: a real `booking-bridge serve` process, killed and restarted."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pathlib
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v0_pb2_grpc as pb_grpc
from bridge.clock import SystemClock
from bridge.simulator import Simulator, seed

from . import logcheck
from .harness import ENV, client_message, lease_message

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


class Served:
    """`booking-bridge serve` as a child process on a fixed loopback port."""

    def __init__(self, config: pathlib.Path, port: int, log: pathlib.Path):
        self.config, self.port, self.log = config, port, log
        self.process: subprocess.Popen[bytes] | None = None
        # The child's JSON log lines are held to the same rules as this process's.
        logcheck.watch(log)
        # Every child and channel ever started, so the fixture's teardown can end them all.
        self.processes: list[subprocess.Popen[bytes]] = []
        self.channels: list[grpc.aio.Channel] = []

    async def start(self) -> pb_grpc.BookingServiceStub:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bridge", "serve", "--config", str(self.config)],
                env={**os.environ, **ENV},
                stdout=log,
                stderr=log,
            )
        self.processes.append(self.process)
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}")
        self.channels.append(self.channel)
        health = health_pb2_grpc.HealthStub(self.channel)
        # Bounded wait for readiness; nothing is asserted about how long it took.
        answer = await health.Check(health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=30)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        return pb_grpc.BookingServiceStub(self.channel)

    async def kill(self) -> None:
        """SIGKILL; calls in flight on the channel fail as the connection drops."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    async def terminate(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=20)
        await self.channel.close()
        return code

    async def close(self) -> None:
        """Teardown, also after a failed assertion: SIGKILL and reap every child still running."""
        for channel in self.channels:
            await channel.close()
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def live_sim() -> AsyncIterator[Simulator]:
    # The child process runs on the real clock, so the simulator does too.
    simulator = Simulator(SystemClock())
    await simulator.start()
    yield simulator
    await simulator.stop()


def serve_config(sim: Simulator, folder: pathlib.Path, extra: str = "", *, server: str = "",
                 store: str = 'path = "bridge.sqlite3"') -> Served:
    """A `booking-bridge serve` child's config in ``folder`` (its store beside it), on a free
    port, with ``extra`` TOML appended. ``server`` adds lines to its [server] table (TOML
    cannot reopen a table from ``extra``); ``store`` replaces its [store] lines (a url for
    PostgreSQL, tests/test_replicas.py)."""
    port = free_port()
    config = folder / "bridge.toml"
    config.write_text(
        f'[server]\ngrpc_listen = "127.0.0.1:{port}"\nshutdown_grace_seconds = 5.0\n{server}'
        f'[upstream]\nbase_url = "{sim.base_url}"\ntoken_url = "{sim.token_url}"\n'
        f'account = "{seed.DEMO_ACCOUNT}"\ntenant_id = "{seed.DEMO_TENANT_ID}"\n'
        f'[store]\n{store}\n'
        f'[booking]\ndefault_time_zone = "Europe/Stockholm"\n' + extra
    )
    return Served(config, port, folder / "serve.log")


@pytest.fixture
async def served(live_sim: Simulator, tmp_path: pathlib.Path) -> AsyncIterator[Served]:
    served = serve_config(live_sim, tmp_path)
    try:
        yield served
    finally:
        await served.close()


def tomorrow_at(hour: int) -> dt.datetime:
    zone = seed.zone(seed.STOCKHOLM)
    day = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zone).astimezone(dt.timezone.utc)


def confirmed(sim: Simulator) -> int:
    return sum(a.status == "CONFIRMED" for a in sim.state.appointments.values())


async def test_kill_while_the_confirm_is_in_flight_then_replay(served: Served, live_sim: Simulator) -> None:
    stub = await served.start()
    lease = (await stub.CreateLease(pb.CreateLeaseRequest(lease=lease_message(tomorrow_at(10), reference="k1")),
                                    timeout=10)).lease
    live_sim.faults.add(method="PUT", path=r"^/reservations/", action="hang")
    booking_request = pb.CreateBookingRequest(lease_ref=pb.LeaseReference(lease_id=lease.lease_id),
                                              client_information=client_message())
    call = asyncio.ensure_future(stub.CreateBooking(booking_request, timeout=30))
    for _ in range(3000):  # until the confirm has reached the upstream (bounded)
        if any(r.method == "PUT" for r in live_sim.requests):
            break
        await asyncio.sleep(0.01)
    assert any(r.method == "PUT" for r in live_sim.requests), "the confirm never reached the upstream"
    await served.kill()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    await served.channel.close()
    live_sim.faults.clear()  # the hung confirm is dropped unprocessed

    stub = await served.start()
    replayed_lease = (await stub.CreateLease(pb.CreateLeaseRequest(lease=lease_message(tomorrow_at(10), reference="k1")),
                                             timeout=10)).lease
    assert replayed_lease == lease
    booking = (await stub.CreateBooking(booking_request, timeout=10)).booking
    assert booking.status == pb.CONFIRMED
    assert confirmed(live_sim) == 1
    # One hold for the lease (its replay held nothing new); the lost confirm, one look-up of
    # the pending booking, then exactly one confirm more.
    writes = [(r.method, r.path.split("/")[1]) for r in live_sim.requests if r.method in ("POST", "PUT", "DELETE")
              and not r.path.startswith("/oauth2")]
    assert writes == [("POST", "reservations"), ("PUT", "reservations"), ("PUT", "reservations")]
    assert sum(r.method == "GET" and r.path.startswith("/appointments/") for r in live_sim.requests) == 1
    assert await served.terminate() == 0


async def test_kill_right_after_a_booking_then_replays_answer_as_before(served: Served, live_sim: Simulator) -> None:
    stub = await served.start()
    lease = (await stub.CreateLease(pb.CreateLeaseRequest(lease=lease_message(tomorrow_at(11), reference="k2")),
                                    timeout=10)).lease
    request = pb.CreateBookingRequest(lease_ref=pb.LeaseReference(lease_id=lease.lease_id),
                                      client_information=client_message())
    booking = (await stub.CreateBooking(request, timeout=10)).booking
    await served.kill()
    await served.channel.close()

    stub = await served.start()
    assert (await stub.CreateBooking(request, timeout=10)).booking == booking
    writes = [r for r in live_sim.requests if r.method in ("PUT", "DELETE")]
    assert len(writes) == 1
    assert sum(r.method == "POST" and r.path == "/reservations" for r in live_sim.requests) == 1
    assert confirmed(live_sim) == 1
    assert await served.terminate() == 0
