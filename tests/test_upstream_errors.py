"""Every error answer of the contract's §5 table, per operation, through the error table."""

from __future__ import annotations

import datetime

import httpx
import pytest
import respx

from bridge.config import UpstreamConfig
from bridge.errortable import ErrorTable, UpstreamRule
from bridge.failures import BridgeError, Cause, OutcomeUnknown
from bridge.upstream import Customer, QmaticClient

BASE = "https://qmatic.test/external/v1"
TOKEN_URL = "https://auth.qmatic.test/oauth2/token"
CONFIG = UpstreamConfig(base_url=BASE, token_url=TOKEN_URL, account="acme", tenant_id="tenant-cfg", max_attempts=3)
START = datetime.datetime(2022, 3, 3, 9, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
CUSTOMER = Customer("HASH0123456789abcdef", "Grace", "Hopper", "grace@example.org")
WRITES = ["hold", "confirm", "release", "cancel", "customer", "reschedule"]
OPERATIONS = [*WRITES, "read"]


def make_client(router: respx.MockRouter, **kwargs) -> QmaticClient:
    client = QmaticClient(
        CONFIG, client_id="id", client_secret="secret", transport=httpx.MockTransport(router.async_handler), **kwargs
    )

    async def no_pause(seconds: float) -> None:
        pass

    client._sleep = no_pause
    return client


@pytest.fixture
def router() -> respx.MockRouter:
    router = respx.MockRouter(assert_all_called=False)
    router.post(TOKEN_URL, name="token").respond(200, json={"access_token": "tok", "expires_in": 3600})
    return router


@pytest.fixture
async def client(router):
    c = make_client(router)
    yield c
    await c.aclose()


async def invoke(client: QmaticClient, operation: str, method: str = "get_appointment") -> object:
    """Call the client method behind one errortable operation."""
    if operation == "hold":
        return await client.hold("t", service_id="s", branch_id="b", start=START, end=START)
    if operation == "confirm":
        return await client.confirm("t", "appt-1", CUSTOMER)
    if operation == "release":
        return await client.release("t", "appt-1")
    if operation == "cancel":
        return await client.cancel("t", "appt-1")
    if operation == "customer":
        return await client.update_customer("t", "appt-1", CUSTOMER)
    if operation == "reschedule":
        return await client.reschedule("t", "appt-1", "hold-2")
    if method == "search":
        return await client.search("t", "HASH0123456789abcdef")
    if method == "services":
        return await client.services("t")
    if method == "timeslots":
        return await client.timeslots("t", service_id="s", branch_id="b", day=START.date())
    return await client.get_appointment("t", "appt-1")


def api(router: respx.MockRouter) -> respx.Route:
    return router.route(host="qmatic.test")


# (status, errorCode) → cause for every operation, with the per-operation exceptions.
SECTION_5 = [
    (400, "VALIDATION_ERROR", Cause.INVALID_ARGUMENT, {}),
    (403, "INSUFFICIENT_SCOPE", Cause.INTERNAL, {}),
    (404, "NOT_FOUND", Cause.NOT_FOUND, {"confirm": Cause.LEASE_EXPIRED}),
    (409, "TIMESLOT_UNAVAILABLE", Cause.SLOT_UNAVAILABLE, {}),
    (409, "ALREADY_CONFIRMED", Cause.ALREADY_CONFIRMED, {}),
    (409, "ALREADY_CANCELLED", Cause.BOOKING_ALREADY_CANCELLED, {}),
    (410, "RESERVATION_EXPIRED", Cause.LEASE_EXPIRED, {}),
    (422, "CANCELLATION_NOT_ALLOWED", Cause.OUTSIDE_CANCELLATION_WINDOW, {}),
    (422, "MAX_RESERVATIONS_EXCEEDED", Cause.INVALID_ARGUMENT, {}),
]

# The same statuses with no usable body: classified by status (and operation) alone.
BODYLESS = [
    (400, Cause.INVALID_ARGUMENT, {}),
    (403, Cause.INTERNAL, {}),
    (404, Cause.NOT_FOUND, {"confirm": Cause.LEASE_EXPIRED}),
    (409, Cause.INTERNAL, {"hold": Cause.SLOT_UNAVAILABLE, "reschedule": Cause.SLOT_UNAVAILABLE,
                           "cancel": Cause.BOOKING_NOT_CANCELLABLE}),
    (410, Cause.LEASE_EXPIRED, {}),
    (422, Cause.INTERNAL, {"cancel": Cause.BOOKING_NOT_CANCELLABLE}),
]
BODIES = {
    "empty": {"content": b""},
    "html": {"content": b"<html><body>Bad Gateway</body></html>", "headers": {"Content-Type": "text/html"}},
    "json-without-code": {"json": {"detail": "nope"}},
    "json-array": {"json": ["x"]},
}


def cases_with_code():
    for status, code, cause, overrides in SECTION_5:
        for operation in OPERATIONS:
            yield pytest.param(operation, status, code, overrides.get(operation, cause), id=f"{operation}-{status}-{code}")


def cases_without_code():
    for status, cause, overrides in BODYLESS:
        for operation in OPERATIONS:
            for kind in BODIES:
                yield pytest.param(operation, status, kind, overrides.get(operation, cause), id=f"{operation}-{status}-{kind}")


@pytest.mark.parametrize(("operation", "status", "code", "expected"), list(cases_with_code()))
async def test_section_5_error_codes(client, router, operation, status, code, expected):
    route = api(router).respond(status, json={"errorCode": code, "message": "upstream says no"})
    with pytest.raises(BridgeError) as caught:
        await invoke(client, operation)
    assert type(caught.value) is BridgeError
    assert caught.value.cause is expected
    assert caught.value.cause is ErrorTable().cause_for(operation, status, code)
    assert f"{status} {code}: upstream says no" in caught.value.message
    assert route.call_count == 1


@pytest.mark.parametrize(("operation", "status", "kind", "expected"), list(cases_without_code()))
async def test_error_without_usable_body_is_classified_by_status(client, router, operation, status, kind, expected):
    route = api(router).respond(status, **BODIES[kind])
    with pytest.raises(BridgeError) as caught:
        await invoke(client, operation)
    assert type(caught.value) is BridgeError
    assert caught.value.cause is expected
    assert caught.value.cause is ErrorTable().cause_for(operation, status, "")
    assert route.call_count == 1


@pytest.mark.parametrize("method", ["get_appointment", "search", "services", "timeslots"])
async def test_every_read_is_operation_read(client, router, method):
    route = api(router).respond(404, json={"errorCode": "NOT_FOUND", "message": "gone"})
    with pytest.raises(BridgeError) as caught:
        await invoke(client, "read", method)
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.NOT_FOUND
    assert route.call_count == 1  # a refusal is not retried, even for a read


async def test_message_wording(client, router):
    api(router).respond(409, json={"errorCode": "TIMESLOT_UNAVAILABLE", "message": "slot taken"})
    with pytest.raises(BridgeError) as caught:
        await invoke(client, "hold")
    assert caught.value.cause is Cause.SLOT_UNAVAILABLE
    assert caught.value.message == "upstream refused the hold: 409 TIMESLOT_UNAVAILABLE: slot taken"


async def test_long_upstream_message_is_shortened_to_one_line(client, router):
    api(router).respond(400, json={"errorCode": "VALIDATION_ERROR", "message": "line\n" * 200})
    with pytest.raises(BridgeError) as caught:
        await invoke(client, "read")
    assert caught.value.cause is Cause.INVALID_ARGUMENT
    assert "\n" not in caught.value.message
    assert len(caught.value.message) < 300


# --- 401, 429, 5xx: the rows whose handling is behaviour, not only a cause --------------


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_401_twice_is_unavailable(client, router, operation):
    route = api(router).respond(401)
    with pytest.raises(BridgeError) as caught:
        await invoke(client, operation)
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 2
    assert router["token"].call_count == 2  # the first token, and exactly one refresh


@pytest.mark.parametrize("operation", WRITES)
async def test_429_on_a_write_is_unavailable_and_not_repeated(client, router, operation):
    route = api(router).respond(429, headers={"Retry-After": "0"})
    with pytest.raises(BridgeError) as caught:
        await invoke(client, operation)
    # Refused, so the core need not reconcile.
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 1


async def test_429_on_a_read_is_unavailable_after_every_attempt(client, router):
    route = api(router).respond(429)
    with pytest.raises(BridgeError) as caught:
        await invoke(client, "read")
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == CONFIG.max_attempts


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("operation", WRITES)
async def test_5xx_on_a_write_is_outcome_unknown_and_not_repeated(client, router, operation, status):
    route = api(router).respond(status, json={"errorCode": "BOOM", "message": "oops"})
    with pytest.raises(OutcomeUnknown) as caught:
        await invoke(client, operation)
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 1


@pytest.mark.parametrize("kind", list(BODIES))
async def test_5xx_without_body_on_a_write_is_outcome_unknown(client, router, kind):
    route = api(router).respond(500, **BODIES[kind])
    with pytest.raises(OutcomeUnknown) as caught:
        await invoke(client, "confirm")
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 1


async def test_500_on_a_read_is_unavailable_without_retry(client, router):
    route = api(router).respond(500)
    with pytest.raises(BridgeError) as caught:
        await invoke(client, "read")
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 1


# --- operators' rows ------------------------------------------------------------------


async def test_operator_rules_from_configuration_come_first(router):
    rule = UpstreamRule(status="409", code="DOUBLE_BOOKED", cause=Cause.SLOT_ALREADY_BOOKED_BY_USER, operation="hold")
    config = UpstreamConfig(base_url=BASE, token_url=TOKEN_URL, account="acme", error_rules=(rule,))
    client = QmaticClient(config, client_id="id", client_secret="s", transport=httpx.MockTransport(router.async_handler))
    route = api(router).respond(409, json={"errorCode": "DOUBLE_BOOKED"})
    with pytest.raises(BridgeError) as caught:
        await invoke(client, "hold")
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.SLOT_ALREADY_BOOKED_BY_USER
    assert route.call_count == 1
    await client.aclose()


async def test_an_explicit_table_wins_and_can_name_a_5xx(router):
    table = ErrorTable([UpstreamRule(status="503", code="MAINTENANCE", cause=Cause.INTERNAL)])
    client = make_client(router, errors=table)
    route = api(router).respond(503, json={"errorCode": "MAINTENANCE"})
    with pytest.raises(BridgeError) as caught:
        await invoke(client, "hold")
    # The operator decided what this 5xx means, so it is no longer an unknown outcome.
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.INTERNAL
    assert route.call_count == 1
    await client.aclose()
