"""MapsBookingClient against the fake Google over loopback: requests, token, retries, errors, logs."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging

import pytest

from bridge import deadline
from bridge.clock import ManualClock
from bridge.google import (
    Backoff,
    BookingUpdate,
    GoogleCredentialsError,
    GoogleNotFound,
    GoogleRejected,
    GoogleUnavailable,
    MapsBookingClient,
    ServiceAccount,
)
from bridge.simulator import FakeGoogle
from bridge.simulator.google_auth import FakeServiceAccount
from bridge.simulator.middleware import RecordedRequest

UTC = dt.timezone.utc
CET = dt.timezone(dt.timedelta(hours=1))
T0 = dt.datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
PARTNER = "20001234"
BOOKING_PATH = f"/v1alpha/notification/partners/{PARTNER}/bookings/890"
NAME = f"partners/{PARTNER}/bookings/890"
# How log lines and error messages name the notification path: ids left out.
TEMPLATE = "/v1alpha/notification/partners/{partner}/bookings/{booking}"
CANCEL = BookingUpdate("890", "1234", "5678", status="CANCELED")


class Pauses:
    """Stands in for asyncio.sleep: notes each wait the retry loop asks for, waits none."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(scope="module")
def minted() -> FakeServiceAccount:
    # Minting and loading a key takes ~0.1 s; one per module keeps the tests quick.
    return FakeServiceAccount()


@pytest.fixture(scope="module")
def loaded(minted) -> ServiceAccount:
    return ServiceAccount.from_info(minted.info("http://placeholder.invalid/token"))


@pytest.fixture
async def fake(clock, minted):
    async with FakeGoogle(clock, partner_id=PARTNER, account=minted) as google:
        yield google


@pytest.fixture
def account(fake, loaded) -> ServiceAccount:
    return dataclasses.replace(loaded, token_uri=fake.token_uri)


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


@pytest.fixture
async def client(fake, account, clock, pauses):
    c = MapsBookingClient(PARTNER, fake.base_url, account, clock=clock, sleep=pauses, backoff=Backoff(first=0), timeout=5)
    yield c
    await c.aclose()


def api_calls(fake: FakeGoogle) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.path != "/token"]


def token_calls(fake: FakeGoogle) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.path == "/token"]


# --- notification: URL, mask and body ---------------------------------------------------


async def test_cancel_sends_the_status_only(client, fake):
    await client.notify(CANCEL)
    assert api_calls(fake) == [RecordedRequest("PATCH", BOOKING_PATH, {"updateMask": "status"})]
    [received] = fake.notifications
    assert received.booking_id == "890" and received.mask == ("status",)
    assert received.body == {"name": NAME, "merchantId": "1234", "serviceId": "5678", "status": "CANCELED"}


@pytest.mark.parametrize(
    ("change", "mask", "fields"),
    [
        ({"start": dt.datetime(2026, 12, 1, 10, 0, tzinfo=CET)}, "startTime", {"startTime": "2026-12-01T09:00:00Z"}),
        ({"duration": dt.timedelta(minutes=30)}, "duration", {"duration": "1800s"}),
        ({"party_size": 2}, "partySize", {"partySize": "2"}),
        ({"status": "NO_SHOW"}, "status", {"status": "NO_SHOW"}),
        (
            {"duration": dt.timedelta(minutes=45), "start": dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)},
            "startTime,duration",
            {"startTime": "2026-12-01T09:00:00Z", "duration": "2700s"},
        ),
        (
            {
                "party_size": 3,
                "duration": dt.timedelta(seconds=90, milliseconds=500),
                "start": dt.datetime(2026, 12, 1, 9, 0, 0, 250000, tzinfo=UTC),
                "status": "CONFIRMED",
            },
            "status,startTime,duration,partySize",
            {"status": "CONFIRMED", "startTime": "2026-12-01T09:00:00.25Z", "duration": "90.5s", "partySize": "3"},
        ),
    ],
)
async def test_each_field_kind_and_combination(client, fake, change, mask, fields):
    await client.notify(BookingUpdate("890", "1234", "5678", **change))
    assert api_calls(fake) == [RecordedRequest("PATCH", BOOKING_PATH, {"updateMask": mask})]
    [received] = fake.notifications
    assert received.body == {"name": NAME, "merchantId": "1234", "serviceId": "5678", **fields}


