"""Parsing Qmatic's JSON: tolerant of what is optional, strict about ids and times."""

from __future__ import annotations

import datetime

import httpx
import pytest
import respx

from bridge.config import UpstreamConfig
from bridge.failures import BridgeError, Cause, OutcomeUnknown
from bridge.upstream import AppointmentStatus, Customer, QmaticClient

BASE = "https://qmatic.test/external/v1"
TOKEN_URL = "https://auth.qmatic.test/oauth2/token"
UTC = datetime.timezone.utc


@pytest.fixture
def router() -> respx.MockRouter:
    router = respx.MockRouter(assert_all_called=False)
    router.post(TOKEN_URL).respond(200, json={"access_token": "tok", "expires_in": 3600})
    return router


@pytest.fixture
async def client(router):
    config = UpstreamConfig(base_url=BASE, token_url=TOKEN_URL, account="acme")
    c = QmaticClient(config, client_id="id", client_secret="secret", transport=httpx.MockTransport(router.async_handler))
    yield c
    await c.aclose()


def slot(start: object = "2022-03-03T09:00:00+01:00", end: object = "2022-03-03T09:30:00+01:00") -> dict:
    return {"startTime": start, "endTime": end}


async def read(client, router, answer) -> object:
    router.get(f"{BASE}/appointments/a").respond(200, json=answer)
    return await client.get_appointment("t", "a")


async def test_minimal_appointment_gets_defaults(client, router):
    appointment = await read(client, router, {"appointmentId": "a", "timeSlot": slot()})
    assert appointment.status is AppointmentStatus.UNKNOWN
    assert (appointment.branch_id, appointment.service_id, appointment.resource_id) == (None, None, None)
    assert appointment.number_of_reservations == 1


@pytest.mark.parametrize("status", ["NO_SHOW", "", None, 7, "reserved"])
async def test_unknown_status_is_unknown(client, router, status):
    appointment = await read(client, router, {"appointmentId": "a", "status": status, "timeSlot": slot()})
    assert appointment.status is AppointmentStatus.UNKNOWN


@pytest.mark.parametrize("status", ["RESERVED", "CONFIRMED", "CANCELLED", "FINALIZED"])
async def test_known_statuses(client, router, status):
    appointment = await read(client, router, {"appointmentId": "a", "status": status, "timeSlot": slot()})
    assert appointment.status.value == status


async def test_times_keep_their_offset_and_become_utc(client, router):
    answer = {"appointmentId": "a", "timeSlot": slot("2022-03-03T23:30:00-05:00", "2022-03-04T04:45:00Z")}
    appointment = await read(client, router, answer)
    assert appointment.start == datetime.datetime(2022, 3, 4, 4, 30, tzinfo=UTC)
    assert appointment.start.tzinfo is UTC
    assert appointment.end == datetime.datetime(2022, 3, 4, 4, 45, tzinfo=UTC)


async def test_resource_and_extra_keys(client, router):
    answer = {
        "appointmentId": "a",
        "timeSlot": slot(),
        "resource": {"id": "r-1"},
        "customer": {"firstName": "X"},
        "supportNotes": "n",
        "somethingNew": {"x": 1},
    }
    appointment = await read(client, router, answer)
    assert appointment.resource_id == "r-1"


@pytest.mark.parametrize(
    "answer",
    [
        {"timeSlot": slot()},
        {"appointmentId": "", "timeSlot": slot()},
        {"appointmentId": "a"},
        {"appointmentId": "a", "timeSlot": slot(start="yesterday")},
        {"appointmentId": "a", "timeSlot": slot(start="2022-03-03T09:00:00")},  # no offset
        {"appointmentId": "a", "timeSlot": slot(end=None)},
        {"appointmentId": "a", "timeSlot": slot(), "numberOfReservations": "two"},
        ["not", "an", "object"],
    ],
)
async def test_malformed_appointment_is_internal(client, router, answer):
    with pytest.raises(BridgeError) as caught:
        await read(client, router, answer)
    assert caught.value.cause is Cause.INTERNAL
    assert "malformed" in caught.value.message


@pytest.mark.parametrize(("start", "why"), [("2022-03-03T09:00:00", "has no UTC offset"), ("yesterday", "unparsable time")])
async def test_a_bad_time_is_refused_as_often_as_it_comes_and_says_why(client, router, start, why):
    """Parsed times are remembered (an answer's times repeat); a refusal is not."""
    for _ in range(2):
        with pytest.raises(BridgeError) as caught:
            await read(client, router, {"appointmentId": "a", "timeSlot": slot(start=start)})
        assert why in caught.value.message


async def test_non_json_success_is_internal_for_a_read(client, router):
    router.get(f"{BASE}/services").respond(200, content=b"<html/>")
    with pytest.raises(BridgeError) as caught:
        await client.services("t")
    assert caught.value.cause is Cause.INTERNAL


@pytest.mark.parametrize("entry", [{"branch": {"id": "b"}}, {"service": {"id": "s"}}, "x"])
async def test_malformed_catalogue_entry_is_internal(client, router, entry):
    router.get(f"{BASE}/services").respond(200, json=[entry])
    with pytest.raises(BridgeError) as caught:
        await client.services("t")
    assert caught.value.cause is Cause.INTERNAL


async def test_malformed_timeslots_are_internal(client, router):
    router.get(f"{BASE}/services/s/timeslots").respond(200, json=[{"startTime": "2022-03-03T09:00:00+01:00"}])
    with pytest.raises(BridgeError) as caught:
        await client.timeslots("t", service_id="s", branch_id="b", day=datetime.date(2022, 3, 3))
    assert caught.value.cause is Cause.INTERNAL


async def test_unreadable_answer_to_a_write_is_outcome_unknown(client, router):
    # The upstream says the confirm happened; only its echo is unreadable, so the caller
    # must look the appointment up rather than report a failure.
    router.put(f"{BASE}/reservations/a").respond(201, json={"status": "CONFIRMED"})
    with pytest.raises(OutcomeUnknown) as caught:
        await client.confirm("t", "a", Customer("HASH0123456789abcdef", "A", "B", "a@b.c"))
    assert caught.value.cause is Cause.UNAVAILABLE
    assert "malformed" in caught.value.message


def test_customer_repr_hides_personal_data():
    customer = Customer("HASH0123456789abcdef", "Grace", "Hopper", "grace@example.org", "+31 555", datetime.date(1906, 12, 9))
    text = repr(customer) + str(customer)
    for secret in ("HASH0123456789abcdef", "Grace", "Hopper", "grace@example.org", "+31 555", "1906"):
        assert secret not in text
