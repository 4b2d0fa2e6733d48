"""The Prometheus endpoint of a running bridge: scraped over HTTP before and after real
calls, each count must move by exactly what the calls did, and nothing else may move."""

from __future__ import annotations

import dataclasses
import pathlib
import socket
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge import exitcodes
from bridge.exitcodes import StartupFailure
from bridge.clock import ManualClock
from bridge.inventory.feeds.export import export
from bridge.metrics import Metrics
from bridge.simulator import FakeGoogle, Simulator, seed

from .google_harness import fake_google, google_harness, step  # noqa: F401
from .harness import ENV, REST_NEXT_USER, Harness, at, bridge_config

V0 = "ext.maps.booking.partner.v0.BookingService"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

WITH_METRICS = {"metrics_listen": "127.0.0.1:0"}


@pytest.fixture
async def observed(sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path) -> AsyncIterator[Harness]:
    h = Harness(sim=sim, clock=clock, config=bridge_config(sim, tmp_path / "bridge.sqlite3", server=WITH_METRICS))
    await h.start()
    yield h
    await h.stop()


async def scrape(h: Harness) -> Samples:
    port = h.server.observe.metrics_port
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every count that changed, and by how much; time sums, buckets and gauges left out
    (what took how long is not a count)."""
    changed = {}
    for key, value in after.items():
        name = key[0]
        if name.endswith(("_sum", "_bucket")) or not name.endswith(("_total", "_count")):
            continue
        if (delta := value - before.get(key, 0.0)) != 0:
            changed[key] = delta
    return changed


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def grpc_call(method: str, code: str = "OK", service: str = V0) -> dict:
    labels = {"grpc_service": service, "grpc_method": method, "grpc_type": "unary"}
    return {
        key("grpc_server_started_total", **labels): 1,
        key("grpc_server_handled_total", **labels, grpc_code=code): 1,
        key("grpc_server_handling_seconds_count", **labels): 1,
    }


def upstream(operation: str, status: str, times: int = 1) -> dict:
    return {
        key("bridge_upstream_requests_total", operation=operation, status=status): times,
        key("bridge_upstream_request_seconds_count", operation=operation): times,
    }


def summed(*parts: dict) -> dict:
    total: dict = {}
    for part in parts:
        for k, v in part.items():
            total[k] = total.get(k, 0) + v
    return total


def rest_call(method: str, code: int) -> dict:
    return {
        key("http_requests_total", method=method, code=str(code)): 1,
        key("http_request_duration_seconds_count", method=method): 1,
    }


async def test_a_lease_moves_exactly_its_own_counts(observed: Harness) -> None:
    await observed.lease(at(1, 10), reference="warm-up")  # the token and the catalogue, once
    before = await scrape(observed)
    await observed.lease(at(1, 11), reference="measured")
    after = await scrape(observed)
    assert moved(before, after) == {
        **grpc_call("CreateLease"),
        **upstream("POST /reservations", "201"),
        key("bridge_leases_created_total"): 1,
    }


async def test_the_first_call_fetches_the_token_once_and_reads_the_catalogue(observed: Harness) -> None:
    before = await scrape(observed)
    await observed.lease(at(1, 10))
    assert moved(before, await scrape(observed)) == {
        **grpc_call("CreateLease"),
        **upstream("POST token", "200"),
        **upstream("GET /services", "200"),
        **upstream("POST /reservations", "201"),
        key("bridge_upstream_token_fetches_total", outcome="ok"): 1,
        key("bridge_leases_created_total"): 1,
    }


async def test_a_replayed_lease_and_booking_send_nothing_upstream(observed: Harness) -> None:
    lease = await observed.lease(at(1, 10))
    booking = await observed.book(lease.lease_id)
    before = await scrape(observed)
    assert (await observed.lease(at(1, 10))).lease_id == lease.lease_id
    assert (await observed.book(lease.lease_id)).booking_id == booking.booking_id
    assert moved(before, await scrape(observed)) == {
        **grpc_call("CreateLease"),
        **grpc_call("CreateBooking"),
        key("bridge_idempotent_replays_total", operation="CreateLease"): 1,
        key("bridge_idempotent_replays_total", operation="CreateBooking"): 1,
    }


async def test_a_taken_slot_counts_the_final_grpc_code_and_the_booking_failure(observed: Harness) -> None:
    await observed.lease(at(1, 10), reference="warm-up")
    observed.sim.faults.add("POST", "/reservations$", status=409,
                            body={"errorCode": "TIMESLOT_UNAVAILABLE", "message": "taken"})
    before = await scrape(observed)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await observed.lease(at(1, 11), reference="taken")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The rpc wrapper answers with context.abort, which raises: the interceptor still
    # counts the code the caller got.
    assert moved(before, await scrape(observed)) == {
        **grpc_call("CreateLease", "RESOURCE_EXHAUSTED"),
        **upstream("POST /reservations", "409"),
        key("bridge_booking_failures_total", cause="SLOT_UNAVAILABLE"): 1,
    }


async def test_an_expired_lease_is_counted_when_a_booking_finds_it(observed: Harness) -> None:
    lease = await observed.lease(at(1, 10))
    observed.clock.advance(minutes=15)
    before = await scrape(observed)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await observed.book(lease.lease_id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert moved(before, await scrape(observed)) == {
        **grpc_call("CreateBooking", "NOT_FOUND"),
        # The bridge gives the hold back; the simulator's had lapsed at the same moment.
        **upstream("DELETE /reservations/reservations/{id}", "404"),
        key("bridge_leases_expired_total"): 1,
        key("bridge_booking_failures_total", cause="LEASE_EXPIRED"): 1,
    }


async def test_rest_calls_are_counted_by_method_never_by_raw_path(observed: Harness) -> None:
    await observed.rest.get("/HealthCheck")  # the token and the probe, once
    before = await scrape(observed)
    assert (await observed.rest.get("/HealthCheck")).status_code == 200  # the cached probe
    assert (await observed.rest.post("/CreateLease", json={})).status_code == 400
    assert (await observed.rest.post("/NoSuchMethod/booking-1234", json={})).status_code == 404
    refused = await observed.rest.post("/CreateLease", json={}, auth=(REST_NEXT_USER, "wrong"))
    assert refused.status_code == 401
    assert moved(before, await scrape(observed)) == summed(
        rest_call("v3/HealthCheck", 200),
        rest_call("v3/CreateLease", 400),
        rest_call("unmatched", 404),
        rest_call("v3/CreateLease", 401),
    )


async def test_a_v3_business_failure_is_http_200_and_counted_by_cause(observed: Harness) -> None:
    lease = {"lease": {"slot": {"merchant_id": seed.STOCKHOLM, "service_id": seed.HAIRCUT,
                                "start_sec": int(at(1, 10).timestamp()), "duration_sec": 1800},
                       "user_reference": "v3-taken"}}
    await observed.rest.get("/HealthCheck")
    await observed.lease(at(1, 12), reference="warm-up")
    observed.sim.faults.add("POST", "/reservations$", status=409,
                            body={"errorCode": "TIMESLOT_UNAVAILABLE", "message": "taken"})
    before = await scrape(observed)
    answer = await observed.rest.post("/CreateLease", json=lease)
    assert answer.status_code == 200 and answer.json()["booking_failure"]["cause"] == "SLOT_UNAVAILABLE"
    assert moved(before, await scrape(observed)) == {
        **rest_call("v3/CreateLease", 200),
        **upstream("POST /reservations", "409"),
        key("bridge_booking_failures_total", cause="SLOT_UNAVAILABLE"): 1,
    }


async def test_health_checks_are_counted_too(observed: Harness) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    before = await scrape(observed)
    await health_pb2_grpc.HealthStub(observed.channel).Check(health_pb2.HealthCheckRequest(service=V0))
    assert moved(before, await scrape(observed)) == grpc_call("Check", service="grpc.health.v1.Health")


async def test_two_bridges_in_one_process_keep_their_own_counts(
    observed: Harness, sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    other = Harness(sim=sim, clock=clock, config=bridge_config(sim, tmp_path / "other.sqlite3", server=WITH_METRICS))
    await other.start()
    try:
        before = await scrape(other)
        await observed.lease(at(1, 10))
        assert moved(before, await scrape(other)) == {}
    finally:
        await other.stop()


async def test_the_inventory_backlog_and_what_it_sends(
    sim: Simulator, clock: ManualClock, fake_google: FakeGoogle, tmp_path: pathlib.Path
) -> None:
    h = google_harness(sim, clock, fake_google, tmp_path)
    h.config = dataclasses.replace(h.config, server=dataclasses.replace(h.config.server, **WITH_METRICS))
    await h.start()
    try:
        inventory = h.bridge.inventory
        assert inventory is not None
        booking = await h.book((await h.lease(at(1, 10))).lease_id)
        await step(h)  # its first read: nothing changed; the next is a period away
        assert (await scrape(h))[key("bridge_watcher_lag_seconds")] == 0
        # Nobody reads for the period and 30 s more: the watcher is 30 s behind its promise.
        clock.advance(seconds=inventory.watcher.period + 30)
        assert (await scrape(h))[key("bridge_watcher_lag_seconds")] == 30

        [appointment] = [a for a in sim.state.appointments.values() if a.status == "CONFIRMED"]
        sim.state.cancel_at_branch(appointment.id)
        before = await scrape(h)
        await inventory.watcher.tick()  # reads it, notices the cancel: one notification waits
        waiting = await scrape(h)
        assert (waiting[key("bridge_outbox_pending")], waiting[key("bridge_watcher_lag_seconds")]) == (1, 0)
        assert moved(before, waiting) == upstream("GET /appointments/{id}", "200")

        await inventory.notifier.flush()
        sent = await scrape(h)
        assert sent[key("bridge_outbox_pending")] == 0
        assert [n.booking_id for n in fake_google.notifications] == [booking.booking_id]
        assert moved(waiting, sent) == {key("bridge_notifications_total", outcome="sent"): 1}

        await inventory.updates.flush()  # the booked and freed day, in one replace
        replaced = await scrape(h)
        assert moved(sent, replaced)[key("bridge_availability_replaces_total", outcome="sent")] == 1
    finally:
        await h.stop()


async def test_a_taken_metrics_address_stops_the_start(sim: Simulator, clock: ManualClock,
                                                        tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        h = Harness(sim=sim, clock=clock,
                    config=bridge_config(sim, tmp_path / "bridge.sqlite3", server={"metrics_listen": address}))
        try:
            with pytest.raises(StartupFailure) as err:
                await h.start()
        finally:
            await h.bridge.aclose()
    assert err.value.code == exitcodes.LISTEN
    [problem] = err.value.problems
    assert problem.startswith(f"[server] metrics_listen: cannot listen on {address}: ")


async def test_a_feed_export_counts_itself_and_its_slots(sim: Simulator, clock: ManualClock,
                                                        tmp_path: pathlib.Path) -> None:
    metrics = Metrics()
    config = bridge_config(sim, tmp_path / "bridge.sqlite3")
    done = await export(config, tmp_path / "feeds", days=2, environ=ENV, clock=clock, metrics=metrics)
    counted = {(s.name, frozenset(s.labels.items())): s.value
               for family in metrics.registry.collect() for s in family.samples}
    assert done.slots > 0
    assert counted[key("bridge_feed_exports_total", outcome="ok")] == 1
    assert counted[key("bridge_feed_slots_exported_total")] == done.slots
