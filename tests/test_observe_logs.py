"""Log lines an operator can follow: one request id per call, on its line and on every
upstream request it caused; the caller's x-request-id or traceparent when well formed;
a failed call's cause and a reason that never carries the customer; UTC times to the
millisecond. (That no line carries a secret or the customer is checked for every test by
tests/conftest.py; these tests make sure the lines that could leak are written.)"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import subprocess
import sys
from typing import Any

import grpc
import pytest

from bridge import logs, reqid
from bridge._proto import booking_v0_pb2 as pb
from bridge.config import ConfigError, from_dict
from bridge.simulator import seed

from . import logcheck
from .harness import REST_NEXT_USER, Harness, at, lease_message

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
GENERATED = re.compile(r"[0-9a-f]{32}")


def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in logcheck.captured()]


def call_lines(method: str) -> list[dict[str, Any]]:
    return [r for r in records() if r["logger"] == "bridge.calls" and r["method"].endswith(method)]


def upstream_lines(request_id: str) -> list[str]:
    """The operations of the upstream lines the call with ``request_id`` caused."""
    return [r["operation"] for r in records() if r["logger"] == "bridge.upstream" and r.get("request_id") == request_id]


def v3_lease(reference: str, hour: int = 10) -> dict[str, Any]:
    return {"lease": {"slot": {"merchant_id": seed.STOCKHOLM, "service_id": seed.HAIRCUT,
                               "start_sec": int(at(1, hour).timestamp()), "duration_sec": 1800},
                      "user_reference": reference}}


# --- choosing the id ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-request-id": "req-7f3a.9:b/c+d="}, "req-7f3a.9:b/c+d="),
        ({"x-request-id": "req-1", "traceparent": TRACEPARENT}, "req-1"),  # the caller's own id first
        ({"traceparent": TRACEPARENT}, TRACE_ID),
        ({"x-request-id": "has space", "traceparent": TRACEPARENT}, TRACE_ID),
        ({"x-request-id": "x" * 129, "traceparent": TRACEPARENT}, TRACE_ID),
        ({"x-request-id": '"}, "forged": "1', "traceparent": TRACEPARENT}, TRACE_ID),
        ({"x-request-id": "someone@example.org"}, None),
        ({"traceparent": f"ff-{TRACE_ID}-00f067aa0ba902b7-01"}, None),  # version ff is invalid
        ({"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"}, None),  # all-zero trace id
        ({"traceparent": f"00-{TRACE_ID}-{'0' * 16}-01"}, None),  # all-zero parent id
        ({"traceparent": f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01"}, None),  # upper case
        ({"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01-extra"}, None),  # version 00 has no more
        ({}, None),
    ],
)
def test_the_id_is_the_callers_when_well_formed_else_a_fresh_one(headers: dict[str, str], expected: str | None) -> None:
    chosen = reqid.choose(headers.get)
    if expected is None:
        assert GENERATED.fullmatch(chosen)
        assert reqid.choose(headers.get) != chosen
    else:
        assert chosen == expected


# --- on the call line and every upstream line it causes ----------------------------------------


async def test_grpc_metadata_id_is_on_the_call_line_and_on_each_upstream_line(harness: Harness) -> None:
    await harness.stub.CreateLease(pb.CreateLeaseRequest(lease=lease_message(at(1, 10), reference="first")),
                                   metadata=(("x-request-id", "lease-call-1"),))
    await harness.stub.CreateLease(pb.CreateLeaseRequest(lease=lease_message(at(1, 11), reference="second")),
                                   metadata=(("traceparent", TRACEPARENT),))
    [first, second] = call_lines("/CreateLease")
    assert (first["request_id"], first["status"]) == ("lease-call-1", "OK")
    assert second["request_id"] == TRACE_ID
    assert upstream_lines("lease-call-1") == ["POST token", "GET /services", "POST /reservations"]
    assert upstream_lines(TRACE_ID) == ["POST /reservations"]  # token and catalogue cached by then


async def test_rest_header_id_is_on_the_call_line_its_upstream_lines_and_the_answer(harness: Harness) -> None:
    answer = await harness.rest.post("/CreateLease", json=v3_lease("rest-1"), headers={"X-Request-Id": "rest-call-1"})
    assert answer.status_code == 200 and answer.headers["X-Request-Id"] == "rest-call-1"
    [line] = call_lines("v3/CreateLease")
    assert (line["request_id"], line["status"]) == ("rest-call-1", 200)
    assert upstream_lines("rest-call-1") == ["POST token", "GET /services", "POST /reservations"]


async def test_without_an_id_each_call_gets_its_own(harness: Harness) -> None:
    first = await harness.rest.post("/CreateLease", json=v3_lease("gen-1", 10))
    second = await harness.rest.post("/CreateLease", json=v3_lease("gen-2", 11))
    ids = [line["request_id"] for line in call_lines("v3/CreateLease")]
    assert ids == [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert all(GENERATED.fullmatch(i) for i in ids) and ids[0] != ids[1]
    assert upstream_lines(ids[1]) == ["POST /reservations"]
    await harness.lease(at(1, 12), reference="gen-3")
    [grpc_line] = call_lines("/CreateLease")[-1:]
    assert GENERATED.fullmatch(grpc_line["request_id"]) and grpc_line["request_id"] not in ids


# --- what a failed call's line says ------------------------------------------------------------


async def test_a_failed_grpc_call_names_its_cause_and_reason(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await harness.stub.CreateLease(pb.CreateLeaseRequest(lease=lease_message(at(1, 10), merchant="")))
    [line] = call_lines("/CreateLease")
    assert (line["status"], line["cause"], line["reason"]) == (
        "INVALID_ARGUMENT", "INVALID_ARGUMENT", "lease.merchant_id is required")


async def test_an_upstream_refusal_is_logged_without_the_upstreams_own_words(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    echoed = "customer ada@example.com Ada Lovelace +46 70-123 45 67 rejected"
    harness.sim.faults.add("PUT", "/reservations/", status=400,
                           body={"errorCode": "VALIDATION_ERROR", "message": echoed})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.book(lease.lease_id)
    assert echoed in err.value.details()  # the caller hears it all
    [line] = call_lines("/CreateBooking")
    assert (line["cause"], line["reason"]) == ("INVALID_ARGUMENT", "upstream refused the confirm: 400 VALIDATION_ERROR")
    assert [r["status"] for r in records() if r["logger"] == "bridge.upstream"][-1] == "400"


async def test_a_parse_error_quoting_the_customer_is_masked(harness: Harness) -> None:
    body = {"idempotency_token": "t-1", "slot": {"start_sec": "Ada Lovelace"}}
    answer = await harness.rest.post("/CreateBooking", json=body)
    assert answer.status_code == 400 and "Ada Lovelace" in answer.json()["error"]["message"]
    [line] = call_lines("v3/CreateBooking")
    assert line["cause"] == "INVALID_ARGUMENT"
    assert '"…"' in line["reason"] and "Ada" not in line["reason"] and len(line["reason"]) <= 160


async def test_a_v3_business_failure_is_200_and_its_line_names_the_cause(harness: Harness) -> None:
    await harness.lease(at(1, 12), reference="warm-up")
    harness.sim.faults.add("POST", "/reservations$", status=409, body={"errorCode": "TIMESLOT_UNAVAILABLE"})
    answer = await harness.rest.post("/CreateLease", json=v3_lease("taken"))
    assert answer.status_code == 200
    [line] = call_lines("v3/CreateLease")
    assert (line["status"], line["cause"]) == (200, "SLOT_UNAVAILABLE")
    assert line["reason"] == "upstream refused the hold: 409 TIMESLOT_UNAVAILABLE"


async def test_unknown_paths_and_refused_logins_are_logged_like_any_call(harness: Harness) -> None:
    await harness.rest.post("/NoSuchMethod/booking-1/4670123456", json={}, headers={"X-Request-Id": "junk-1"})
    await harness.rest.post("/CreateLease", json={}, auth=(REST_NEXT_USER, "wrong"),
                            headers={"X-Request-Id": "login-1"})
    unknown, refused = [r for r in records() if r["logger"] == "bridge.calls"]
    assert (unknown["method"], unknown["status"], unknown["cause"], unknown["request_id"]) == (
        "unmatched", 404, "UNIMPLEMENTED", "junk-1")
    # The path is kept for the operator (a wrong prefix shows), with what could be personal masked.
    assert unknown["path"] == "/v3/NoSuchMethod/booking-1/<number>"
    assert (refused["method"], refused["status"], refused["cause"], refused["request_id"]) == (
        "v3/CreateLease", 401, "UNAUTHENTICATED", "login-1")


async def test_health_check_lines_are_debug(harness: Harness) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    await health_pb2_grpc.HealthStub(harness.channel).Check(health_pb2.HealthCheckRequest())
    [line] = call_lines("/Check")
    assert (line["level"], line["status"]) == ("DEBUG", "OK")


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("lease 'lease-1' has expired", "lease 'lease-1' has expired"),  # ids stay
        ('Failed to parse start_sec: "Ada Lovelace"', 'Failed to parse start_sec: "…"'),
        ("mail someone.else@example.org now", "mail <e-mail> now"),
        ("call +46 70-123 45 67 or 0701234567", "call <number> or <number>"),
        ("between 1970-01-01 and 2100-01-01", "between 1970-01-01 and 2100-01-01"),  # dates are not phones
        ("x" * 500, "x" * 159 + "…"),
    ],
)
def test_what_a_reason_may_show(text: str, logged: str) -> None:
    from bridge.fronts import _calllog

    assert _calllog.safe_text(text) == logged


# --- time and level -----------------------------------------------------------------------------


def test_times_are_utc_with_milliseconds() -> None:
    created = dt.datetime(2026, 11, 29, 10, 45, 48, 123000, tzinfo=dt.timezone.utc).timestamp()
    assert logs.timestamp(created) == "2026-11-29T10:45:48.123Z"
    assert logs.timestamp(created + 0.8769) == "2026-11-29T10:45:49.000Z"  # rounded, carried
    logging.getLogger("bridge.test").info("now")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", records()[-1]["time"])


def test_lines_inside_a_call_carry_its_id_whoever_logs_them() -> None:
    with reqid.bound("inside-1"):
        logging.getLogger("bridge.core").warning("hold release failed; it will expire upstream")
    logging.getLogger("bridge.core").warning("outside any call")
    inside, outside = records()[-2:]
    assert inside["request_id"] == "inside-1" and "request_id" not in outside


def test_log_level_is_configured_and_checked() -> None:
    config = from_dict({"server": {"log_level": "DEBUG"}, "upstream": {"account": "a", "tenant_id": "t"}})
    assert config.server.log_level == "DEBUG"
    with pytest.raises(ConfigError) as err:
        from_dict({"server": {"log_level": "LOUD"}, "upstream": {"account": "a", "tenant_id": "t"}})
    assert err.value.problems == ["[server] log_level: expected one of DEBUG, INFO, WARNING, ERROR, got 'LOUD'"]
    logs.set_level("warning")
    assert logging.getLogger().level == logging.WARNING  # restored by tests/conftest.py afterwards


# --- writing -------------------------------------------------------------------------------------


class Writes:
    """A stream that keeps each write apart."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []

    def write(self, text: str) -> None:
        self.writes.append([json.loads(line)["message"] for line in text.splitlines()])

    def flush(self) -> None:
        pass


