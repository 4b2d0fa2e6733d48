"""The fake Google, driven over real HTTP without the bridge's client: it must refuse what
Google would refuse, or the client's tests would prove nothing."""

from __future__ import annotations

import datetime as dt
import functools
import stat

import httpx
import pytest
from google.auth import crypt, jwt

from bridge.clock import ManualClock
from bridge.google import ServiceAccount
from bridge.simulator import FakeGoogle
from bridge.simulator.google_auth import FakeServiceAccount

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
PARTNER = "20001234"
SCOPE = "https://www.googleapis.com/auth/mapsbooking"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
NOTIFY = f"/v1alpha/notification/partners/{PARTNER}/bookings/890"
REPLACE = f"/v1alpha/inventory/partners/{PARTNER}/availability:replace"
NAME = f"partners/{PARTNER}/bookings/890"
BASE_BODY = {"name": NAME, "merchantId": "1234", "serviceId": "5678"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(scope="module")
def minted() -> FakeServiceAccount:
    return FakeServiceAccount()


@pytest.fixture
async def fake(clock, minted):
    async with FakeGoogle(clock, partner_id=PARTNER, max_slots_per_call=3, account=minted) as google:
        yield google


@pytest.fixture
async def http(fake):
    async with httpx.AsyncClient(base_url=fake.base_url, timeout=5) as client:
        yield client


def assertion(fake: FakeGoogle, info: dict | None = None, **claims) -> str:
    info = info or fake.service_account_info()
    now = int(fake.clock.now().timestamp())
    payload = {"iss": info["client_email"], "scope": SCOPE, "aud": fake.token_uri, "iat": now, "exp": now + 3600}
    payload.update(claims)
    return jwt.encode(signer(info["private_key"], info["private_key_id"]), payload).decode()


@functools.lru_cache(maxsize=4)
def signer(private_key: str, key_id: str) -> crypt.Signer:
    # Loading a key checks it at length; once per key is enough.
    return crypt.RSASigner.from_string(private_key, key_id)


async def token(http: httpx.AsyncClient, fake: FakeGoogle) -> str:
    r = await http.post("/token", data={"grant_type": GRANT, "assertion": assertion(fake)})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
async def api(fake, http):
    http.headers["Authorization"] = f"Bearer {await token(http, fake)}"
    return http


def assert_google_error(r: httpx.Response, status: int, name: str, message_start: str = "") -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert (error["code"], error["status"]) == (status, name)
    assert error["message"].startswith(message_start), error["message"]


# --- the token endpoint -----------------------------------------------------------------


async def test_a_good_assertion_gets_a_bearer_token(fake, http):
    r = await http.post("/token", data={"grant_type": GRANT, "assertion": assertion(fake)})
    assert r.status_code == 200
    body = r.json()
    assert (body["expires_in"], body["token_type"]) == (3600, "Bearer")
    assert fake.tokens_issued == [body["access_token"]] == fake.live_tokens()


def tampered(fake: FakeGoogle) -> str:
    # A valid signature over other claims: only a real signature check notices.
    header, _, signature = assertion(fake).split(".")
    _, claims, _ = assertion(fake, iss="intruder@elsewhere.iam.gserviceaccount.com").split(".")
    return f"{header}.{claims}.{signature}"


def foreign_key(fake: FakeGoogle) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    info = fake.service_account_info()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return assertion(fake, info)


@pytest.mark.parametrize(
    ("make", "error", "description"),
    [
        (lambda f: "not-a-jwt", "invalid_grant", "the assertion is not a signed JWT"),
        (tampered, "invalid_grant", "Invalid JWT Signature."),
        (foreign_key, "invalid_grant", "Invalid JWT Signature."),
        (lambda f: assertion(f, {**f.service_account_info(), "private_key_id": "other"}), "invalid_grant",
         "the assertion's kid names no key of this service account"),
        (lambda f: assertion(f, aud="https://example.invalid/token"), "invalid_grant",
         "the assertion's aud must be the token endpoint's URI"),
        (lambda f: assertion(f, scope="https://www.googleapis.com/auth/cloud-platform"), "invalid_scope",
         f"the assertion's scope must include {SCOPE}"),
        (lambda f: assertion(f, iat=int(f.clock.now().timestamp()) - 7200, exp=int(f.clock.now().timestamp())),
         "invalid_grant", "the assertion has expired"),
        (lambda f: assertion(f, iat=int(f.clock.now().timestamp()) + 600, exp=int(f.clock.now().timestamp()) + 900),
         "invalid_grant", "the assertion is issued in the future; check the clock"),
        (lambda f: assertion(f, exp=int(f.clock.now().timestamp()) + 7200), "invalid_grant",
         "the assertion may live at most an hour"),
    ],
)
async def test_bad_assertions_are_refused_as_google_does(fake, http, make, error, description):
    r = await http.post("/token", data={"grant_type": GRANT, "assertion": make(fake)})
    assert r.status_code == 400
    assert r.json() == {"error": error, "error_description": description}
    assert fake.tokens_issued == []


async def test_the_grant_type_must_be_jwt_bearer(fake, http):
    r = await http.post("/token", data={"grant_type": "client_credentials", "assertion": assertion(fake)})
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    r = await http.post("/token", data={"grant_type": GRANT})
    assert (r.status_code, r.json()) == (400, {"error": "invalid_request", "error_description": "assertion is required"})


async def test_the_api_wants_a_live_bearer_token(fake, http, clock):
    r = await http.patch(NOTIFY, params={"updateMask": "status"}, json={**BASE_BODY, "status": "CANCELED"})
    assert_google_error(r, 401, "UNAUTHENTICATED")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    good = await token(http, fake)
    headers = {"Authorization": f"Bearer {good}"}
    r = await http.patch(NOTIFY, params={"updateMask": "status"}, json={**BASE_BODY, "status": "CANCELED"}, headers=headers)
    assert r.status_code == 200, r.text
    clock.advance(seconds=3600)
    r = await http.patch(NOTIFY, params={"updateMask": "status"}, json={**BASE_BODY, "status": "CANCELED"}, headers=headers)
    assert_google_error(r, 401, "UNAUTHENTICATED")
    assert len(fake.notifications) == 1


async def test_revoked_tokens_are_refused(fake, api):
    fake.revoke_tokens()
    r = await api.post(REPLACE, json={"extendedServiceAvailability": []})
    assert_google_error(r, 401, "UNAUTHENTICATED", "the access token is invalid, expired or revoked")
    assert fake.live_tokens() == []


# --- notifications ----------------------------------------------------------------------


async def test_a_notification_is_recorded_as_received(fake, api, clock):
    body = {**BASE_BODY, "startTime": "2026-12-01T09:00:00Z", "duration": "1800s", "partySize": 2}
    r = await api.patch(NOTIFY, params={"updateMask": "startTime,duration,partySize"}, json=body)
    assert r.status_code == 200, r.text
    [received] = fake.notifications
    assert (received.booking_id, received.mask, received.body, received.at) == (
        "890", ("startTime", "duration", "partySize"), body, T0
    )


@pytest.mark.parametrize(
    ("mask", "extra", "field"),
    [
        (None, {"status": "CANCELED"}, "updateMask"),
        ("", {"status": "CANCELED"}, "updateMask"),
        ("status", {}, "status"),
        ("status,duration", {"status": "CANCELED"}, "duration"),
        ("status", {"status": "CANCELED", "partySize": "2"}, "partySize"),
        ("status,bookingStatus", {"status": "CANCELED"}, "updateMask"),
        ("status,status", {"status": "CANCELED"}, "updateMask"),
        ("status", {"status": "canceled"}, "status"),
        ("startTime", {"startTime": "2026-12-01 09:00"}, "startTime"),
        ("startTime", {"startTime": "2026-12-01T09:00:00"}, "startTime"),
        ("duration", {"duration": "30m"}, "duration"),
        ("duration", {"duration": 1800}, "duration"),
        ("partySize", {"partySize": "0"}, "partySize"),
        ("partySize", {"partySize": "two"}, "partySize"),
    ],
)
async def test_mask_and_body_must_agree(fake, api, mask, extra, field):
    params = {} if mask is None else {"updateMask": mask}
    r = await api.patch(NOTIFY, params=params, json={**BASE_BODY, **extra})
    assert_google_error(r, 400, "INVALID_ARGUMENT", f"{field}: ")
    assert fake.notifications == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BASE_BODY, "name": f"partners/{PARTNER}/bookings/891"}, "name"),
        ({"merchantId": "1234", "serviceId": "5678"}, "name"),
        ({"name": NAME, "serviceId": "5678"}, "merchantId"),
        ({"name": NAME, "merchantId": "1234", "serviceId": ""}, "serviceId"),
    ],
)
async def test_name_merchant_and_service_are_required(fake, api, body, field):
    r = await api.patch(NOTIFY, params={"updateMask": "status"}, json={**body, "status": "CANCELED"})
    assert_google_error(r, 400, "INVALID_ARGUMENT", f"{field}: ")