async def test_ids_stay_one_path_segment(client, fake):
    await client.notify(BookingUpdate("a/b?c", "1234", "5678", status="CANCELED"))
    [received] = fake.notifications
    assert received.booking_id == "a/b?c"
    assert received.body["name"] == f"partners/{PARTNER}/bookings/a/b?c"
    assert api_calls(fake)[0].query == {"updateMask": "status"}


# --- the token --------------------------------------------------------------------------


async def test_one_token_serves_many_calls(client, fake):
    for _ in range(3):
        await client.notify(CANCEL)
    assert len(token_calls(fake)) == 1
    assert len(fake.tokens_issued) == 1
    assert len(fake.notifications) == 3


async def test_token_is_renewed_five_minutes_before_it_expires(client, fake, clock):
    await client.notify(CANCEL)
    clock.advance(seconds=3600 - 300 - 1)
    await client.notify(CANCEL)
    assert len(fake.tokens_issued) == 1
    clock.advance(seconds=2)
    await client.notify(CANCEL)
    # The fake would still take the old token: renewing is the client's own decision.
    assert len(fake.tokens_issued) == 2
    assert len(api_calls(fake)) == 3


async def test_concurrent_cold_callers_share_one_token_fetch(client, fake):
    await asyncio.gather(*(client.notify(CANCEL) for _ in range(10)))
    assert len(token_calls(fake)) == 1
    assert len(fake.notifications) == 10


async def test_revoked_token_means_one_fresh_token_and_one_repeat(client, fake):
    await client.notify(CANCEL)
    fake.revoke_tokens()
    await client.notify(BookingUpdate("890", "1234", "5678", status="NO_SHOW"))
    assert len(token_calls(fake)) == 2
    assert [r.method for r in api_calls(fake)] == ["PATCH", "PATCH", "PATCH"]
    assert [n.body["status"] for n in fake.notifications] == ["CANCELED", "NO_SHOW"]


async def test_a_fresh_token_refused_too_is_a_credentials_error(client, fake):
    fake.fail("PATCH", "/bookings/", 401, times=2, message="Request had no valid credentials.")
    with pytest.raises(GoogleCredentialsError) as caught:
        await client.notify(CANCEL)
    assert str(caught.value) == (
        f"Google refused a freshly issued access token (PATCH {TEMPLATE}: 401 UNAUTHENTICATED:"
        " Request had no valid credentials.)"
    )
    assert len(api_calls(fake)) == 2
    assert len(token_calls(fake)) == 2


async def test_check_fetches_a_token(client, fake):
    await client.check()
    assert len(fake.tokens_issued) == 1
    assert api_calls(fake) == []


async def test_a_key_file_written_by_the_fake_works_end_to_end(fake, clock, pauses, tmp_path):
    account = ServiceAccount.from_file(fake.write_key_file(tmp_path / "key.json"))
    async with MapsBookingClient(PARTNER, fake.base_url, account, clock=clock, sleep=pauses) as client:
        await client.notify(CANCEL)
    assert len(fake.tokens_issued) == 1
    assert len(fake.notifications) == 1


async def test_token_endpoint_refusing_a_wrong_key_names_its_answer(fake, clock, pauses):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info = fake.service_account_info()
    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    client = MapsBookingClient(PARTNER, fake.base_url, ServiceAccount.from_info(info), clock=clock, sleep=pauses)
    try:
        with pytest.raises(GoogleCredentialsError) as caught:
            await client.check()
        with pytest.raises(GoogleCredentialsError):
            await client.notify(CANCEL)
    finally:
        await client.aclose()
    assert str(caught.value) == (
        f"token endpoint {fake.token_uri} refused the service account's assertion: 400 invalid_grant (Invalid JWT Signature.)"
    )
    assert caught.value.__cause__ is None
    # A refusal is final: asked once per call, never retried, nothing sent to the API.
    assert len(token_calls(fake)) == 2
    assert api_calls(fake) == []
    assert pauses.waits == []