def batching(monkeypatch: pytest.MonkeyPatch, every: float = 0.0) -> tuple[Writes, logs.BatchingHandler, logging.Logger]:
    monkeypatch.setattr(logs, "WRITE_EVERY", every)
    stream = Writes()
    handler = logs.BatchingHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("bridge.test.batching")
    logger.propagate = False
    monkeypatch.setattr(logger, "handlers", [handler])
    monkeypatch.setattr(logger, "level", logging.INFO)
    return stream, handler, logger


async def test_info_lines_on_a_loop_are_written_together_a_warning_at_once_after_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream, _, log = batching(monkeypatch)
    log.info("one")
    log.info("two")
    assert stream.writes == []
    log.warning("three")
    assert stream.writes == [["one", "two", "three"]]
    log.info("four")
    log.info("five")
    for _ in range(3):  # a timer of 0 s: due at the next turn of the loop
        await asyncio.sleep(0)
    assert stream.writes[1:] == [["four", "five"]]


def test_lines_outside_a_loop_are_written_at_once_and_those_left_waiting_by_flush(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream, handler, log = batching(monkeypatch, every=3600.0)
    log.info("before")
    assert stream.writes == [["before"]]

    async def serve() -> None:
        log.info("inside")

    asyncio.run(serve())
    assert stream.writes == [["before"]]  # its loop is gone; the line waits
    handler.flush()  # as logging.shutdown does at exit
    assert stream.writes == [["before"], ["inside"]]


async def test_no_more_than_max_waiting_lines_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    stream, _, log = batching(monkeypatch, every=3600.0)
    monkeypatch.setattr(logs, "MAX_WAITING", 3)
    for n in range(5):
        log.info(str(n))
    assert stream.writes == [["0", "1", "2", "3"]]


def test_a_process_that_ends_normally_writes_the_lines_still_waiting() -> None:
    script = ("import asyncio, logging\nfrom bridge import logs\nlogs.setup()\n"
              "async def serve():\n    logging.getLogger('bridge.calls').info('last call')\n"
              "asyncio.run(serve())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["message"] for line in done.stderr.splitlines()] == ["last call"]


class Lines:
    """A stream that keeps every line whole."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def write(self, text: str) -> None:
        self.lines += [json.loads(line, object_pairs_hook=list) for line in text.splitlines()]

    def flush(self) -> None:
        pass


def test_a_line_written_directly_is_the_line_logging_would_write(monkeypatch: pytest.MonkeyPatch) -> None:
    _, handler, log = batching(monkeypatch)
    handler.setStream(stream := Lines())  # type: ignore[arg-type]
    fields = {"method": "m", "status": "OK", "latency_ms": 1.5, "cause": None, "when": dt.date(2026, 11, 29)}
    with reqid.bound("id-1"):
        log.log(logging.INFO, "call", extra=fields)
        logs.emit(log, logging.INFO, "call", fields)
    logs.emit(log, logging.WARNING, "call", {"request_id": "own"})  # outside a loop: at once
    logged, direct, own = stream.lines
    assert [pair for pair in direct if pair[0] != "time"] == [pair for pair in logged if pair[0] != "time"]
    assert [key for key, _ in direct] == ["time", "level", "logger", "message", "method", "status", "latency_ms",
                                          "cause", "when", "request_id"]
    assert own[1] == ("level", "WARNING") and own[4:] == [("request_id", "own")]


def test_a_line_that_a_filter_or_another_handler_would_see_goes_through_logging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, handler, log = batching(monkeypatch)
    handler.setStream(stream := Lines())  # type: ignore[arg-type]
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    monkeypatch.setattr(log, "filters", [lambda record: record.getMessage() != "dropped"])
    logs.emit(log, logging.WARNING, "dropped", {})
    assert stream.lines == []
    monkeypatch.setattr(log, "filters", [])
    monkeypatch.setattr(log, "handlers", [handler, Keep()])
    logs.emit(log, logging.WARNING, "kept", {"method": "m"})
    assert [record.method for record in seen] == ["m"]  # type: ignore[attr-defined]
    other = logs.BatchingHandler(other_stream := Lines())  # type: ignore[arg-type]
    other.setFormatter(logs.JsonFormatter())
    monkeypatch.setattr(log, "handlers", [handler, other])
    logs.emit(log, logging.WARNING, "to both", {})
    assert [line[3] for line in other_stream.lines] == [("message", "to both")]
    monkeypatch.setattr(log, "handlers", [handler])
    handler.setLevel(logging.ERROR)
    logs.emit(log, logging.WARNING, "below the handler's level", {})
    assert [line[3] for line in stream.lines] == [("message", "kept"), ("message", "to both")]
