"""gRPC health follows the upstream ([server] health_follows_upstream): NOT_SERVING for ""
and both booking services while Qmatic does not answer or refuses the credentials,
SERVING again when it answers; health checks themselves never reach the upstream.

Refreshes are driven by hand (fresh probes), the background loop by a tiny interval
and a bounded wait: nothing here asserts how long anything took."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator

import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from bridge.clock import ManualClock
from bridge.health_follow import HealthFollower
from bridge.simulator import Simulator

from .harness import Harness, at, bridge_config

NAMES = ("", "ext.maps.booking.partner.v0.BookingService", "ext.maps.booking.partner.v2.BookingService")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def following(sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path) -> AsyncIterator[Harness]:
    config = bridge_config(sim, tmp_path / "bridge.sqlite3", server={"health_follows_upstream": True})
    h = Harness(sim=sim, clock=clock, config=config)
    await h.start()
    yield h
    await h.stop()


async def statuses(h: Harness) -> set[int]:
    stub = health_pb2_grpc.HealthStub(h.channel)
    return {(await stub.Check(health_pb2.HealthCheckRequest(service=name))).status for name in NAMES}


def follower(h: Harness) -> HealthFollower:
    assert h.server.observe.health is not None
    return h.server.observe.health


async def test_failing_services_endpoint_turns_every_name_not_serving_until_it_answers(following: Harness) -> None:
    assert await follower(following).refresh(fresh=True)
    assert await statuses(following) == {SERVING}

    following.sim.faults.add("GET", "/services$", status=503, times=None)
    assert not await follower(following).refresh(fresh=True)
    assert await statuses(following) == {NOT_SERVING}

    following.sim.faults.clear()
    assert await follower(following).refresh(fresh=True)
    assert await statuses(following) == {SERVING}
    # Serving again means serving: a booking call goes through.
    assert (await following.lease(at(1, 10))).lease_id


async def test_refused_credentials_turn_it_not_serving(following: Harness) -> None:
    assert await follower(following).refresh(fresh=True)
    following.sim.revoke_tokens()  # the next call needs a new token...
    following.sim.faults.add("POST", "/oauth2/token", status=401, times=None)  # ...which is refused
    assert not await follower(following).refresh(fresh=True)
    assert await statuses(following) == {NOT_SERVING}
    following.sim.faults.clear()
    assert await follower(following).refresh(fresh=True)
    assert await statuses(following) == {SERVING}


async def test_health_checks_never_reach_the_upstream(following: Harness) -> None:
    await follower(following).refresh(fresh=True)
    before = len(following.sim.requests)
    for _ in range(20):
        assert await statuses(following) == {SERVING}
    assert len(following.sim.requests) == before


async def test_a_refresh_reuses_the_probe_that_v3_healthcheck_made(following: Harness) -> None:
    assert (await following.rest.get("/HealthCheck")).status_code == 200
    probes = following.upstream_calls("GET", "/external/v1/services")
    assert await follower(following).refresh()  # not fresh: the cached answer, no new probe
    assert following.upstream_calls("GET", "/external/v1/services") == probes


async def test_the_background_loop_applies_each_change(following: Harness) -> None:
    """A follower on its own servicer with a tiny interval and a switchable answer."""
    servicer = health.aio.HealthServicer()
    answers: list[bool] = [True]
    asked = asyncio.Event()

    async def healthy(*, fresh: bool = False) -> bool:
        asked.set()
        return answers[-1]

    loop = HealthFollower(healthy, servicer, NAMES, every=0.001)
    loop.start()
    try:
        for answer, expected in ((True, SERVING), (False, NOT_SERVING), (True, SERVING)):
            answers.append(answer)
            await _until(servicer, expected)
    finally:
        await loop.stop()
    assert asked.is_set()


async def _until(servicer: health.aio.HealthServicer, status: int) -> None:
    """Bounded wait for every name to show ``status``; fails if it never does."""
    for _ in range(5000):
        try:
            seen = {(await servicer.Check(health_pb2.HealthCheckRequest(service=name), _Context())).status
                    for name in NAMES}
        except LookupError:  # not set yet
            seen = set()
        if seen == {status}:
            return
        await asyncio.sleep(0.001)
    pytest.fail(f"health never showed {status}")


class _Context:
    """What HealthServicer.Check asks of a context: nothing, unless the name is not set."""

    async def abort(self, *args: object) -> None:
        raise LookupError(args)
