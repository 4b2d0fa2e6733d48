"""Retries, outcome-unknown and the caller's deadline: counted in calls, never in seconds."""

from __future__ import annotations

import asyncio
import datetime
import types

import httpx
import pytest
import respx

from bridge import deadline
from bridge.config import UpstreamConfig
from bridge.failures import BridgeError, Cause, OutcomeUnknown
from bridge.upstream import Customer, QmaticClient

BASE = "https://qmatic.test/external/v1"
TOKEN_URL = "https://auth.qmatic.test/oauth2/token"
START = datetime.datetime(2022, 3, 3, 9, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
CUSTOMER = Customer("HASH0123456789abcdef", "Grace", "Hopper", "grace@example.org")
APPOINTMENT = {
    "appointmentId": "appt-1",
    "status": "RESERVED",
    "timeSlot": {"startTime": "2022-03-03T09:00:00+01:00", "endTime": "2022-03-03T09:30:00+01:00"},
}


class FakeTime:
    """Stands in for the deadline module's clock; the client's pauses advance it."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(deadline, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_called=False)


@pytest.fixture
def token_route(router) -> respx.Route:
    return router.post(TOKEN_URL).respond(200, json={"access_token": "tok", "expires_in": 3600})


def make_client(router: respx.MockRouter, fake_time: FakeTime, max_attempts: int = 3) -> QmaticClient:
    config = UpstreamConfig(base_url=BASE, token_url=TOKEN_URL, account="acme", max_attempts=max_attempts)
    client = QmaticClient(config, client_id="id", client_secret="secret", transport=httpx.MockTransport(router.async_handler))
    client._sleep = fake_time.sleep
    return client


@pytest.fixture
async def client(router, token_route, fake_time):
    c = make_client(router, fake_time)
    yield c
    await c.aclose()


async def hold(client: QmaticClient) -> object:
    return await client.hold("t", service_id="s", branch_id="b", start=START, end=START)


WRITE_CALLS = {
    "hold": ("POST", "/reservations", hold),
    "confirm": ("PUT", "/reservations/appt-1", lambda c: c.confirm("t", "appt-1", CUSTOMER)),
    "release": ("DELETE", "/reservations/reservations/appt-1", lambda c: c.release("t", "appt-1")),
    "cancel": ("DELETE", "/appointments/appt-1", lambda c: c.cancel("t", "appt-1")),
    "customer": ("PUT", "/appointments/appt-1/customer", lambda c: c.update_customer("t", "appt-1", CUSTOMER)),
    "reschedule": ("PUT", "/appointments/appt-1/reschedule", lambda c: c.reschedule("t", "appt-1", "hold-2")),
}


def write_route(router: respx.MockRouter, operation: str) -> respx.Route:
    method, path, _ = WRITE_CALLS[operation]
    return router.route(method=method, url=f"{BASE}{path}")


# --- reads ------------------------------------------------------------------------------

READ_FAILURES = {
    "ConnectError": httpx.ConnectError,
    "ConnectTimeout": httpx.ConnectTimeout,
    "ReadTimeout": httpx.ReadTimeout,
    "RemoteProtocolError": httpx.RemoteProtocolError,
    "ReadError": httpx.ReadError,
    "429": httpx.Response(429),
    "502": httpx.Response(502),
    "503": httpx.Response(503),
    "504": httpx.Response(504),
}


@pytest.mark.parametrize("failure", list(READ_FAILURES))
async def test_get_is_retried_and_succeeds_on_the_third_attempt(client, router, failure):
    effect = READ_FAILURES[failure]
    route = router.get(f"{BASE}/appointments/appt-1")
    route.side_effect = [effect, effect, httpx.Response(200, json=APPOINTMENT)]
    appointment = await client.get_appointment("t", "appt-1")
    assert appointment.id == "appt-1"
    assert route.call_count == 3


async def test_search_is_retried_like_a_read(client, router):
    route = router.post(f"{BASE}/appointments/search")
    route.side_effect = [httpx.ReadTimeout, httpx.Response(503), httpx.Response(200, json=[APPOINTMENT])]
    assert len(await client.search("t", "HASH0123456789abcdef")) == 1
    assert route.call_count == 3


@pytest.mark.parametrize("failure", list(READ_FAILURES))
async def test_read_retries_exhausted_is_unavailable(client, router, failure):
    route = router.get(f"{BASE}/services").mock(side_effect=[READ_FAILURES[failure]] * 3)
    with pytest.raises(BridgeError) as caught:
        await client.services("t")
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 3


async def test_backoff_is_small_and_grows(client, router, fake_time):
    route = router.get(f"{BASE}/services").mock(side_effect=httpx.ConnectError)
    with pytest.raises(BridgeError) as caught:
        await client.services("t")
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 3
    assert len(fake_time.pauses) == 2
    assert 0.05 <= fake_time.pauses[0] <= 0.1
    assert 0.1 <= fake_time.pauses[1] <= 0.15


async def test_retry_after_is_honoured(client, router, fake_time):
    route = router.get(f"{BASE}/services")
    route.side_effect = [httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json=[])]
    assert await client.services("t") == []
    assert fake_time.pauses == [2.0]
    assert route.call_count == 2


async def test_retry_after_too_long_without_deadline_gives_up(client, router, fake_time):
    route = router.get(f"{BASE}/services").respond(503, headers={"Retry-After": "120"})
    with pytest.raises(BridgeError) as caught:
        await client.services("t")
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 1
    assert fake_time.pauses == []


# --- state-changing calls -------------------------------------------------------------

MAY_HAVE_ARRIVED = [
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.LocalProtocolError,
]
NEVER_LEFT = [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout]


@pytest.mark.parametrize("failure", MAY_HAVE_ARRIVED, ids=lambda f: f.__name__)
@pytest.mark.parametrize("operation", list(WRITE_CALLS))
async def test_write_that_may_have_arrived_is_outcome_unknown_and_not_repeated(client, router, operation, failure):
    route = write_route(router, operation).mock(side_effect=failure)
    with pytest.raises(OutcomeUnknown) as caught:
        await WRITE_CALLS[operation][2](client)
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 1


async def test_hold_read_timeout_is_outcome_unknown(client, router):
    route = router.post(f"{BASE}/reservations").mock(side_effect=httpx.ReadTimeout)
    with pytest.raises(OutcomeUnknown) as caught:
        await hold(client)
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 1


async def test_hold_503_is_outcome_unknown(client, router):
    route = router.post(f"{BASE}/reservations").respond(503)
    with pytest.raises(OutcomeUnknown) as caught:
        await hold(client)
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 1


async def test_confirm_remote_protocol_error_is_outcome_unknown(client, router):
    route = router.put(f"{BASE}/reservations/appt-1").mock(side_effect=httpx.RemoteProtocolError)
    with pytest.raises(OutcomeUnknown) as caught:
        await client.confirm("t", "appt-1", CUSTOMER)
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 1


@pytest.mark.parametrize("failure", NEVER_LEFT, ids=lambda f: f.__name__)
@pytest.mark.parametrize("operation", list(WRITE_CALLS))
async def test_write_that_never_left_is_retried(client, router, operation, failure):
    status = 200 if operation == "reschedule" else 201
    answer = httpx.Response(status, json=APPOINTMENT) if operation in ("hold", "confirm", "reschedule") else httpx.Response(204)
    route = write_route(router, operation).mock(side_effect=[failure, answer])
    await WRITE_CALLS[operation][2](client)
    assert route.call_count == 2


@pytest.mark.parametrize("failure", NEVER_LEFT, ids=lambda f: f.__name__)
async def test_write_connect_failures_exhausted_is_plain_unavailable(client, router, failure):
    route = router.post(f"{BASE}/reservations").mock(side_effect=failure)
    with pytest.raises(BridgeError) as caught:
        await hold(client)
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 3


async def test_hold_429_is_unavailable_and_not_repeated(client, router):
    route = router.post(f"{BASE}/reservations").respond(429)
    with pytest.raises(BridgeError) as caught:
        await hold(client)
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 1


async def test_max_attempts_comes_from_configuration(router, token_route, fake_time):
    client = make_client(router, fake_time, max_attempts=5)
    route = router.get(f"{BASE}/services").respond(503)
    with pytest.raises(BridgeError) as caught:
        await client.services("t")
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 5
    await client.aclose()


# --- the caller's deadline ------------------------------------------------------------


@pytest.mark.parametrize("operation", ["read", *WRITE_CALLS])
async def test_no_time_left_sends_nothing(client, router, token_route, operation):
    route = router.route(host="qmatic.test").respond(200, json=APPOINTMENT)
    call = (lambda c: c.get_appointment("t", "appt-1")) if operation == "read" else WRITE_CALLS[operation][2]
    with deadline.scope(0.0), pytest.raises(BridgeError) as caught:
        await call(client)
    # Nothing was sent, so even a write is a plain failure, not an unknown outcome.
    assert type(caught.value) is BridgeError
    assert caught.value.cause is Cause.UNAVAILABLE
    assert "no time left" in caught.value.message
    assert route.call_count == 0
    assert token_route.call_count == 0


async def test_no_time_left_with_a_cached_token_sends_nothing(client, router, token_route):
    route = router.get(f"{BASE}/services").respond(200, json=[])
    await client.services("t")
    with deadline.scope(0.04), pytest.raises(BridgeError) as caught:
        await client.services("t")
    assert caught.value.cause is Cause.UNAVAILABLE
    assert "no time left" in caught.value.message
    assert route.call_count == 1
    assert token_route.call_count == 1


async def test_small_deadline_stops_retries_early(router, token_route, fake_time):
    client = make_client(router, fake_time, max_attempts=10)
    route = router.get(f"{BASE}/services").mock(side_effect=httpx.ConnectError)
    with deadline.scope(1.0), pytest.raises(BridgeError) as caught:
        await client.services("t")
    assert caught.value.cause is Cause.UNAVAILABLE
    # Not exact by design: how many attempts fit depends on the backoff's jitter and each
    # attempt's share of the deadline; what is guaranteed is that it retried and stopped early.
    assert 1 < route.call_count < 10
    assert sum(fake_time.pauses) < 1.0
    await client.aclose()


async def test_retry_after_beyond_the_deadline_is_not_waited_for(client, router, fake_time):
    route = router.get(f"{BASE}/services").respond(429, headers={"Retry-After": "3"})
    with deadline.scope(2.0), pytest.raises(BridgeError) as caught:
        await client.services("t")
    assert caught.value.cause is Cause.UNAVAILABLE
    assert route.call_count == 1
    assert fake_time.pauses == []


async def test_retry_after_within_the_deadline_is_waited_for(client, router, fake_time):
    route = router.get(f"{BASE}/services")
    route.side_effect = [httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200, json=[])]
    with deadline.scope(2.0):
        assert await client.services("t") == []
    assert fake_time.pauses == [1.0]
    assert route.call_count == 2


async def test_attempt_timeouts_are_capped_by_the_deadline(client, router, token_route):
    route = router.get(f"{BASE}/services").respond(200, json=[])
    with deadline.scope(1.0):
        await client.services("t")
    for call in (token_route.calls.last, route.calls.last):
        timeout = call.request.extensions["timeout"]
        assert set(timeout) == {"connect", "read", "write", "pool"}
        assert all(value <= 0.95 for value in timeout.values())


async def test_attempt_timeouts_without_deadline_come_from_configuration(client, router):
    route = router.get(f"{BASE}/services").respond(200, json=[])
    await client.services("t")
    assert route.calls.last.request.extensions["timeout"] == {"connect": 2.0, "read": 5.0, "write": 5.0, "pool": 2.0}


async def test_an_answer_that_never_comes_is_cut_at_the_callers_deadline(client, router):
    # The mocked transport knows no timeouts: only the attempt's own guard can end the wait.
    async def never(request):
        await asyncio.Event().wait()

    router.get(f"{BASE}/services").mock(side_effect=never)
    with deadline.scope(0.3), pytest.raises(BridgeError) as caught:
        await asyncio.wait_for(client.services("t"), timeout=5)
    assert caught.value.cause is Cause.UNAVAILABLE
