"""v2/v3 CreateBooking's idempotency decisions, proven end to end over v3 REST: the first
answer is the answer, a failed attempt is forgotten whole, a lost one is kept."""

from __future__ import annotations

from bridge.simulator import seed

from .harness import Harness, at
from .test_v3_rest import booking_request


def held(harness: Harness) -> list:
    return [a for a in harness.sim.state.appointments.values() if a.status == "RESERVED"]


async def test_a_failed_attempt_frees_its_token_for_a_different_request(harness: Harness) -> None:
    await harness.lease(at(1, 10), reference="blocker", service=seed.PASSPORT, minutes=15)
    refused = await harness.rest.post("/CreateBooking", json=booking_request(
        "t-free", at(1, 10), service=seed.PASSPORT, minutes=15))
    assert refused.json()["booking_failure"]["cause"] == "SLOT_UNAVAILABLE"

    # Nothing was booked under the token, so it does not pin the caller to that request.
    other = await harness.rest.post("/CreateBooking", json=booking_request(
        "t-free", at(1, 11), service=seed.PASSPORT, minutes=15))
    assert other.status_code == 200
    assert other.json()["booking"]["status"] == "CONFIRMED"


async def test_a_failed_lease_less_attempt_gives_its_hold_back(harness: Harness) -> None:
    harness.sim.faults.add(method="PUT", path=r"^/reservations/", action="status", status=409,
                           body={"errorCode": "TIMESLOT_UNAVAILABLE", "message": "taken meanwhile"})
    r = await harness.rest.post("/CreateBooking", json=booking_request("t-give", at(1, 10)))
    assert r.json()["booking_failure"]["cause"] == "SLOT_UNAVAILABLE"
    assert held(harness) == []
    assert harness.upstream_calls("DELETE", "/reservations/") == 1

    # The retry is processed afresh: a new hold, then the confirm.
    again = await harness.rest.post("/CreateBooking", json=booking_request("t-give", at(1, 10)))
    assert again.json()["booking"]["status"] == "CONFIRMED"
    assert harness.upstream_calls("POST", "/reservations") == 2


async def test_a_lost_attempt_keeps_its_token_and_its_hold(harness: Harness) -> None:
    request = booking_request("t-keep", at(1, 10), service=seed.PASSPORT, minutes=15)
    harness.sim.faults.add(method="PUT", path=r"^/reservations/", action="drop_before")
    lost = await harness.rest.post("/CreateBooking", json=request)
    assert lost.status_code == 503
    # Whether the confirm landed is unknown: the hold stays, nothing is given back.
    assert len(held(harness)) == 1
    assert harness.upstream_calls("DELETE", "/reservations/") == 0

    # The same token with another request is still refused: the first may yet be booked.
    other = await harness.rest.post("/CreateBooking", json=booking_request(
        "t-keep", at(1, 11), service=seed.PASSPORT, minutes=15))
    assert other.status_code == 400
    assert other.json()["error"]["field"] == "idempotency_token"

    retried = await harness.rest.post("/CreateBooking", json=request)
    assert retried.json()["booking"]["status"] == "CONFIRMED"
    assert harness.upstream_calls("POST", "/reservations") == 1
    assert [a.status for a in harness.sim.state.appointments.values()] == ["CONFIRMED"]


async def test_a_booking_whose_answer_was_not_stored_is_answered_on_retry_without_booking_again(
    harness: Harness, monkeypatch
) -> None:
    store = harness.bridge.store
    real = store.store_response

    async def failing(key: str, response: bytes) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "store_response", failing)
    request = booking_request("t-unstored", at(1, 10))
    first = await harness.rest.post("/CreateBooking", json=request)
    assert first.status_code == 500
    monkeypatch.setattr(store, "store_response", real)

    # Booked, but its answer was never stored: the retry answers from the booking itself,
    # even once the slot has begun and a new booking of it would be refused.
    harness.clock.advance(hours=27, minutes=5)
    retried = await harness.rest.post("/CreateBooking", json=request)
    assert retried.json()["booking"]["status"] == "CONFIRMED"
    assert harness.upstream_calls("POST", "/reservations") == 1
    assert harness.upstream_calls("PUT", "/reservations/") == 1
    assert harness.upstream_calls("GET", "/appointments/") == 0
    assert (await harness.rest.post("/CreateBooking", json=request)).content == retried.content