async def test_another_partner_is_permission_denied(fake, api):
    r = await api.patch(
        "/v1alpha/notification/partners/777/bookings/890",
        params={"updateMask": "status"},
        json={**BASE_BODY, "name": "partners/777/bookings/890", "status": "CANCELED"},
    )
    assert_google_error(r, 403, "PERMISSION_DENIED")
    assert fake.notifications == []


async def test_known_bookings_make_others_404(fake, api):
    fake.known_bookings = {"890"}
    ok = await api.patch(NOTIFY, params={"updateMask": "status"}, json={**BASE_BODY, "status": "CANCELED"})
    assert ok.status_code == 200
    r = await api.patch(
        f"/v1alpha/notification/partners/{PARTNER}/bookings/891",
        params={"updateMask": "status"},
        json={**BASE_BODY, "name": f"partners/{PARTNER}/bookings/891", "status": "CANCELED"},
    )
    assert_google_error(r, 404, "NOT_FOUND", f"booking partners/{PARTNER}/bookings/891 not found")
    assert [n.booking_id for n in fake.notifications] == ["890"]


async def test_unknown_paths_answer_in_googles_shape(api):
    assert_google_error(await api.get("/v1alpha/nothing/here"), 404, "NOT_FOUND")


async def test_fail_answers_like_google_with_retry_after(fake, api):
    fake.fail("PATCH", "/bookings/", 429, retry_after=2.5, message="Quota exceeded.")
    r = await api.patch(NOTIFY, params={"updateMask": "status"}, json={**BASE_BODY, "status": "CANCELED"})
    assert_google_error(r, 429, "RESOURCE_EXHAUSTED", "Quota exceeded.")
    assert r.headers["Retry-After"] == "2.5"
    assert fake.notifications == []


