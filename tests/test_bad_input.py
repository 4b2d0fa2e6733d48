"""Bad input gets a precise answer on every front: 413 for an oversized body, INVALID_ARGUMENT
(400) naming the field for a time or duration the bridge cannot book, short error texts
however much the caller sent — never a 500, INTERNAL or an upstream write."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v2_pb2 as v2
from bridge.failures import MAX_MESSAGE, BridgeError, Cause
from bridge.fronts.rest import MAX_BODY
from bridge.simulator import seed

from . import test_v2_grpc as v2_calls
from .harness import Harness, at, lease_message

YEAR_9999 = 253_402_000_000  # seconds: a valid Timestamp, far past anything bookable
INT64_MAX = 2**63 - 1
THREE_YEARS = dt.timedelta(days=3 * 365)


# -- oversized REST bodies --------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_with_a_json_error_and_a_log_line(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for size in (1024 * 1024, MAX_BODY + 1):
        body = b'{"booking_id": "' + b"x" * (size - 18) + b'"}'
        assert len(body) == size
        r = await harness.rest.post("/GetBookingStatus", content=body)
        assert r.status_code == 413
        assert r.json() == {"error": {"code": 413, "message": f"request body is larger than {MAX_BODY} bytes"}}
    logged = [r for r in caplog.records if getattr(r, "status", None) == 413]
    assert len(logged) == 2, [(r.name, r.getMessage()) for r in caplog.records]
    assert harness.sim.requests == []


async def test_a_body_at_the_limit_is_read_and_answered(harness: Harness) -> None:
    # Unknown fields are ignored, so padding makes a legal request of exactly MAX_BODY bytes.
    prefix, suffix = b'{"booking_id": "nope", "padding": "', b'"}'
    body = prefix + b"x" * (MAX_BODY - len(prefix) - len(suffix)) + suffix
    assert len(body) == MAX_BODY
    r = await harness.rest.post("/GetBookingStatus", content=body)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["message"] == "booking 'nope' does not exist"


# -- times and durations: v3 ------------------------------------------------------------


def v3_slot(**override: Any) -> dict:
    return {"merchant_id": seed.STOCKHOLM, "service_id": seed.HAIRCUT,
            "start_sec": str(int(at(1, 10).timestamp())), "duration_sec": "1800", **override}


BAD_V3_TIMES = [
    ({"duration_sec": str(INT64_MAX)}, "duration_sec", "must be between 0:01:00 and 1 day, 0:00:00"),
    ({"duration_sec": "-1800"}, "duration_sec", "must be positive"),
    ({"duration_sec": "30"}, "duration_sec", "must be between 0:01:00 and 1 day, 0:00:00"),
    ({"duration_sec": str(2 * 86400)}, "duration_sec", "must be between 0:01:00 and 1 day, 0:00:00"),
    ({"start_sec": str(YEAR_9999)}, "start_sec", "must be after 1970-01-01 and before 2100-01-01"),
    ({"start_sec": "-5"}, "start_sec", "must be after 1970-01-01 and before 2100-01-01"),
    ({"start_sec": str(-(2**63))}, "start_sec", "must be after 1970-01-01 and before 2100-01-01"),
]


@pytest.mark.parametrize(("slot", "field", "problem"), BAD_V3_TIMES)
async def test_v3_lease_time_or_duration_out_of_range_is_400_naming_it(harness: Harness, slot, field, problem) -> None:
    r = await harness.rest.post("/CreateLease", json={"lease": {"slot": v3_slot(**slot), "user_reference": "r"}})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == {"code": 400, "field": f"lease.slot.{field}", "message": f"lease.slot.{field} {problem}"}
    assert harness.sim.requests == []


@pytest.mark.parametrize(("method", "body", "field"), [
    ("CreateBooking", {"slot": v3_slot(start_sec=str(YEAR_9999)), "idempotency_token": "t",
                       "user_information": {"user_id": "u", "given_name": "A", "family_name": "B",
                                            "email": "a@example.com"}}, "slot.start_sec"),
    ("CheckAvailability", {"slot": v3_slot(duration_sec=str(INT64_MAX))}, "slot.duration_sec"),
    ("BatchAvailabilityLookup", {"merchant_id": seed.STOCKHOLM, "slot_time": [
        {"service_id": seed.HAIRCUT, "start_sec": "1", "duration_sec": str(INT64_MAX)}]}, "slot_time[0].duration_sec"),
    ("UpdateBooking", {"booking": {"booking_id": "b", "slot": {"start_sec": str(YEAR_9999)}}}, "booking.slot.start_sec"),
    ("UpdateBooking", {"booking": {"booking_id": "b", "slot": {"duration_sec": "-60"}}}, "booking.slot.duration_sec"),
    ("CreateLease", {"lease": {"slot": v3_slot(), "user_reference": "r",
                               "lease_expiration_time_sec": str(INT64_MAX)}}, "lease.lease_expiration_time_sec"),
])
async def test_v3_every_method_bounds_its_times(harness: Harness, method: str, body: dict, field: str) -> None:
    r = await harness.rest.post(f"/{method}", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field
    assert harness.sim.requests == []


async def test_a_start_beyond_the_booking_horizon_is_refused_before_the_upstream(harness: Harness) -> None:
    far = str(int((harness.clock.now() + THREE_YEARS).timestamp()))
    r = await harness.rest.post("/CreateLease", json={"lease": {"slot": v3_slot(start_sec=far), "user_reference": "r"}})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "lease.slot.start_sec is more than 730 days ahead"
    # Availability that far ahead is simply not there; the upstream is not asked.
    r = await harness.rest.post("/BatchAvailabilityLookup", json={"merchant_id": seed.STOCKHOLM, "slot_time": [
        {"service_id": seed.HAIRCUT, "start_sec": far, "duration_sec": "1800"}]})
    assert r.status_code == 200 and r.json()["slot_time_availability"][0]["available"] is False
    assert not any("timeslots" in r.path for r in harness.sim.requests)


# -- times and durations: v0 ------------------------------------------------------------


def seconds(when: int) -> Callable[[pb.Lease], None]:
    def change(lease: pb.Lease) -> None:
        lease.start_time.seconds = when
    return change


def length(secs: int, nanos: int = 0) -> Callable[[pb.Lease], None]:
    def change(lease: pb.Lease) -> None:
        lease.duration.seconds, lease.duration.nanos = secs, nanos
    return change


@pytest.mark.parametrize(("change", "field", "problem"), [
    (seconds(2**62), "lease.start_time", "is not a valid time"),
    (seconds(YEAR_9999), "lease.start_time", "must be after 1970-01-01 and before 2100-01-01"),
    (seconds(-100), "lease.start_time", "must be after 1970-01-01 and before 2100-01-01"),
    (length(2**62), "lease.duration", "is not a valid duration"),
    (length(30), "lease.duration", "must be between 0:01:00 and 1 day, 0:00:00"),
    (length(-1800), "lease.duration", "must be positive"),
    (length(3 * 86400), "lease.duration", "must be between 0:01:00 and 1 day, 0:00:00"),
    (lambda m: m.lease_expiration_time.FromSeconds(YEAR_9999), "lease.lease_expiration_time",
     "must be after 1970-01-01 and before 2100-01-01"),
])
async def test_v0_lease_time_or_duration_out_of_range_is_invalid_argument(harness: Harness, change, field, problem) -> None:
    message = lease_message(at(1, 10), reference="r-time")
    change(message)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.CreateLease(pb.CreateLeaseRequest(lease=message))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == f"{field} {problem}"
    assert harness.sim.requests == []


async def test_v0_start_beyond_the_horizon_and_reschedule_times_are_bounded(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.lease(harness.clock.now() + THREE_YEARS, reference="r-far")
    assert err.value.details() == "lease.start_time is more than 730 days ahead"

    booking = pb.Booking(booking_id="any")
    booking.start_time.seconds = YEAR_9999
    booking.duration.seconds = 1800
    request = pb.UpdateBookingRequest(booking=booking)
    request.update_mask.paths.extend(["start_time", "duration"])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.UpdateBooking(request)
    assert (err.value.code(), err.value.details().split(" ")[0]) == (grpc.StatusCode.INVALID_ARGUMENT, "booking.start_time")
    assert harness.sim.requests == []


# -- times and durations: v2 ------------------------------------------------------------


async def test_v2_times_are_bounded_and_named_as_v2_names_them(harness: Harness) -> None:
    request = v2_calls.lease_request(at(1, 10))
    request.lease.slot.start_time.seconds = YEAR_9999
    err = await v2_calls.rpc_error(harness.v2.CreateLease(request))
    assert (err.code(), err.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT, "lease.slot.start_time must be after 1970-01-01 and before 2100-01-01")

    request = v2_calls.lease_request(at(1, 10))
    request.lease.slot.duration.seconds = 2**62
    err = await v2_calls.rpc_error(harness.v2.CreateLease(request))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("lease.slot.duration must be between")

    batch = v2.BatchAvailabilityLookupRequest(merchant_id=seed.STOCKHOLM, slot_time=[
        v2.SlotTime(service_id=seed.HAIRCUT, start_sec=int(at(1, 10).timestamp()), duration_sec=INT64_MAX)])
    err = await v2_calls.rpc_error(harness.v2.BatchAvailabilityLookup(batch))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("slot_time[0].duration_sec ")
    assert harness.sim.requests == []


# -- error texts stay short -------------------------------------------------------------


def test_an_error_message_is_cut_to_a_few_hundred_characters() -> None:
    long = BridgeError(Cause.INVALID_ARGUMENT, "x " * 10_000)
    assert len(long.message) == MAX_MESSAGE and long.message.endswith("…")
    assert BridgeError(Cause.INVALID_ARGUMENT, "short").message == "short"


async def test_v0_thousands_of_unknown_mask_paths_name_a_few(harness: Harness) -> None:
    request = pb.UpdateBookingRequest(booking=pb.Booking(booking_id="b", status=pb.CANCELED))
    request.update_mask.paths.extend(f"field_{i:05d}" for i in range(5000))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.UpdateBooking(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == (
        "update_mask cannot change field_00000, field_00001, field_00002 and 4997 more: "
        "only status, or start_time and duration")


async def test_v2_thousands_of_unknown_mask_paths_name_a_few(harness: Harness) -> None:
    # Long paths too (within gRPC's 64 KiB request limit): each is cut short.
    request = v2_calls.cancel_request("b", tuple("p" * 100 + str(i) for i in range(500)))
    err = await v2_calls.rpc_error(harness.v2.UpdateBooking(request))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("update_mask cannot change ppppp")
    assert err.details().endswith(" and 497 more")
    assert len(err.details()) <= MAX_MESSAGE


async def test_v3_a_huge_bad_value_is_not_echoed_back(harness: Harness) -> None:
    huge = "9" * 200_000
    r = await harness.rest.post("/UpdateBooking", content=b'{"booking": {"slot": {"start_sec": "%s"}}}' % huge.encode())
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert message.startswith("request body is not a valid UpdateBookingRequest: ")
    assert len(message) <= MAX_MESSAGE