async def test_token_endpoint_trouble_is_retried(client, fake, pauses):
    fake.fail("POST", "^/token$", 503)
    await client.check()
    assert len(token_calls(fake)) == 2
    assert len(pauses.waits) == 1


async def test_token_endpoint_down_for_good_is_unavailable(client, fake):
    fake.fail("POST", "^/token$", 500, times=None)
    with pytest.raises(GoogleUnavailable) as caught:
        await client.notify(CANCEL)
    assert str(caught.value) == (
        f"Google stayed unavailable for the booking notification: 5 attempt(s), the last:"
        f" token endpoint {fake.token_uri} answered 500"
    )
    assert len(token_calls(fake)) == 5
    assert api_calls(fake) == []


# --- retries and final answers ------------------------------------------------------------


async def test_503_then_200_is_delivered_with_two_requests(client, fake, pauses):
    fake.fail("PATCH", "/bookings/", 503)
    await client.notify(CANCEL)
    assert len(api_calls(fake)) == 2
    assert len(fake.notifications) == 1
    assert len(pauses.waits) == 1


async def test_429_retry_after_is_obeyed(client, fake, pauses):
    fake.fail("PATCH", "/bookings/", 429, retry_after=7, message="Quota exceeded.")
    await client.notify(CANCEL)
    assert pauses.waits == [7.0]
    assert len(api_calls(fake)) == 2


async def test_a_long_retry_after_is_capped(client, fake, pauses):
    fake.fail("PATCH", "/bookings/", 503, retry_after=3600)
    await client.notify(CANCEL)
    assert pauses.waits == [60.0]


async def test_backoff_doubles_with_jitter_up_to_its_cap(fake, account, clock, pauses):
    fake.fail("PATCH", "/bookings/", 503, times=5)
    client = MapsBookingClient(
        PARTNER, fake.base_url, account, clock=clock, sleep=pauses, max_attempts=6, backoff=Backoff(first=0.5, longest=4.0)
    )
    try:
        await client.notify(CANCEL)
    finally:
        await client.aclose()
    assert len(pauses.waits) == 5
    for wait, floor in zip(pauses.waits, [0.5, 1.0, 2.0, 4.0, 4.0]):
        assert floor <= wait <= floor + 0.5


async def test_retries_exhausted_is_unavailable_after_exactly_max_attempts(client, fake, pauses):
    fake.fail("PATCH", "/bookings/", 503, times=None, message="The service is currently unavailable.")
    with pytest.raises(GoogleUnavailable) as caught:
        await client.notify(CANCEL)
    assert str(caught.value) == (
        "Google stayed unavailable for the booking notification: 5 attempt(s), the last:"
        f" PATCH {TEMPLATE} answered 503 UNAVAILABLE: The service is currently unavailable."
    )
    assert len(api_calls(fake)) == 5
    assert len(pauses.waits) == 4
    assert fake.notifications == []


async def test_dropped_connection_is_retried(client, fake):
    fake.faults.add("PATCH", "/bookings/", action="drop_before")
    await client.notify(CANCEL)
    assert len(api_calls(fake)) == 2
    assert len(fake.notifications) == 1


async def test_timeouts_are_retried_then_unavailable(fake, account, clock, pauses):
    fake.faults.add("PATCH", "/bookings/", action="hang", times=None)
    client = MapsBookingClient(PARTNER, fake.base_url, account, clock=clock, sleep=pauses, timeout=0.2, max_attempts=2)
    try:
        with pytest.raises(GoogleUnavailable) as caught:
            await client.notify(CANCEL)
    finally:
        await client.aclose()
    assert str(caught.value) == "Google stayed unavailable for the booking notification: 2 attempt(s), the last: ReadTimeout"
    assert len(api_calls(fake)) == 2


