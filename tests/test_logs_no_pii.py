"""The log check (tests/logcheck.py, run for every test by tests/conftest.py): what it
flags, what it lets through, that it sees what the process logs, and that a booking on
each front leaves no trace of the customer in any line."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import sys

import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v2_pb2 as v2
from bridge.fronts import _calllog
from bridge.logs import JsonFormatter
from bridge.simulator import seed

from . import logcheck
from .harness import ENV, IDENTITY_KEY, REST_USER, Harness, at

PROBE = logcheck.PROBE


def rendered(message: str, *args: object, exc_info: object = None, **extra: object) -> str:
    """``message`` as the bridge's formatter would write it, without logging it anywhere."""
    record = logging.LogRecord("bridge.test", logging.INFO, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]
    record.__dict__.update(extra)
    return JsonFormatter().format(record)


def raised(error: Exception) -> object:
    try:
        raise error
    except Exception:
        return sys.exc_info()


TOKEN = "q3Zk8-Vn2YtR0bLwE7hJ_cXs9uA4mPdGf1oKiT6eNyB"  # the shape the simulator issues

# --- what the checker flags ----------------------------------------------------------------

FLAGGED = [
    ("e-mail in extra", rendered("call", email="someone.else@example.org"), "e-mail"),
    ("e-mail in the message", rendered("no booking for %s", "x+tag@sub.example.co.uk"), "e-mail"),
    ("bearer token", rendered("retrying with Bearer %s", TOKEN), "bearer token"),
    ("authorization header", rendered("sent", headers={"Authorization": "Bearer " + TOKEN}), "authorization header"),
    ("basic credentials", rendered("Basic " + base64.b64encode(f"{REST_USER}:x".encode()).decode()), "basic credentials"),
    ("client secret", rendered("token request", body=f"client_secret={seed.DEMO_CLIENT_SECRET}"), "secret"),
    ("identity key", rendered("config", key=IDENTITY_KEY), "secret"),
    ("REST password", rendered("auth", password=ENV["BRIDGE_REST_PASSWORD_NEXT"]), "secret"),
    ("name in a traceback", rendered("failed", exc_info=raised(ValueError("no slot for\nAda"))), "name"),
    ("name in a protobuf extra", rendered("call", request=pb.ClientInformation(family_name="Lovelace")), "name"),
    ("phone as sent", rendered("call", phone="+46 70-123 45 67"), "phone"),
    ("phone as E.164", rendered("call", phone="+46701234567"), "phone"),
    ("phone in national form", rendered("call", phone="070-123 45 67"), "phone"),
    ("phone in the message", rendered("calling 2091111111"), "phone"),
]


@pytest.mark.parametrize(("line", "rule"), [(line, rule) for _, line, rule in FLAGGED], ids=[c[0] for c in FLAGGED])
def test_the_checker_flags(line: str, rule: str) -> None:
    assert rule in logcheck.findings(line)
    [leak] = logcheck.leaks([rendered("call"), line])
    assert leak.startswith(", ".join(logcheck.findings(line)) + ": {")


@pytest.mark.parametrize("name", logcheck.NAMES)
def test_every_listed_name_is_flagged(name: str) -> None:
    assert logcheck.findings(rendered("call", who=name)) == ["name"]


@pytest.mark.parametrize("phone", logcheck.PHONES)
def test_every_listed_phone_is_flagged(phone: str) -> None:
    assert logcheck.findings(rendered("call", phone=phone)) == ["phone"]


def test_a_token_the_simulator_issued_is_flagged_anywhere_in_a_line() -> None:
    line = rendered("cached", value=f"[{TOKEN}]")
    assert logcheck.findings(line) == []
    assert logcheck.findings(line, extra=[TOKEN]) == ["secret"]


# --- what it lets through ------------------------------------------------------------------


def test_an_ordinary_call_line_is_clean() -> None:
    _calllog.call("ext.maps.booking.partner.v2.BookingService/CreateBooking", "OK", 0.0)
    [line] = [line for line in logcheck.captured() if '"bridge.calls"' in line]
    assert json.loads(line)["method"].endswith("/CreateBooking")
    assert logcheck.findings(line) == []


@pytest.mark.parametrize(
    "line",
    [
        rendered("HTTP Request: GET http://127.0.0.1:41234/external/v1/branches/%s/dates?date=2026-11-24 "
                 '"HTTP/1.1 200 OK"', seed.STOCKHOLM),
        rendered("PUT /external/v1/reservations/6ab7b82a-9594-47cb-a745-c04af99cf95b 201 12ms"),
        rendered("proxy at http://user@localhost:3128/ and http://svc@10.0.0.7/"),
        rendered("built with grpcio@1.85.1"),
        rendered("bearer token required"),
        rendered("upstream rejected the bridge's client credentials (token endpoint answered 401)"),
        rendered("401", headers={"WWW-Authenticate": 'Basic realm="booking-bridge", charset="UTF-8"'}),
        rendered("config", shutdown_grace_seconds=5.0, adapter="Adapter", kingdom="Kingdom"),
        rendered("call", port=45671, latency_ms=701.23, start_sec="1795417200"),
        rendered("failed", exc_info=raised(RuntimeError("boom"))),
    ],
    ids=["httpx-url", "upstream-line", "url-userinfo", "package-version", "prose-bearer", "prose-credentials",
         "basic-realm", "name-lookalikes", "numbers", "traceback"],
)
def test_ordinary_lines_are_not_flagged(line: str) -> None:
    assert logcheck.findings(line) == []


