"""QmaticClient: request shapes, parsed answers, the token, and what reaches the logs."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import logging
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from bridge.config import UpstreamConfig
from bridge.failures import BridgeError, Cause
from bridge.upstream import (
    Address,
    Appointment,
    AppointmentStatus,
    Customer,
    Offering,
    QmaticClient,
    ServiceBranch,
    ServiceGroup,
    ServiceGroups,
    ServiceSummary,
    TokenRefused,
)

BASE = "https://qmatic.test/external/v1"
TOKEN_URL = "https://auth.qmatic.test/oauth2/token"
CONFIG = UpstreamConfig(base_url=BASE, token_url=TOKEN_URL, account="acme", tenant_id="tenant-cfg", language="nl_NL")
SECRET = "s3cret-Value"
UTC = datetime.timezone.utc
CET = datetime.timezone(datetime.timedelta(hours=1))
CUSTOMER = Customer(
    personal_identifier="HASH0123456789abcdef",
    first_name="Grace",
    last_name="Hopper",
    email="grace@example.org",
    phone="+31 20 555-0100",
    date_of_birth=datetime.date(1906, 12, 9),
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def appointment_json(appointment_id: str = "appt-1", status: str = "RESERVED") -> dict:
    return {
        "appointmentId": appointment_id,
        "status": status,
        "timeSlot": {"startTime": "2022-03-03T09:00:00+01:00", "endTime": "2022-03-03T09:30:00+01:00"},
        "service": {"id": "svc-1", "name": "Passport"},
        "branch": {"id": "br-1", "name": "Centre"},
        "numberOfReservations": 2,
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_called=False)


@pytest.fixture
def token_route(router: respx.MockRouter) -> respx.Route:
    return router.post(TOKEN_URL).respond(200, json={"access_token": "tok-1", "expires_in": 3600, "token_type": "Bearer"})


@pytest.fixture
async def client(router: respx.MockRouter, clock: Clock, token_route: respx.Route):
    c = QmaticClient(
        CONFIG,
        client_id="bridge-id",
        client_secret=SECRET,
        transport=httpx.MockTransport(router.async_handler),
        monotonic=clock,
    )

    async def no_pause(seconds: float) -> None:
        pass

    c._sleep = no_pause
    yield c
    await c.aclose()


def body(route: respx.Route, index: int = -1) -> object:
    return json.loads(route.calls[index].request.content)


# --- request shapes and parsed answers ------------------------------------------------


async def test_services_request_and_offerings(client, router):
    route = router.get(f"{BASE}/services").respond(
        200,
        json=[
            {
                "branch": {"id": "br-1", "name": "Centre", "address": {"city": "Utrecht"},
                           "location": {"latitude": 52.09, "longitude": 5.12}},
                "service": {"id": "svc-1", "name": "Passport",
                            "config": {"maxNumberOfReservations": 3, "onlineBookable": False, "dateOfBirthRequired": True}},
                "resourceSelection": {"required": True, "availableResources": [{"id": "r-1", "name": "Desk 1"}, {"id": "r-2"}]},
                "informationQuestions": [{"required": True, "questionText": "Why?"}, {"required": False}],
                "screeningQuestions": [{"questionText": "ID?"}],
            },
            {"branch": {"id": "br-2"}, "service": {"id": "svc-2"}},
        ],
    )
    offerings = await client.services("tenant-1")
    headers = route.calls.last.request.headers
    assert headers["Authorization"] == "Bearer tok-1"
    assert headers["X-TENANT-ID"] == "tenant-1"
    assert headers["Accept"] == "application/json"
    assert headers["Accept-Language"] == "nl_NL"
    assert offerings == [
        Offering("br-1", "Centre", "svc-1", "Passport", 3, False, ("r-1", "r-2"), True,
                 branch_address=Address(city="Utrecht"), branch_location=(52.09, 5.12),
                 required_information_questions=1, screening_questions=1, date_of_birth_required=True),
        Offering("br-2", "", "svc-2", "", 1, True, (), False),
    ]
    assert offerings[0].resource_names == {"r-1": "Desk 1"}


async def test_timeslots_request_and_utc_times(client, router):
    route = router.get(f"{BASE}/services/svc-1/timeslots").respond(
        200, json=[{"startTime": "2022-03-03T09:00:00+01:00", "endTime": "2022-03-03T09:30:00+01:00"}]
    )
    slots = await client.timeslots(
        "tenant-1", service_id="svc-1", branch_id="br-1", day=datetime.date(2022, 3, 3), count=2, resource_id="r-1"
    )
    request = route.calls.last.request
    assert dict(request.url.params) == {
        "branchId": "br-1",
        "numberOfReservations": "2",
        "date": "2022-03-03",
        "requestedResourceId": "r-1",
    }
    assert request.headers["Accept-Language"] == "nl_NL"
    assert request.headers["X-TENANT-ID"] == "tenant-1"
    start, end = slots[0]
    assert start == datetime.datetime(2022, 3, 3, 8, 0, tzinfo=UTC)
    assert start.utcoffset() == datetime.timedelta(0) and end.utcoffset() == datetime.timedelta(0)
    assert end == datetime.datetime(2022, 3, 3, 8, 30, tzinfo=UTC)


async def test_timeslots_without_resource_omits_it(client, router):
    route = router.get(f"{BASE}/services/svc-1/timeslots").respond(200, json=[])
    assert await client.timeslots("t", service_id="svc-1", branch_id="br-1", day=datetime.date(2022, 3, 3)) == []
    assert "requestedResourceId" not in route.calls.last.request.url.params
    assert route.calls.last.request.url.params["numberOfReservations"] == "1"


async def test_groups_request_and_answer(client, router):
    route = router.get(f"{BASE}/services/groups").respond(
        200,
        json={
            "services": [
                {"id": "svc-1", "name": "Passport", "index": 0, "externalDescription": "Photos", "onlineBookable": False},
                {"id": "svc-2"},
            ],
            "serviceGroups": [
                {"id": "grp-1", "name": "Documents", "index": 0, "services": [{"id": "svc-1", "name": "Passport", "index": 0}]},
                {"id": "grp-2"},
            ],
        },
    )
    groups = await client.groups("tenant-1")
    headers = route.calls.last.request.headers
    assert headers["X-TENANT-ID"] == "tenant-1"
    assert headers["Accept-Language"] == "nl_NL"
    assert groups == ServiceGroups(
        services=(ServiceSummary("svc-1", "Passport", 0, False), ServiceSummary("svc-2", "", None, True)),
        groups=(
            ServiceGroup("grp-1", "Documents", (ServiceSummary("svc-1", "Passport", 0, True),)),
            ServiceGroup("grp-2", "", ()),
        ),
    )


@pytest.mark.parametrize(
    "answer",
    [[], {"services": {}}, {"serviceGroups": [{"name": "no id"}]}, {"services": [{"name": "no id"}]}, {"serviceGroups": 3}],
)
async def test_groups_malformed_answer_is_internal(client, router, answer):
    router.get(f"{BASE}/services/groups").respond(200, json=answer)
    with pytest.raises(BridgeError) as caught:
        await client.groups("tenant-1")
    assert caught.value.cause is Cause.INTERNAL


async def test_branches_of_a_service(client, router):
    route = router.get(f"{BASE}/services/svc%2F1").respond(
        200,
        json=[
            {
                "branch": {"id": "br-1", "name": "Centre", "address": {"city": "Utrecht"}},
                "resourceSelection": {"required": True, "availableResources": [{"id": "r-1", "name": "Desk 1"}]},
            },
            {"branch": {"id": "br-2"}},
        ],
    )
    branches = await client.branches("tenant-1", "svc/1")
    request = route.calls.last.request
    assert request.headers["X-TENANT-ID"] == "tenant-1"
    assert request.headers["Accept-Language"] == "nl_NL"
    assert branches == [ServiceBranch("br-1", "Centre", ("r-1",), True), ServiceBranch("br-2", "", (), False)]


@pytest.mark.parametrize("answer", [{}, [{"branch": {}}], [{"branch": {"id": "b"}, "resourceSelection": {"availableResources": 1}}]])
async def test_branches_malformed_answer_is_internal(client, router, answer):
    router.get(f"{BASE}/services/svc-1").respond(200, json=answer)
    with pytest.raises(BridgeError) as caught:
        await client.branches("tenant-1", "svc-1")
    assert caught.value.cause is Cause.INTERNAL


async def test_branches_of_an_unknown_service_is_invalid_argument(client, router):
    route = router.get(f"{BASE}/services/nope").respond(400, json={"errorCode": "VALIDATION_ERROR", "message": "serviceId: unknown"})
    with pytest.raises(BridgeError) as caught:
        await client.branches("tenant-1", "nope")
    assert caught.value.cause is Cause.INVALID_ARGUMENT
    assert "serviceId: unknown" in caught.value.message
    assert route.call_count == 1


async def test_hold_body_headers_and_answer(client, router):
    route = router.post(f"{BASE}/reservations").respond(201, json=appointment_json())
    appointment = await client.hold(
        "tenant-1",
        service_id="svc-1",
        branch_id="br-1",
        start=datetime.datetime(2022, 3, 3, 9, 0, tzinfo=CET),
        end=datetime.datetime(2022, 3, 3, 9, 30, tzinfo=CET),
        count=2,
        resource_id="r-1",
        notes="via Google",
    )
    assert body(route) == {
        "serviceId": "svc-1",
        "branchId": "br-1",
        "requestedResourceId": "r-1",
        "timeSlot": {"startTime": "2022-03-03T09:00:00+01:00", "endTime": "2022-03-03T09:30:00+01:00"},
        "notes": "via Google",
        "numberOfReservations": 2,
    }
    headers = route.calls.last.request.headers
    assert headers["X-TENANT-ID"] == "tenant-1"
    assert headers["Authorization"] == "Bearer tok-1"
    assert "Accept-Language" not in headers
    assert appointment == Appointment(
        id="appt-1",
        status=AppointmentStatus.RESERVED,
        start=datetime.datetime(2022, 3, 3, 8, 0, tzinfo=UTC),
        end=datetime.datetime(2022, 3, 3, 8, 30, tzinfo=UTC),
        branch_id="br-1",
        service_id="svc-1",
        resource_id=None,
        number_of_reservations=2,
    )


async def test_hold_minimal_body_and_200_accepted(client, router):
    route = router.post(f"{BASE}/reservations").respond(200, json=appointment_json())
    start = datetime.datetime(2022, 3, 3, 8, 0, tzinfo=UTC)
    await client.hold("t", service_id="s", branch_id="b", start=start, end=start + datetime.timedelta(minutes=30))
    assert body(route) == {
        "serviceId": "s",
        "branchId": "b",
        "timeSlot": {"startTime": "2022-03-03T08:00:00+00:00", "endTime": "2022-03-03T08:30:00+00:00"},
        "numberOfReservations": 1,
    }


async def test_naive_datetime_is_refused_before_sending(client, router, token_route):
    route = router.post(f"{BASE}/reservations").respond(201, json=appointment_json())
    naive = datetime.datetime(2022, 3, 3, 9, 0)
    with pytest.raises(ValueError, match="naive datetime 2022-03-03T09:00:00 has no UTC offset"):
        await client.hold("t", service_id="s", branch_id="b", start=naive, end=naive)
    assert route.call_count == 0 and token_route.call_count == 0


async def test_confirm_sends_customer(client, router):
    route = router.put(f"{BASE}/reservations/appt-1").respond(201, json=appointment_json(status="CONFIRMED"))
    appointment = await client.confirm("tenant-1", "appt-1", CUSTOMER)
    assert body(route) == {
        "customer": {
            "personalIdentifier": "HASH0123456789abcdef",
            "firstName": "Grace",
            "lastName": "Hopper",
            "email": "grace@example.org",
            "phoneNumber": "+31 20 555-0100",
            "dateOfBirth": "1906-12-09",
        }
    }
    assert appointment.status is AppointmentStatus.CONFIRMED


async def test_confirm_omits_absent_optional_fields(client, router):
    route = router.put(f"{BASE}/reservations/appt-1").respond(200, json=appointment_json(status="CONFIRMED"))
    await client.confirm("t", "appt-1", Customer("HASH0123456789abcdef", "A", "B", "a@b.c"))
    assert body(route) == {
        "customer": {"personalIdentifier": "HASH0123456789abcdef", "firstName": "A", "lastName": "B", "email": "a@b.c"}
    }


async def test_release(client, router):
    route = router.delete(f"{BASE}/reservations/reservations/appt-1").respond(204)
    assert await client.release("tenant-1", "appt-1") is None
    assert route.call_count == 1
    assert route.calls.last.request.headers["X-TENANT-ID"] == "tenant-1"


async def test_get_appointment(client, router):
    route = router.get(f"{BASE}/appointments/appt-1").respond(200, json=appointment_json(status="FINALIZED"))
    appointment = await client.get_appointment("tenant-1", "appt-1")
    assert appointment.status is AppointmentStatus.FINALIZED
    assert appointment.start == datetime.datetime(2022, 3, 3, 8, 0, tzinfo=UTC)
    assert "Accept-Language" not in route.calls.last.request.headers


async def test_search(client, router):
    route = router.post(f"{BASE}/appointments/search").respond(
        200, json=[appointment_json("a-1", "CONFIRMED"), appointment_json("a-2", "CANCELLED")]
    )
    found = await client.search("tenant-1", "HASH0123456789abcdef")
    assert body(route) == {"customer": {"personalIdentifier": "HASH0123456789abcdef"}}
    assert [(a.id, a.status) for a in found] == [("a-1", AppointmentStatus.CONFIRMED), ("a-2", AppointmentStatus.CANCELLED)]


async def test_cancel(client, router):
    route = router.delete(f"{BASE}/appointments/appt-1").respond(204)
    assert await client.cancel("tenant-1", "appt-1") is None
    assert route.call_count == 1


async def test_update_customer_sends_flat_body(client, router):
    route = router.put(f"{BASE}/appointments/appt-1/customer").respond(204)
    assert await client.update_customer("tenant-1", "appt-1", CUSTOMER) is None
    assert body(route) == {
        "personalIdentifier": "HASH0123456789abcdef",
        "firstName": "Grace",
        "lastName": "Hopper",
        "email": "grace@example.org",
        "phoneNumber": "+31 20 555-0100",
        "dateOfBirth": "1906-12-09",
    }


async def test_reschedule(client, router):
    answer = appointment_json(status="CONFIRMED")
    answer["timeSlot"] = {"startTime": "2022-03-04T10:00:00+01:00", "endTime": "2022-03-04T10:30:00+01:00"}
    route = router.put(f"{BASE}/appointments/appt-1/reschedule").respond(200, json=answer)
    appointment = await client.reschedule("tenant-1", "appt-1", "hold-2")
    assert body(route) == {"reservationId": "hold-2"}
    assert appointment.id == "appt-1"
    assert appointment.start == datetime.datetime(2022, 3, 4, 9, 0, tzinfo=UTC)


async def test_ids_cannot_escape_their_path_segment(client, router):
    route = router.get(f"{BASE}/appointments/a%2F..%2Fservices").respond(200, json=appointment_json())
    await client.get_appointment("t", "a/../services")
    assert route.call_count == 1


async def test_probe_uses_configured_tenant(client, router, token_route):
    route = router.get(f"{BASE}/services").respond(200, json=[])
    await client.probe()
    assert route.calls.last.request.headers["X-TENANT-ID"] == "tenant-cfg"
    assert token_route.call_count == 1


async def test_probe_raises_when_upstream_is_down(client, router):
    route = router.get(f"{BASE}/services").mock(side_effect=httpx.ConnectError)
    with pytest.raises(BridgeError) as caught:
        await client.probe()
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == CONFIG.max_attempts  # a read: retried, then given up


# --- the token ------------------------------------------------------------------------


async def test_token_request_shape(client, router, token_route):
    router.get(f"{BASE}/appointments/appt-1").respond(200, json=appointment_json())
    await client.get_appointment("t", "appt-1")
    request = token_route.calls.last.request
    assert request.method == "POST"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"bridge-id:{SECRET}".encode()).decode()
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["X-ACCOUNT"] == "acme"
    form = parse_qs(request.content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"][0].split(" ") == [
        "com.qmatic.saas.appointments/external.appointment.book",
        "com.qmatic.saas.appointments/external.appointment.reschedule",
        "com.qmatic.saas.appointments/external.appointment.cancel",
    ]


async def test_token_is_cached_and_refreshed_60s_before_expiry(client, router, token_route, clock):
    route = router.get(f"{BASE}/appointments/appt-1").respond(200, json=appointment_json())
    for _ in range(5):
        await client.get_appointment("t", "appt-1")
    assert token_route.call_count == 1
    clock.now += 3600 - 61
    await client.get_appointment("t", "appt-1")
    assert token_route.call_count == 1
    clock.now += 2
    await client.get_appointment("t", "appt-1")
    assert token_route.call_count == 2
    assert route.call_count == 7


async def test_concurrent_cold_callers_share_one_token_fetch(client, router, token_route):
    gate = asyncio.Event()

    async def slow_token(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3600})

    token_route.mock(side_effect=slow_token)
    route = router.get(f"{BASE}/appointments/appt-1").respond(200, json=appointment_json())
    calls = [asyncio.create_task(client.get_appointment("t", "appt-1")) for _ in range(10)]
    await asyncio.sleep(0.01)  # every caller is now waiting on the one refresh
    gate.set()
    await asyncio.gather(*calls)
    assert token_route.call_count == 1
    assert route.call_count == 10


@pytest.mark.parametrize("operation", ["read", "hold"])
async def test_401_fetches_one_fresh_token_and_repeats_once(client, router, token_route, operation):
    token_route.side_effect = [
        httpx.Response(200, json={"access_token": "tok-1", "expires_in": 3600}),
        httpx.Response(200, json={"access_token": "tok-2", "expires_in": 3600}),
    ]
    if operation == "read":
        route = router.get(f"{BASE}/appointments/appt-1")
        route.side_effect = [httpx.Response(401), httpx.Response(200, json=appointment_json())]
        await client.get_appointment("t", "appt-1")
    else:
        route = router.post(f"{BASE}/reservations")
        route.side_effect = [httpx.Response(401), httpx.Response(201, json=appointment_json())]
        start = datetime.datetime(2022, 3, 3, 8, tzinfo=UTC)
        await client.hold("t", service_id="s", branch_id="b", start=start, end=start)
    assert token_route.call_count == 2
    assert route.call_count == 2
    assert [c.request.headers["Authorization"] for c in route.calls] == ["Bearer tok-1", "Bearer tok-2"]


async def test_second_401_is_unavailable(client, router, token_route):
    route = router.delete(f"{BASE}/appointments/appt-1").respond(401)
    with pytest.raises(BridgeError) as caught:
        await client.cancel("t", "appt-1")
    assert caught.value.cause is Cause.UNAVAILABLE
    assert type(caught.value) is BridgeError
    assert route.call_count == 2
    assert token_route.call_count == 2


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_rejected_credentials_are_a_configuration_error(client, router, token_route, status):
    token_route.respond(status, json={"error": "invalid_client"})
    route = router.get(f"{BASE}/appointments/appt-1").respond(200, json=appointment_json())
    with pytest.raises(BridgeError) as caught:
        await client.get_appointment("t", "appt-1")
    assert caught.value.cause is Cause.INTERNAL
    assert isinstance(caught.value, TokenRefused)
    assert caught.value.message == f"token_url: {TOKEN_URL} answered {status} invalid_client"
    assert token_route.call_count == 1
    assert route.call_count == 0


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"errorCode": "UNAUTHORIZED", "message": "bad   client\ncredentials"}, "401 UNAUTHORIZED: bad client credentials"),
        ({"error": "invalid_client", "error_description": f"secret {SECRET} of bridge-id is wrong"},
         "401 invalid_client: secret <client secret> of <client id> is wrong"),
        ({"message": "x" * 500}, "401: " + "x" * 199 + "…"),
        ({"errorCode": 7}, "401"),
        ("not json", "401"),
    ],
    ids=["qmatic", "oauth2-echoing-the-secret", "long", "not-text", "not-json"],
)
async def test_a_refusal_names_the_endpoints_answer_short_and_without_the_credentials(
    client, router, token_route, answer, said
):
    if isinstance(answer, str):
        token_route.respond(401, text=answer)
    else:
        token_route.respond(401, json=answer)
    with pytest.raises(TokenRefused) as caught:
        await client.get_appointment("t", "appt-1")
    assert caught.value.message == f"token_url: {TOKEN_URL} answered {said}"


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ReadTimeout, httpx.Response(503)])
async def test_unreachable_token_endpoint_is_unavailable(client, router, token_route, failure):
    token_route.mock(side_effect=failure) if not isinstance(failure, httpx.Response) else token_route.mock(return_value=failure)
    route = router.post(f"{BASE}/reservations").respond(201, json=appointment_json())
    start = datetime.datetime(2022, 3, 3, 8, tzinfo=UTC)
    with pytest.raises(BridgeError) as caught:
        await client.hold("t", service_id="s", branch_id="b", start=start, end=start)
    assert caught.value.cause is Cause.UNAVAILABLE
    # Nothing reached the API, so even a hold may try again for a token.
    assert token_route.call_count == CONFIG.max_attempts
    assert route.call_count == 0


async def test_token_answer_without_access_token_is_internal(client, router, token_route):
    token_route.respond(200, json={"token_type": "Bearer"})
    route = router.get(f"{BASE}/services").respond(200, json=[])
    with pytest.raises(BridgeError) as caught:
        await client.services("t")
    assert caught.value.cause is Cause.INTERNAL
    assert caught.value.message == "upstream token endpoint answered without an access_token"
    assert token_route.call_count == 1
    assert route.call_count == 0


# --- logs -----------------------------------------------------------------------------


async def test_logs_carry_no_secrets_or_personal_data(client, router, caplog):
    caplog.set_level(logging.DEBUG)
    router.put(f"{BASE}/reservations/appt-1").respond(201, json=appointment_json(status="CONFIRMED"))
    router.put(f"{BASE}/appointments/appt-1/customer").respond(400, json={"errorCode": "VALIDATION_ERROR", "message": "bad"})
    await client.confirm("tenant-1", "appt-1", CUSTOMER)
    with pytest.raises(BridgeError) as caught:
        await client.update_customer("tenant-1", "appt-1", CUSTOMER)
    assert caught.value.cause is Cause.INVALID_ARGUMENT
    basic = base64.b64encode(f"bridge-id:{SECRET}".encode()).decode()
    forbidden = ["tok-1", SECRET, basic, "Grace", "Hopper", "grace@example.org", "555-0100", "HASH0123456789abcdef", "1906"]
    texts = [record.getMessage() for record in caplog.records] + [str(caught.value), repr(caught.value), repr(CUSTOMER)]
    for text in texts:
        for secret in forbidden:
            assert secret not in text
    upstream_lines = [r for r in caplog.records if r.name == "bridge.upstream"]
    # Operations are path templates: ids (here appt-1) never make a metric label or a log field.
    assert [(r.getMessage(), r.operation, r.status) for r in upstream_lines] == [
        ("POST token 200", "POST token", "200"),
        ("PUT /reservations/{id} 201", "PUT /reservations/{id}", "201"),
        ("PUT /appointments/{id}/customer 400", "PUT /appointments/{id}/customer", "400"),
    ]
    assert all(isinstance(r.latency_ms, float) for r in upstream_lines)
    # A success is DEBUG (the watcher alone makes up to 5 a second); anything else INFO.
    assert [r.levelname for r in upstream_lines] == ["DEBUG", "DEBUG", "INFO"]