async def test_a_wait_past_the_callers_deadline_is_not_taken(client, fake, pauses):
    fake.fail("PATCH", "/bookings/", 503, retry_after=10, times=None)
    with deadline.scope(5.0), pytest.raises(GoogleUnavailable) as caught:
        await client.notify(CANCEL)
    assert "1 attempt(s)" in str(caught.value)
    assert len(api_calls(fake)) == 1
    assert pauses.waits == []


async def test_no_time_left_sends_nothing(client, fake):
    with deadline.scope(0.0), pytest.raises(GoogleUnavailable) as caught:
        await client.notify(CANCEL)
    assert str(caught.value) == "no time left before the caller's deadline; nothing was sent to Google"
    assert fake.requests == []


async def test_404_is_not_found_and_sent_once(client, fake, pauses):
    fake.known_bookings = {"891"}
    with pytest.raises(GoogleNotFound) as caught:
        await client.notify(CANCEL)
    assert caught.value.status == 404
    assert caught.value.reason == "NOT_FOUND"
    assert caught.value.message == f"booking {NAME} not found"
    assert str(caught.value) == f"Google refused the booking notification: 404 NOT_FOUND: booking {NAME} not found"
    assert len(api_calls(fake)) == 1
    assert pauses.waits == []


async def test_400_is_rejected_with_googles_message_and_sent_once(client, fake, pauses):
    fake.fail("PATCH", "/bookings/", 400, message="Invalid value at 'booking.status'.")
    with pytest.raises(GoogleRejected) as caught:
        await client.notify(CANCEL)
    assert type(caught.value) is GoogleRejected
    assert caught.value.status == 400
    assert caught.value.reason == "INVALID_ARGUMENT"
    assert caught.value.message == "Invalid value at 'booking.status'."
    assert len(api_calls(fake)) == 1
    assert pauses.waits == []


async def test_another_partner_is_refused_once(fake, account, clock, pauses):
    client = MapsBookingClient("99999", fake.base_url, account, clock=clock, sleep=pauses)
    try:
        with pytest.raises(GoogleRejected) as caught:
            await client.notify(CANCEL)
    finally:
        await client.aclose()
    assert (caught.value.status, caught.value.reason) == (403, "PERMISSION_DENIED")
    assert len(api_calls(fake)) == 1


async def test_a_non_google_error_body_still_gives_a_clean_error(client, fake):
    fake.faults.add("PATCH", "/bookings/", status=409, body={"unexpected": True})
    with pytest.raises(GoogleRejected) as caught:
        await client.notify(CANCEL)
    assert str(caught.value) == "Google refused the booking notification: 409"
    assert (caught.value.message, caught.value.reason) == ("", "")


# --- logs ---------------------------------------------------------------------------------


async def test_logs_name_each_exchange_and_carry_no_secret(client, fake, account, caplog):
    caplog.set_level(logging.DEBUG)
    await client.notify(CANCEL)
    fake.revoke_tokens()
    await client.notify(CANCEL)
    google_lines = [r.getMessage() for r in caplog.records if r.name == "bridge.google"]
    expected = [
        "POST token 200",
        f"PATCH {TEMPLATE} 200",
        f"PATCH {TEMPLATE} 401",
        "POST token 200",
        f"PATCH {TEMPLATE} 200",
    ]
    assert [line.rsplit(" ", 1)[0] for line in google_lines] == expected
    assert all(line.endswith("ms") for line in google_lines)
    info = fake.service_account_info()
    key_lines = [line for line in info["private_key"].splitlines() if "PRIVATE KEY" not in line]
    # "eyJ" begins every JWT (base64 of '{"'): no assertion may show up.
    forbidden = [*fake.tokens_issued, *key_lines, "PRIVATE KEY", "assertion", "eyJ"]
    assert len(fake.tokens_issued) == 2
    everything = [record.getMessage() for record in caplog.records] + [caplog.text, repr(account), repr(client)]
    for text in everything:
        for secret in forbidden:
            assert secret not in text, secret