# --- what it sees ----------------------------------------------------------------------------

# Set before any test runs, as bridge.logs.setup() sets httpx: the fixture must open it up.
_quiet = logging.getLogger("tests.logcheck.quiet")
_quiet.setLevel(logging.ERROR)


def test_records_below_a_loggers_own_level_are_captured_with_extra_and_traceback() -> None:
    _quiet.debug("quiet %s", "detail", extra={"hold_id": "h-1"})
    try:
        raise KeyError("k")
    except KeyError:
        logging.getLogger("bridge.test").exception("unexpected failure", extra={"method": "m"})
    quiet, failure = (json.loads(line) for line in logcheck.captured()[-2:])
    assert (quiet["logger"], quiet["level"], quiet["message"], quiet["hold_id"]) == (
        "tests.logcheck.quiet", "DEBUG", "quiet detail", "h-1")
    assert failure["method"] == "m" and "Traceback" in failure["exception"] and "KeyError" in failure["exception"]


INNER_TESTS = """
import logging
import pytest

log = logging.getLogger("logcheck-inner-session")

def test_leaks():
    log.info("booked", extra={"email": "someone.else@example.org"})

@pytest.mark.logs_may_contain_pii
def test_opted_out():
    log.info("booked", extra={"email": "someone.else@example.org"})

def test_clean():
    log.info("call", extra={"status": "OK"})
"""


def test_a_leaking_test_fails_at_teardown_unless_marked(
    pytester: pytest.Pytester, _log_capture: logcheck.Capture
) -> None:
    pytester.makeconftest('pytest_plugins = ["tests.conftest"]')
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest("--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*", "*e-mail: *someone.else@example.org*"])
    # The inner session's lines reached this test's capture too; they are its fixtures, not leaks.
    _log_capture.lines[:] = [line for line in _log_capture.lines if "logcheck-inner-session" not in line]


# --- a booking on each front leaves the customer out of every line -----------------------------


async def assert_no_trace_of_the_customer(harness: Harness, booking_id: str, methods: set[str]) -> None:
    stored = await harness.bridge.store.get_booking(booking_id)
    assert stored is not None
    customer = harness.sim.state.appointments[stored.appointment_id].customer
    # The customer did travel, so their absence from the logs means something.
    assert customer is not None and customer["email"] == PROBE["email"] and customer["lastName"] == PROBE["family_name"]

    lines = logcheck.captured()
    records = [json.loads(line) for line in lines]
    called = {r["method"].rsplit("/", 1)[1] for r in records if r["logger"] == "bridge.calls"}
    assert methods <= called
    assert any(r["logger"] == "bridge.upstream" and r["level"] == "DEBUG" for r in records)
    assert logcheck.leaks(lines, extra=[*PROBE.values(), stored.personal_identifier]) == []


async def test_v0_booking_leaves_no_trace_in_the_logs(harness: Harness) -> None:
    lease = await harness.lease(at(1, 10))
    booking = await harness.book(lease.lease_id, **PROBE)
    await harness.cancel(booking.booking_id)
    await assert_no_trace_of_the_customer(harness, booking.booking_id, {"CreateLease", "CreateBooking", "UpdateBooking"})


async def test_v2_booking_leaves_no_trace_in_the_logs(harness: Harness) -> None:
    slot = v2.Slot(merchant_id=seed.STOCKHOLM, service_id=seed.HAIRCUT)
    slot.start_time.FromDatetime(at(1, 10))
    slot.duration.FromTimedelta(dt.timedelta(minutes=30))
    who = v2.UserInformation(user_id="user-logcheck-v2", **PROBE)
    created = await harness.v2.CreateBooking(v2.CreateBookingRequest(slot=slot, user_information=who,
                                                                     idempotency_token="logcheck-v2"))
    assert created.booking.status == v2.CONFIRMED, created.booking_failure
    cancel = v2.UpdateBookingRequest(booking=v2.Booking(booking_id=created.booking.booking_id, status=v2.CANCELED))
    cancel.update_mask.paths.append("status")
    assert (await harness.v2.UpdateBooking(cancel)).booking.status == v2.CANCELED
    await harness.v2.ListBookings(v2.ListBookingsRequest(user_id=who.user_id))
    await assert_no_trace_of_the_customer(harness, created.booking.booking_id,
                                          {"CreateBooking", "UpdateBooking", "ListBookings"})


async def test_v3_booking_leaves_no_trace_in_the_logs(harness: Harness) -> None:
    request = {
        "idempotency_token": "logcheck-v3",
        "slot": {"merchant_id": seed.STOCKHOLM, "service_id": seed.HAIRCUT,
                 "start_sec": str(int(at(1, 10).timestamp())), "duration_sec": "1800"},
        "user_information": {"user_id": "user-logcheck-v3", **PROBE},
        "payment_information": {"prepayment_status": "PREPAYMENT_NOT_PROVIDED"},
    }
    created = await harness.rest.post("/CreateBooking", json=request)
    assert created.status_code == 200, created.text
    booking_id = created.json()["booking"]["booking_id"]
    cancelled = await harness.rest.post("/UpdateBooking", json={"booking": {"booking_id": booking_id, "status": "CANCELED"}})
    assert cancelled.json()["booking"]["status"] == "CANCELED"
    assert (await harness.rest.post("/GetBookingStatus", json={"booking_id": booking_id})).status_code == 200
    await assert_no_trace_of_the_customer(harness, booking_id, {"CreateBooking", "UpdateBooking", "GetBookingStatus"})
