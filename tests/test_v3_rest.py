"""The v3 REST front end to end: real HTTP in (httpx), the simulator over HTTP out."""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
from collections.abc import AsyncIterator

import httpx
import pytest

from bridge.clock import ManualClock
from bridge.simulator import Simulator, seed

from .harness import ENV, REST_NEXT_USER, REST_USER, Harness, at, bridge_config


def slot(start: dt.datetime, *, service: str = seed.HAIRCUT, minutes: int = 30, party: int = 0, **extra) -> dict:
    out = {"merchant_id": seed.STOCKHOLM, "service_id": service, "start_sec": str(int(start.timestamp())),
           "duration_sec": str(minutes * 60), **extra}
    if party:
        out["resources"] = {"party_size": party}
    return out


def user(user_id: str = "1111111111111111111", email: str = "john.smith@example.com") -> dict:
    return {"user_id": user_id, "given_name": "John", "family_name": "Smith", "telephone": "+12091111111", "email": email}


def booking_request(token: str, start: dt.datetime, **kw) -> dict:
    who = kw.pop("who", user())
    return {"idempotency_token": token, "slot": slot(start, **kw), "user_information": who,
            "payment_information": {"prepayment_status": "PREPAYMENT_NOT_PROVIDED"}}


async def book(h: Harness, token: str, start: dt.datetime, **kw) -> dict:
    r = await h.rest.post("/CreateBooking", json=booking_request(token, start, **kw))
    assert r.status_code == 200, r.text
    return r.json()


async def update(h: Harness, booking: dict) -> httpx.Response:
    return await h.rest.post("/UpdateBooking", json={"booking": booking})


# --- transport: auth, paths, JSON -----------------------------------------------------


async def test_health_check_is_200_while_the_upstream_answers(harness: Harness) -> None:
    assert (await harness.rest.get("/HealthCheck")).status_code == 200
    assert (await harness.rest.get("/HealthCheck/")).status_code == 200


async def test_health_check_is_503_when_the_upstream_is_down(harness: Harness) -> None:
    await harness.sim.stop()
    assert (await harness.rest.get("/HealthCheck")).status_code == 503


async def test_health_probe_is_cached_not_made_per_check(harness: Harness) -> None:
    for _ in range(5):
        assert (await harness.rest.get("/HealthCheck")).status_code == 200
    assert harness.upstream_calls("GET", "/services") == 1