# --- availability replace ---------------------------------------------------------------


def entry(*slots: dict, staff: str | None = None, **restrict) -> dict:
    out = {
        "merchantId": "m-1",
        "serviceId": "s-1",
        "startTimeRestrict": "2026-12-01T09:00:00Z",
        "endTimeRestrict": "2026-12-01T12:00:00Z",
        "availability": list(slots),
        **restrict,
    }
    if staff is not None:
        out["resourcesRestrict"] = {"staffId": staff}
    return out


def slot(hour: int, *, staff: str | None = None, total=1, open_=1, **more) -> dict:
    out = {"startTime": f"2026-12-01T{hour:02d}:00:00Z", "duration": "1800s", "spotsTotal": total, "spotsOpen": open_, **more}
    if staff is not None:
        out["resources"] = {"staffId": staff}
    return out


async def test_replace_accepts_int64_as_numbers_or_strings_and_records_the_entries(fake, api):
    entries = [entry(slot(9, total=2, open_=1), slot(10, total="2", open_="0"))]
    r = await api.post(REPLACE, json={"extendedServiceAvailability": entries})
    assert r.status_code == 200, r.text
    [call] = fake.replacements
    assert (call.entries, call.at, call.slot_count) == (tuple(entries), T0, 2)
    assert [(s.start.hour, s.spots_total, s.spots_open) for s in fake.published("m-1", "s-1")] == [(9, 2, 1), (10, 2, 0)]


async def test_a_staff_restricted_replace_leaves_other_staff_alone(fake, api):
    first = [entry(slot(9, staff="a"), slot(9, staff="b"), slot(10, staff="a"))]
    assert (await api.post(REPLACE, json={"extendedServiceAvailability": first})).status_code == 200
    second = [entry(slot(11, staff="a"), staff="a")]
    assert (await api.post(REPLACE, json={"extendedServiceAvailability": second})).status_code == 200
    assert [(s.start.hour, s.staff_id) for s in fake.published("m-1", "s-1")] == [(9, "b"), (11, "a")]


async def test_a_duration_restricted_replace_leaves_other_durations_alone(fake, api):
    first = [entry(slot(9), slot(10, duration="3600s"))]
    assert (await api.post(REPLACE, json={"extendedServiceAvailability": first})).status_code == 200
    second = [entry(durationRestrict="1800s")]
    assert (await api.post(REPLACE, json={"extendedServiceAvailability": second})).status_code == 200
    assert [s.start.hour for s in fake.published("m-1", "s-1")] == [10]


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ([entry(slot(12))], "extendedServiceAvailability[0].availability[0].startTime"),
        ([entry(slot(8))], "extendedServiceAvailability[0].availability[0].startTime"),
        ([entry(slot(9, spotTotal="1"))], "extendedServiceAvailability[0].availability[0]"),
        ([entry(slot(9, total=1, open_=2))], "extendedServiceAvailability[0].availability[0].spotsOpen"),
        ([entry(slot(9), endTimeRestrict="2026-12-01T09:00:00Z")], "extendedServiceAvailability[0].endTimeRestrict"),
        ([entry(), {"merchantId": "m-1"}], "extendedServiceAvailability[1].startTimeRestrict"),
        ([entry(slot(9), slot(10)), entry(slot(9), slot(10), serviceId="s-2")], "extendedServiceAvailability"),
        ([], "extendedServiceAvailability"),
    ],
)
async def test_a_bad_replace_is_refused_whole(fake, api, entries, field):
    await api.post(REPLACE, json={"extendedServiceAvailability": [entry(slot(9))]})
    r = await api.post(REPLACE, json={"extendedServiceAvailability": entries})
    assert_google_error(r, 400, "INVALID_ARGUMENT", f"{field}: ")
    assert len(fake.replacements) == 1
    assert [s.start.hour for s in fake.published("m-1", "s-1")] == [9]
    assert fake.published("m-1", "s-2") == []


# --- the key file -----------------------------------------------------------------------


async def test_the_key_file_is_private_and_loads(fake, tmp_path):
    path = fake.write_key_file(tmp_path / "key.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    account = ServiceAccount.from_file(path)
    assert account.client_email == "bridge@fake-project.iam.gserviceaccount.com"
    assert account.token_uri == fake.token_uri


def test_each_fake_mints_its_own_key(clock):
    one, other = FakeGoogle(clock), FakeGoogle(clock)
    assert one.account.key_id != other.account.key_id
    assert one.account.public_key.public_numbers() != other.account.public_key.public_numbers()