@pytest.mark.parametrize(
    "auth",
    [None, (REST_USER, "wrong"), ("someone", ENV["BRIDGE_REST_PASSWORD"]), (REST_NEXT_USER, ENV["BRIDGE_REST_PASSWORD"])],
)
async def test_bad_or_missing_credentials_are_401_with_a_challenge(harness: Harness, auth) -> None:
    async with httpx.AsyncClient(base_url=harness.rest.base_url, auth=auth) as client:
        r = await client.post("/GetBookingStatus", json={"booking_id": "x"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert harness.upstream_calls("GET", "/") == 0


async def test_the_next_credential_is_accepted_during_rotation(harness: Harness) -> None:
    r = await harness.rest.get("/HealthCheck", auth=(REST_NEXT_USER, ENV["BRIDGE_REST_PASSWORD_NEXT"]))
    assert r.status_code == 200


@pytest.fixture
async def prefixed(sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path) -> AsyncIterator[Harness]:
    h = Harness(sim=sim, clock=clock, config=bridge_config(sim, tmp_path / "p.sqlite3", server={"rest_path_prefix": "/google/booking"}))
    await h.start()
    yield h
    await h.stop()


async def test_paths_live_under_the_configured_prefix(prefixed: Harness) -> None:
    assert str(prefixed.rest.base_url).endswith("/google/booking/v3/")
    assert (await prefixed.rest.get("/HealthCheck")).status_code == 200
    r = await prefixed.rest.post("/GetBookingStatus/", json={"booking_id": "nope"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == 404  # the bridge's own answer, not a route the prefix missed


@pytest.mark.parametrize(
    ("body", "field", "mentioned"),
    [
        (b"{not json", None, "Failed to load JSON"),
        (b'{"booking_id": 7}', None, "booking_id"),
        (b"{}", "booking_id", "booking_id"),
        (b'{"booking_id": ""}', "booking_id", "booking_id"),
    ],
)
async def test_malformed_or_incomplete_requests_are_400(harness: Harness, body: bytes, field, mentioned: str) -> None:
    r = await harness.rest.post("/GetBookingStatus", content=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == 400
    if field:
        assert error["field"] == field and error["message"].startswith(f"{field} ")
    else:
        assert "field" not in error
        assert error["message"].startswith("request body is not a valid GetBookingStatusRequest: "), error
    assert mentioned in error["message"], error
    assert harness.sim.requests == []


async def test_int64_as_numbers_and_unknown_fields_are_accepted(harness: Harness) -> None:
    request = booking_request("t-num", at(1, 10))
    request["slot"]["start_sec"] = int(request["slot"]["start_sec"])
    request["slot"]["duration_sec"] = 1800
    request["something_new"] = {"google": "added this"}
    r = await harness.rest.post("/CreateBooking", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["booking"]["status"] == "CONFIRMED"
    assert body["booking"]["slot"]["start_sec"] == str(int(at(1, 10).timestamp()))  # int64 printed as a string


# --- availability -----------------------------------------------------------------------


async def test_names_in_any_script_are_answered_as_utf8(harness: Harness) -> None:
    who = {**user(), "given_name": "Åsa", "family_name": "Nyström-中村"}
    r = await harness.rest.post("/CreateBooking", json=booking_request("t-utf8", at(1, 10), who=who))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json; charset=utf-8"
    assert "Nyström-中村".encode() in r.content
    assert r.json()["booking"]["user_information"]["given_name"] == "Åsa"


async def test_batch_lookup_answers_every_slot_in_order(harness: Harness) -> None:
    await harness.lease(at(1, 10), reference="held", service=seed.PASSPORT, minutes=15)
    asked = [
        {"service_id": seed.PASSPORT, "start_sec": str(int(at(1, 10).timestamp())), "duration_sec": "900"},
        {"service_id": seed.PASSPORT, "start_sec": str(int(at(1, 10, 15).timestamp())), "duration_sec": "900"},
        {"service_id": seed.PASSPORT, "start_sec": str(int(at(1, 10, 7).timestamp())), "duration_sec": "900"},
        {"service_id": seed.PASSPORT, "start_sec": str(int(at(1, 11).timestamp())), "duration_sec": "900",
         "resource_ids": {"party_size": 3}},
        {"service_id": seed.HAIRCUT, "start_sec": str(int(at(2, 9).timestamp())), "duration_sec": "1800"},
        {"service_id": "no-such-service", "start_sec": str(int(at(1, 10).timestamp())), "duration_sec": "900"},
        {"service_id": seed.HAIRCUT, "start_sec": str(int(at(-1, 10).timestamp())), "duration_sec": "1800"},
    ]
    r = await harness.rest.post("/BatchAvailabilityLookup", json={"merchant_id": seed.STOCKHOLM, "slot_time": asked})
    assert r.status_code == 200
    answers = r.json()["slot_time_availability"]
    assert [a["slot_time"]["start_sec"] for a in answers] == [s["start_sec"] for s in asked]
    assert [a["available"] for a in answers] == [False, True, False, False, True, False, False]


async def test_batch_lookup_groups_upstream_calls_and_caches_them(harness: Harness) -> None:
    day1 = [at(1, h, m) for h in (9, 10, 11) for m in (0, 30)]
    asked = [{"service_id": seed.HAIRCUT, "start_sec": str(int(t.timestamp())), "duration_sec": "1800"} for t in day1]
    asked += [{"service_id": seed.HAIRCUT, "start_sec": str(int(at(2, 9).timestamp())), "duration_sec": "1800"}]
    request = {"merchant_id": seed.STOCKHOLM, "slot_time": asked}
    first = await harness.rest.post("/BatchAvailabilityLookup", json=request)
    assert all(a["available"] for a in first.json()["slot_time_availability"])
    assert harness.upstream_calls("GET", f"/services/{seed.HAIRCUT}/timeslots") == 2  # one per day

    again = await harness.rest.post("/BatchAvailabilityLookup", json=request)
    assert again.json() == first.json()
    assert harness.upstream_calls("GET", f"/services/{seed.HAIRCUT}/timeslots") == 2  # cached

    # Our own booking changes day 1: its entry is dropped and the new answer is fresh.
    await book(harness, "t-cache", at(1, 9), staff_id="")
    await book(harness, "t-cache-2", at(1, 9), who=user("other-user", "other@example.com"))
    after = await harness.rest.post("/BatchAvailabilityLookup", json=request)
    assert after.json()["slot_time_availability"][0]["available"] is False
    assert harness.upstream_calls("GET", f"/services/{seed.HAIRCUT}/timeslots") == 3


async def test_batch_lookup_answers_within_budget_with_a_hanging_upstream(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    config = bridge_config(sim, tmp_path / "b.sqlite3", booking={"availability_budget_seconds": 0.3})
    h = Harness(sim=sim, clock=clock, config=config)
    await h.start()
    try:
        await h.rest.get("/HealthCheck")  # token and catalogue warm
        sim.faults.add(method="GET", path=rf"/services/{seed.PASSPORT}/timeslots", action="hang", times=None)
        asked = [
            {"service_id": seed.HAIRCUT, "start_sec": str(int(at(1, 10).timestamp())), "duration_sec": "1800"},
            {"service_id": seed.PASSPORT, "start_sec": str(int(at(1, 10).timestamp())), "duration_sec": "900"},
        ]
        r = await h.rest.post("/BatchAvailabilityLookup", json={"merchant_id": seed.STOCKHOLM, "slot_time": asked})
        assert r.status_code == 200
        # What is known is answered; what the budget did not cover is unavailable.
        assert [a["available"] for a in r.json()["slot_time_availability"]] == [True, False]
    finally:
        sim.faults.clear()
        await h.stop()


async def test_check_availability_counts(harness: Harness) -> None:
    ask = {"slot": slot(at(1, 10), service=seed.PASSPORT, minutes=15)}
    free = await harness.rest.post("/CheckAvailability", json=ask)
    assert free.status_code == 200, free.text
    assert free.json()["count_available"] == 1
    await harness.lease(at(1, 10), reference="held", service=seed.PASSPORT, minutes=15)
    taken = await harness.rest.post("/CheckAvailability", json=ask)
    assert taken.status_code == 200, taken.text
    answer = taken.json()
    assert answer.get("count_available", 0) == 0
    assert answer["slot"] == ask["slot"]


# --- leases and bookings -------------------------------------------------------------


async def test_create_lease_and_book_it(harness: Harness) -> None:
    r = await harness.rest.post("/CreateLease", json={"lease": {"user_reference": "u-ref", "slot": slot(at(1, 10))}})
    assert r.status_code == 200, r.text
    lease = r.json()["lease"]
    expected = harness.clock.now() + dt.timedelta(minutes=14)
    assert lease["lease_expiration_time_sec"] == str(int(expected.timestamp()))
    assert lease["user_reference"] == "u-ref" and lease["slot"] == slot(at(1, 10))
    request = booking_request("t-lease", at(1, 10))
    request["lease_ref"] = {"lease_id": lease["lease_id"]}
    answer = await harness.rest.post("/CreateBooking", json=request)
    assert answer.status_code == 200, answer.text
    assert answer.json()["booking"]["status"] == "CONFIRMED"
    assert harness.upstream_calls("POST", "/reservations") == 1
    assert harness.upstream_calls("PUT", "/reservations/") == 1


async def test_taken_slot_is_a_booking_failure_with_200(harness: Harness) -> None:
    await harness.lease(at(1, 10), reference="held", service=seed.PASSPORT, minutes=15)
    lease = await harness.rest.post("/CreateLease", json={"lease": {"user_reference": "r", "slot": slot(at(1, 10), service=seed.PASSPORT, minutes=15)}})
    assert lease.status_code == 200
    assert lease.json() == {"booking_failure": lease.json()["booking_failure"]}
    assert lease.json()["booking_failure"]["cause"] == "SLOT_UNAVAILABLE"
    r = await harness.rest.post("/CreateBooking", json=booking_request("t-taken", at(1, 10), service=seed.PASSPORT, minutes=15))
    assert r.status_code == 200
    assert r.json()["booking_failure"]["cause"] == "SLOT_UNAVAILABLE"
    assert "booking" not in r.json()
    # The blocker's hold and one refused hold per call; nothing confirmed.
    assert harness.upstream_calls("POST", "/reservations") == 3
    assert harness.upstream_calls("PUT", "/reservations/") == 0


async def test_expired_lease_is_lease_expired(harness: Harness) -> None:
    lease = (await harness.rest.post("/CreateLease", json={"lease": {"user_reference": "r", "slot": slot(at(1, 10))}})).json()["lease"]
    harness.clock.advance(minutes=14)
    request = booking_request("t-exp", at(1, 10))
    request["lease_ref"] = {"lease_id": lease["lease_id"]}
    r = await harness.rest.post("/CreateBooking", json=request)
    assert r.status_code == 200
    assert r.json()["booking_failure"]["cause"] == "LEASE_EXPIRED"
    assert harness.upstream_calls("PUT", "/reservations/") == 0
    assert harness.upstream_calls("DELETE", "/reservations/reservations/") == 1  # the hold given back


async def test_replay_of_create_booking_is_byte_identical_and_books_once(harness: Harness) -> None:
    request = booking_request("18307119013960637991", at(1, 10))
    first = await harness.rest.post("/CreateBooking", json=request)
    booking_id = first.json()["booking"]["booking_id"]
    await update(harness, {"booking_id": booking_id, "status": "CANCELED"})  # the booking changes since
    again = await harness.rest.post("/CreateBooking", json=request)
    assert again.content == first.content
    assert harness.upstream_calls("PUT", "/reservations/") == 1
    assert harness.upstream_calls("POST", "/reservations") == 1


async def test_same_token_with_a_different_request_is_400(harness: Harness) -> None:
    await book(harness, "t-same", at(1, 10))
    r = await harness.rest.post("/CreateBooking", json=booking_request("t-same", at(1, 11)))
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["code"], error["field"]) == (400, "idempotency_token")
    assert error["message"].startswith("idempotency_token "), error
    assert harness.upstream_calls("POST", "/reservations") == 1
    assert harness.upstream_calls("PUT", "/reservations/") == 1


async def test_a_failed_attempt_is_processed_again_on_retry(harness: Harness) -> None:
    await harness.lease(at(1, 10), reference="held", service=seed.PASSPORT, minutes=15)
    request = booking_request("t-retry", at(1, 10), service=seed.PASSPORT, minutes=15)
    assert (await harness.rest.post("/CreateBooking", json=request)).json()["booking_failure"]["cause"] == "SLOT_UNAVAILABLE"
    harness.clock.advance(minutes=16)  # the other hold lapses
    assert (await harness.rest.post("/CreateBooking", json=request)).json()["booking"]["status"] == "CONFIRMED"
    # The blocker's hold, the refused one, the retry's: one confirm, for the retry only.
    assert harness.upstream_calls("POST", "/reservations") == 3
    assert harness.upstream_calls("PUT", "/reservations/") == 1


async def test_the_same_user_on_the_same_slot_is_overlapping(harness: Harness) -> None:
    await book(harness, "t-first", at(1, 10))
    r = await harness.rest.post("/CreateBooking", json=booking_request("t-second", at(1, 10)))
    assert r.json()["booking_failure"]["cause"] == "OVERLAPPING_RESERVATION"
    confirmed = [a for a in harness.sim.state.appointments.values() if a.status == "CONFIRMED"]
    assert len(confirmed) == 1
    assert not [a for a in harness.sim.state.appointments.values() if a.status == "RESERVED"]
    assert harness.upstream_calls("PUT", "/reservations/") == 1  # no confirm for the clashing hold
    assert harness.upstream_calls("DELETE", "/reservations/reservations/") == 1  # which is given back once


async def test_party_size_above_the_service_maximum_is_refused(harness: Harness) -> None:
    r = await harness.rest.post("/CreateBooking", json=booking_request("t-party", at(1, 10), service=seed.PASSPORT, minutes=15, party=3))
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["code"], error["field"]) == (400, "slot.resources.party_size"), error
    assert error["message"].startswith("slot.resources.party_size "), error
    assert harness.upstream_calls("POST", "/reservations") == 0


async def test_party_size_reaches_the_upstream(harness: Harness) -> None:
    await book(harness, "t-two", at(1, 10), service=seed.PASSPORT, minutes=15, party=2)
    [appointment] = harness.sim.state.appointments.values()
    assert appointment.number_of_reservations == 2


async def test_identity_upstream_derives_from_the_user_id(harness: Harness) -> None:
    await book(harness, "t-a", at(1, 10), who=user("u-1", "one@example.com"))
    await book(harness, "t-b", at(1, 11), who=user("u-1", "two@example.com"))
    pids = {a.customer["personalIdentifier"] for a in harness.sim.state.appointments.values()}
    assert len(pids) == 1 and "u-1" not in next(iter(pids))


# --- updates, status, listing ---------------------------------------------------------


async def test_cancel_and_repeat(harness: Harness) -> None:
    booking = (await book(harness, "t-c", at(1, 10)))["booking"]
    first = await update(harness, {"booking_id": booking["booking_id"], "status": "CANCELED"})
    assert first.json()["booking"]["status"] == "CANCELED"
    again = await update(harness, {"booking_id": booking["booking_id"], "status": "CANCELED"})
    assert again.json() == first.json()
    assert harness.upstream_calls("DELETE", "/appointments/") == 1


async def test_reschedule_and_party_size_change(harness: Harness) -> None:
    # A party-size change is a reschedule onto a hold of the new size, so the slot needs
    # room for that hold next to the booking: consultations have two advisors.
    booking = (await book(harness, "t-r", at(1, 10), service=seed.CONSULTATION, minutes=60))["booking"]
    moved = await update(harness, {"booking_id": booking["booking_id"],
                                   "slot": {"start_sec": str(int(at(1, 14).timestamp())), "duration_sec": "3600"}})
    assert moved.json()["booking"]["slot"]["start_sec"] == str(int(at(1, 14).timestamp()))
    bigger = await update(harness, {"booking_id": booking["booking_id"], "slot": {"resources": {"party_size": 2}}})
    assert bigger.json()["booking"]["slot"]["resources"]["party_size"] == 2
    [appointment] = [a for a in harness.sim.state.appointments.values() if a.status == "CONFIRMED"]
    assert (appointment.start, appointment.number_of_reservations) == (at(1, 14), 2)


@pytest.mark.parametrize(
    ("arrange", "change", "cause"),
    [
        ("taken", {"slot": {"start_sec": "@11", "duration_sec": "900"}}, "SLOT_UNAVAILABLE"),
        ("soon", {"status": "CANCELED"}, "OUTSIDE_CANCELLATION_WINDOW"),
        ("branch", {"status": "CANCELED"}, "BOOKING_ALREADY_CANCELLED"),
        ("finalized", {"status": "CANCELED"}, "BOOKING_NOT_CANCELLABLE"),
    ],
)
async def test_update_failures_are_booking_failures(harness: Harness, arrange: str, change: dict, cause: str) -> None:
    start = at(0, 9, 30) if arrange == "soon" else at(1, 10)
    booking = (await book(harness, "t-u", start, service=seed.PASSPORT, minutes=15))["booking"]
    appointment = next(iter(harness.sim.state.appointments.values()))
    if arrange == "taken":
        await harness.lease(at(1, 11), reference="blocker", service=seed.PASSPORT, minutes=15)
        change["slot"]["start_sec"] = str(int(at(1, 11).timestamp()))
    elif arrange == "branch":
        harness.sim.state.cancel_at_branch(appointment.id)
    elif arrange == "finalized":
        harness.sim.faults.add(method="DELETE", path=r"^/appointments/", action="status", status=409,
                               body={"errorCode": "APPOINTMENT_FINALIZED", "message": "visit done"})
    r = await update(harness, {"booking_id": booking["booking_id"], **change})
    assert r.status_code == 200
    assert r.json()["booking_failure"]["cause"] == cause
    if arrange == "taken":
        assert appointment.start == at(1, 10)
        assert harness.upstream_calls("PUT", "/appointments/") == 0
    else:
        # Each refusal is the upstream's answer to the one cancel sent.
        assert harness.upstream_calls("DELETE", "/appointments/") == 1


async def test_update_of_an_unknown_booking_is_400(harness: Harness) -> None:
    r = await update(harness, {"booking_id": "nope", "status": "CANCELED"})
    # 400, not 404: the reference lists cancelling a booking that never existed among the
    # 400s (errortable.V3_HTTP_BY_METHOD).
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == 400
    assert error["message"] == "booking 'nope' does not exist", error
    assert harness.sim.requests == []


async def test_update_with_nothing_to_change_is_400(harness: Harness) -> None:
    booking = (await book(harness, "t-n", at(1, 10)))["booking"]
    r = await update(harness, {"booking_id": booking["booking_id"]})
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["code"], error["field"]) == (400, "booking"), error
    assert error["message"].startswith("booking "), error
    assert harness.upstream_calls("DELETE", "/appointments/") == 0
    assert harness.upstream_calls("PUT", "/appointments/") == 0


async def test_status_reflects_a_cancellation_at_the_branch(harness: Harness) -> None:
    booking = (await book(harness, "t-s", at(1, 10)))["booking"]
    ask = {"booking_id": booking["booking_id"]}
    assert (await harness.rest.post("/GetBookingStatus", json=ask)).json()["booking_status"] == "CONFIRMED"
    harness.sim.state.cancel_at_branch(next(iter(harness.sim.state.appointments)))
    answer = (await harness.rest.post("/GetBookingStatus", json=ask)).json()
    assert answer == {"booking_id": booking["booking_id"], "booking_status": "CANCELED",
                      "prepayment_status": "PREPAYMENT_NOT_PROVIDED"}


async def test_status_of_an_unknown_booking_is_404_and_upstream_down_is_503(harness: Harness) -> None:
    unknown = await harness.rest.post("/GetBookingStatus", json={"booking_id": "nope"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == 404
    assert unknown.json()["error"]["message"] == "booking 'nope' does not exist"
    booking = (await book(harness, "t-d", at(1, 10)))["booking"]
    await harness.sim.stop()
    r = await harness.rest.post("/GetBookingStatus", json={"booking_id": booking["booking_id"]})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == 503


async def test_list_bookings_shows_the_users_bookings_with_the_upstreams_status(harness: Harness) -> None:
    mine = [(await book(harness, f"t-l{i}", at(1, 10 + i)))["booking"] for i in range(2)]
    await book(harness, "t-other", at(1, 13), who=user("someone-else", "else@example.com"))
    harness.sim.state.cancel_at_branch(next(a.id for a in harness.sim.state.appointments.values() if a.start == at(1, 11)))
    listed = (await harness.rest.post("/ListBookings", json={"user_id": "1111111111111111111"})).json()["bookings"]
    assert [b["booking_id"] for b in listed] == [b["booking_id"] for b in mine]
    assert [b["status"] for b in listed] == ["CONFIRMED", "CANCELED"]
    empty = await harness.rest.post("/ListBookings", json={"user_id": "nobody"})
    assert empty.status_code == 200 and empty.json() == {}


async def test_concurrent_replays_of_one_token_book_once(harness: Harness) -> None:
    request = booking_request("t-race", at(1, 10))
    answers = await asyncio.gather(*(harness.rest.post("/CreateBooking", json=request) for _ in range(8)))
    assert len({a.content for a in answers}) == 1
    assert harness.upstream_calls("PUT", "/reservations/") == 1


async def test_a_lost_confirm_is_reconciled_under_the_same_token(harness: Harness) -> None:
    request = booking_request("t-lost", at(1, 10))
    harness.sim.faults.add(method="PUT", path=r"^/reservations/", action="drop_after")
    lost = await harness.rest.post("/CreateBooking", json=request)
    assert lost.status_code == 503
    retried = await harness.rest.post("/CreateBooking", json=request)
    assert retried.json()["booking"]["status"] == "CONFIRMED"
    assert harness.upstream_calls("PUT", "/reservations/") == 1
    assert harness.upstream_calls("POST", "/reservations") == 1
    assert [a.status for a in harness.sim.state.appointments.values()] == ["CONFIRMED"]


async def test_a_consumed_lease_does_not_make_a_second_booking_under_another_token(harness: Harness) -> None:
    lease = (await harness.rest.post("/CreateLease", json={"lease": {"user_reference": "r", "slot": slot(at(1, 10))}})).json()["lease"]
    first = booking_request("t-one", at(1, 10))
    first["lease_ref"] = {"lease_id": lease["lease_id"]}
    assert (await harness.rest.post("/CreateBooking", json=first)).json()["booking"]["status"] == "CONFIRMED"
    second = dict(first, idempotency_token="t-two")
    r = await harness.rest.post("/CreateBooking", json=second)
    assert r.json()["booking_failure"]["cause"] == "LEASE_EXPIRED"
    assert harness.upstream_calls("PUT", "/reservations/") == 1
