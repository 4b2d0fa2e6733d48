"""The Qmatic simulator, driven over real HTTP on loopback as the bridge will drive it."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt

import httpx
import pytest

from bridge.clock import ManualClock
from bridge.simulator import Simulator, seed
from bridge.simulator.seed import ANNA, BEN, CONSULTATION, DAVID, HAIRCUT, LONDON, PASSPORT, STOCKHOLM

UTC = dt.timezone.utc
# Monday 23 November 2026, 08:00 in Stockholm and 07:00 in London: the whole day is ahead.
START = dt.datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
TODAY = START.date()

CUSTOMER = {
    "personalIdentifier": "ABC1234567",
    "firstName": "Alice",
    "lastName": "Example",
    "email": "alice@example.com",
    "phoneNumber": "+46 70-123 45 67",
    "dateOfBirth": "1990-04-01",
}


def basic(client_id: str = seed.DEMO_CLIENT_ID, secret: str = seed.DEMO_CLIENT_SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def fetch_token(http: httpx.AsyncClient, sim: Simulator) -> str:
    r = await http.post(
        sim.token_url,
        data={"grant_type": "client_credentials", "scope": " ".join(seed.DEMO_SCOPES)},
        headers={"Authorization": basic(), "X-ACCOUNT": seed.DEMO_ACCOUNT},
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def slot(hour: int, minute: int = 0, *, service: str = HAIRCUT, branch: str = STOCKHOLM) -> dict:
    start = dt.datetime.combine(TODAY, dt.time(hour, minute), tzinfo=seed.zone(branch))
    end = start + seed.duration(service)
    return {"startTime": start.isoformat(), "endTime": end.isoformat()}


def hold_body(hour: int = 9, minute: int = 0, *, service: str = HAIRCUT, branch: str = STOCKHOLM, **extra) -> dict:
    body = {
        "serviceId": service,
        "branchId": branch,
        "timeSlot": slot(hour, minute, service=service, branch=branch),
        "numberOfReservations": 1,
    }
    body.update(extra)
    return body


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def sim(clock):
    simulator = Simulator(clock)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
async def api(sim, http):
    token = await fetch_token(http, sim)
    headers = {"Authorization": f"Bearer {token}", "X-TENANT-ID": seed.DEMO_TENANT_ID}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers, timeout=5) as client:
        yield client


async def renew_token(api: httpx.AsyncClient, sim: Simulator) -> None:
    """For tests that move the clock past the token's hour."""
    api.headers["Authorization"] = f"Bearer {await fetch_token(api, sim)}"


async def hold(api: httpx.AsyncClient, hour: int = 9, minute: int = 0, **kw) -> str:
    r = await api.post("/reservations", json=hold_body(hour, minute, **kw))
    assert r.status_code == 201, r.text
    return r.json()["appointmentId"]


async def book(api: httpx.AsyncClient, hour: int = 9, minute: int = 0, customer: dict = CUSTOMER, **kw) -> str:
    appointment_id = await hold(api, hour, minute, **kw)
    r = await api.put(f"/reservations/{appointment_id}", json={"customer": customer})
    assert r.status_code == 201, r.text
    return appointment_id


async def timeslots(
    api: httpx.AsyncClient, service: str = HAIRCUT, branch: str = STOCKHOLM, day: dt.date = TODAY, **params
) -> list[dict]:
    params = {"branchId": branch, "date": day.isoformat(), **params}
    r = await api.get(f"/services/{service}/timeslots", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def starts(api: httpx.AsyncClient, service: str = HAIRCUT, branch: str = STOCKHOLM, **params) -> list[str]:
    return [s["startTime"] for s in await timeslots(api, service, branch, **params)]


def assert_error(r: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.json()["errorCode"] == code
    if field is not None:
        assert r.json()["message"].startswith(f"{field}:"), r.json()["message"]


# -- authentication --------------------------------------------------------------------


async def test_token_is_issued_to_the_demo_client_and_opens_the_api(sim, http):
    token = await fetch_token(http, sim)
    r = await http.get(
        f"{sim.base_url}/services",
        headers={"Authorization": f"Bearer {token}", "X-TENANT-ID": seed.DEMO_TENANT_ID},
    )
    assert r.status_code == 200


async def test_token_answer_shape(sim, http):
    r = await http.post(
        sim.token_url,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic(), "X-ACCOUNT": "demo"},
    )
    body = r.json()
    assert body["expires_in"] == 3600 and body["token_type"] == "Bearer"
    assert body["access_token"] != await fetch_token(http, sim)


@pytest.mark.parametrize(
    "authorization, account, grant",
    [
        (basic(secret="wrong"), "demo", "client_credentials"),
        (basic(client_id="someone"), "demo", "client_credentials"),
        (basic(), "other", "client_credentials"),
        (basic(), None, "client_credentials"),
        (basic(), "demo", "password"),
        (None, "demo", "client_credentials"),
        ("Basic !!!not-base64", "demo", "client_credentials"),
    ],
)
async def test_token_is_refused_to_wrong_clients(sim, http, authorization, account, grant):
    headers = {k: v for k, v in {"Authorization": authorization, "X-ACCOUNT": account}.items() if v}
    r = await http.post(sim.token_url, data={"grant_type": grant}, headers=headers)
    assert_error(r, 401, "UNAUTHORIZED")


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer made-up", basic()])
async def test_api_refuses_calls_without_a_valid_bearer(sim, http, authorization):
    headers = {"X-TENANT-ID": seed.DEMO_TENANT_ID}
    if authorization:
        headers["Authorization"] = authorization
    r = await http.get(f"{sim.base_url}/services", headers=headers)
    assert r.status_code == 401


async def test_token_expires_after_an_hour_by_the_clock(api, clock):
    clock.advance(seconds=3599)
    assert (await api.get("/services")).status_code == 200
    clock.advance(seconds=1)
    assert (await api.get("/services")).status_code == 401


async def test_revoked_tokens_are_refused_and_a_new_one_works(sim, http, api):
    sim.revoke_tokens()
    assert (await api.get("/services")).status_code == 401
    token = await fetch_token(http, sim)
    r = await api.get("/services", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


@pytest.mark.parametrize("tenant", [None, "00000000-0000-0000-0000-000000000000"])
async def test_unknown_tenant_is_a_validation_error(api, tenant):
    api.headers.pop("X-TENANT-ID")
    headers = {"X-TENANT-ID": tenant} if tenant else {}
    r = await api.get("/services", headers=headers)
    assert_error(r, 400, "VALIDATION_ERROR")
    assert r.json()["message"] == "unknown X-TENANT-ID"


# -- catalogue -------------------------------------------------------------------------


async def test_services_list_every_offering_with_its_branch_and_resources(api):
    entries = (await api.get("/services")).json()
    assert len(entries) == len(seed.OFFERINGS)
    for entry in entries:
        assert set(entry) == {
            "branch", "service", "resourceSelection", "informationQuestions", "screeningQuestions"
        }
        assert set(entry["branch"]) == {"id", "name", "address", "location"}
        assert set(entry["branch"]["address"]) == {"streetName", "zipCode", "city", "country"}
        assert set(entry["branch"]["location"]) == {"longitude", "latitude"}
        assert set(entry["service"]["config"]) == {"maxNumberOfReservations", "onlineBookable"}
        assert entry["resourceSelection"]["required"] is False
    haircut = next(e for e in entries if e["branch"]["id"] == STOCKHOLM and e["service"]["id"] == HAIRCUT)
    assert haircut["service"]["name"] == "Haircut"
    assert haircut["service"]["config"]["maxNumberOfReservations"] == 1
    assert [r["name"] for r in haircut["resourceSelection"]["availableResources"]] == ["Anna", "Ben"]


async def test_service_groups(api):
    body = (await api.get("/services/groups")).json()
    assert {s["id"] for s in body["services"]} == {HAIRCUT, PASSPORT, CONSULTATION, seed.COLOUR}
    # The mapping checks and the feeds rely on one service the branch books itself.
    assert [s["id"] for s in body["services"] if not s["onlineBookable"]] == [seed.COLOUR]
    assert set(body["services"][0]) == {"id", "name", "index", "externalDescription", "onlineBookable"}
    assert {g["services"][0]["id"] for g in body["serviceGroups"]} == {HAIRCUT, PASSPORT, CONSULTATION}
    assert all(set(g) == {"id", "name", "index", "services"} for g in body["serviceGroups"])


async def test_one_service_lists_the_branches_offering_it(api):
    body = (await api.get(f"/services/{CONSULTATION}")).json()
    assert [e["branch"]["id"] for e in body] == [STOCKHOLM]
    assert set(body[0]) == {"branch", "resourceSelection"}
    assert_error(await api.get("/services/not-a-service"), 400, "VALIDATION_ERROR", "serviceId")


async def test_timeslots_follow_the_grid_in_branch_local_time(api):
    stockholm = await starts(api)
    assert len(stockholm) == 16
    assert stockholm[0] == "2026-11-23T09:00:00+01:00"
    assert stockholm[-1] == "2026-11-23T16:30:00+01:00"
    assert len(await starts(api, PASSPORT)) == 32
    london = await timeslots(api, branch=LONDON, day=TODAY + dt.timedelta(days=1))
    assert london[0] == {"startTime": "2026-11-24T09:00:00+00:00", "endTime": "2026-11-24T09:30:00+00:00"}


async def test_timeslots_offer_only_the_future_of_the_bookable_week(api, sim, clock):
    clock.advance(hours=2, minutes=10)  # 10:10 in Stockholm
    await renew_token(api, sim)
    assert (await starts(api))[0] == "2026-11-23T10:30:00+01:00"
    for days, count in [(-1, 0), (6, 16), (7, 0)]:
        assert len(await timeslots(api, day=TODAY + dt.timedelta(days=days))) == count


@pytest.mark.parametrize(
    "service, params, status, code, field",
    [
        (HAIRCUT, {"branchId": "nowhere"}, 400, "VALIDATION_ERROR", "branchId"),
        (HAIRCUT, {"branchId": None}, 400, "VALIDATION_ERROR", "branchId"),
        ("no-such-service", {}, 400, "VALIDATION_ERROR", "serviceId"),
        (CONSULTATION, {"branchId": LONDON}, 400, "VALIDATION_ERROR", "branchId"),
        (HAIRCUT, {"date": "23/11/2026"}, 400, "VALIDATION_ERROR", "date"),
        (HAIRCUT, {"date": None}, 400, "VALIDATION_ERROR", "date"),
        (HAIRCUT, {"requestedResourceId": DAVID}, 400, "VALIDATION_ERROR", "requestedResourceId"),
        (HAIRCUT, {"numberOfReservations": "0"}, 400, "VALIDATION_ERROR", "numberOfReservations"),
        (HAIRCUT, {"numberOfReservations": "two"}, 400, "VALIDATION_ERROR", "numberOfReservations"),
        (HAIRCUT, {"numberOfReservations": "2"}, 422, "MAX_RESERVATIONS_EXCEEDED", None),
    ],
)
async def test_timeslot_query_errors(api, service, params, status, code, field):
    query = {"branchId": STOCKHOLM, "date": TODAY.isoformat(), **params}
    query = {k: v for k, v in query.items() if v is not None}
    r = await api.get(f"/services/{service}/timeslots", params=query)
    assert_error(r, status, code, field)


async def test_timeslots_shrink_as_resources_are_held(api):
    nine = "2026-11-23T09:00:00+01:00"
    await hold(api)  # takes Anna, the first resource of the offering
    assert nine in await starts(api)
    assert nine not in await starts(api, requestedResourceId=ANNA)
    await hold(api)  # takes Ben
    assert nine not in await starts(api)
    assert "2026-11-23T09:30:00+01:00" in await starts(api)
    # A resource is busy whatever service holds it: an hour of consultation on Carla
    # takes both passport-photo quarters she would otherwise serve at 10:00 and 10:15.
    await hold(api, 10, service=CONSULTATION, requestedResourceId=seed.CARLA)
    passport = await starts(api, PASSPORT)
    assert "2026-11-23T10:00:00+01:00" not in passport and "2026-11-23T10:45:00+01:00" not in passport
    assert "2026-11-23T11:00:00+01:00" in passport


# -- holds -----------------------------------------------------------------------------


async def test_hold_answers_a_reserved_appointment(api, sim):
    r = await api.post("/reservations", json=hold_body(10, 30, notes="walk-in"))
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "RESERVED"
    assert body["timeSlot"] == {"startTime": "2026-11-23T10:30:00+01:00", "endTime": "2026-11-23T11:00:00+01:00"}
    assert body["customer"] is None
    assert body["service"] == {"id": HAIRCUT, "name": "Haircut", "config": {"maxNumberOfReservations": 1}}
    assert body["branch"]["id"] == STOCKHOLM and body["branch"]["name"] == "Stockholm Central"
    assert body["resource"]["id"] == ANNA
    assert body["numberOfReservations"] == 1 and body["supportNotes"] == "walk-in"
    record = sim.state.appointments[body["appointmentId"]]
    assert record.status == "RESERVED" and record.resource_id == ANNA and record.created_at == START
    assert record.start == dt.datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


async def test_hold_compares_instants_not_strings(api):
    body = hold_body(service=PASSPORT, numberOfReservations=2)
    body["timeSlot"] = {"startTime": "2026-11-23T08:15:00Z", "endTime": "2026-11-23T08:30:00+00:00"}
    r = await api.post("/reservations", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["timeSlot"]["startTime"] == "2026-11-23T09:15:00+01:00"
    assert r.json()["numberOfReservations"] == 2


async def test_hold_takes_the_requested_resource(api):
    r = await api.post("/reservations", json=hold_body(requestedResourceId=BEN))
    assert r.json()["resource"] == {"id": BEN, "name": "Ben"}
    r = await api.post("/reservations", json=hold_body(requestedResourceId=BEN))
    assert_error(r, 409, "TIMESLOT_UNAVAILABLE")
    r = await api.post("/reservations", json=hold_body(requestedResourceId=""))
    assert r.json()["resource"] == {"id": ANNA, "name": "Anna"}


_DROP = object()  # marks a key to remove from a request body


def _with(**changes) -> dict:
    body = hold_body()
    for key, value in changes.items():
        if key.startswith("slot_"):
            body["timeSlot"][key[5:]] = value
        elif value is _DROP:
            body.pop(key)
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(
    "body, field",
    [
        (_with(serviceId=_DROP), "serviceId"),
        (_with(serviceId="no-such-service"), "serviceId"),
        (_with(branchId="no-such-branch"), "branchId"),
        (_with(serviceId=CONSULTATION, branchId=LONDON), "branchId"),
        (_with(requestedResourceId=DAVID), "requestedResourceId"),
        (_with(timeSlot=_DROP), "timeSlot"),
        (_with(slot_startTime="2026-11-23T09:00:00"), "timeSlot.startTime"),
        (_with(slot_startTime="tomorrow at nine"), "timeSlot.startTime"),
        (_with(slot_endTime=None), "timeSlot.endTime"),
        (_with(slot_startTime="2026-11-23T09:10:00+01:00", slot_endTime="2026-11-23T09:40:00+01:00"), "timeSlot"),
        (_with(slot_endTime="2026-11-23T10:00:00+01:00"), "timeSlot"),
        (_with(slot_startTime="2026-11-23T17:00:00+01:00", slot_endTime="2026-11-23T17:30:00+01:00"), "timeSlot"),
        (_with(slot_startTime="2026-11-30T09:00:00+01:00", slot_endTime="2026-11-30T09:30:00+01:00"), "timeSlot"),
        (_with(numberOfReservations=_DROP), "numberOfReservations"),
        (_with(numberOfReservations=0), "numberOfReservations"),
        (_with(numberOfReservations=True), "numberOfReservations"),
        (_with(numberOfReservations="1"), "numberOfReservations"),
        (_with(notes=42), "notes"),
        ([], "body"),
    ],
)
async def test_hold_validation_errors_name_the_field(api, sim, body, field):
    r = await api.post("/reservations", json=body)
    assert_error(r, 400, "VALIDATION_ERROR", field)
    assert sim.state.appointments == {}


async def test_malformed_json_is_a_validation_error(api):
    r = await api.post("/reservations", content=b'{"serviceId": ', headers={"Content-Type": "application/json"})
    assert_error(r, 400, "VALIDATION_ERROR", "body")
    r = await api.post("/reservations", content=b"\xff\xfe", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "VALIDATION_ERROR", "body")


async def test_hold_of_a_slot_already_started_is_refused(api, sim, clock):
    clock.advance(hours=1, minutes=1)  # 09:01 in Stockholm
    await renew_token(api, sim)
    r = await api.post("/reservations", json=hold_body(9))
    assert_error(r, 400, "VALIDATION_ERROR", "timeSlot.startTime")
    assert (await api.post("/reservations", json=hold_body(9, 30))).status_code == 201


async def test_hold_above_the_service_maximum(api):
    r = await api.post("/reservations", json=hold_body(numberOfReservations=2))
    assert_error(r, 422, "MAX_RESERVATIONS_EXCEEDED")
    r = await api.post("/reservations", json=hold_body(service=CONSULTATION, numberOfReservations=5))
    assert_error(r, 422, "MAX_RESERVATIONS_EXCEEDED")
    r = await api.post("/reservations", json=hold_body(service=CONSULTATION, numberOfReservations=4))
    assert r.status_code == 201


async def test_hold_of_a_taken_slot(api):
    await hold(api, branch=LONDON)
    r = await api.post("/reservations", json=hold_body(branch=LONDON))
    assert_error(r, 409, "TIMESLOT_UNAVAILABLE")


async def test_concurrent_holds_on_one_slot_have_one_winner(api, sim):
    body = hold_body(branch=LONDON)  # David is London's only hairdresser
    answers = await asyncio.gather(*(api.post("/reservations", json=body) for _ in range(20)))
    assert sorted(r.status_code for r in answers) == [201] + [409] * 19
    assert len(sim.state.appointments) == 1


# -- hold expiry, confirm, release -----------------------------------------------------


async def test_a_hold_expires_after_its_ttl(api, sim, clock):
    appointment_id = await hold(api, branch=LONDON)
    clock.advance(minutes=14, seconds=59)
    assert (await api.get(f"/appointments/{appointment_id}")).json()["status"] == "RESERVED"
    clock.advance(seconds=1)
    r = await api.put(f"/reservations/{appointment_id}", json={"customer": CUSTOMER})
    assert_error(r, 410, "RESERVATION_EXPIRED")
    assert_error(await api.get(f"/appointments/{appointment_id}"), 404, "NOT_FOUND")
    assert_error(await api.delete(f"/reservations/reservations/{appointment_id}"), 404, "NOT_FOUND")
    assert "2026-11-23T09:00:00+00:00" in await starts(api, branch=LONDON)
    await hold(api, branch=LONDON)


async def test_a_shorter_hold_ttl_is_honoured(clock, http):
    async with Simulator(clock, hold_ttl=dt.timedelta(minutes=1)) as short:
        token = await fetch_token(http, short)
        headers = {"Authorization": f"Bearer {token}", "X-TENANT-ID": seed.DEMO_TENANT_ID}
        r = await http.post(f"{short.base_url}/reservations", json=hold_body(), headers=headers)
        clock.advance(minutes=1)
        url = f"{short.base_url}/reservations/{r.json()['appointmentId']}"
        r = await http.put(url, json={"customer": CUSTOMER}, headers=headers)
        assert_error(r, 410, "RESERVATION_EXPIRED")


async def test_confirm_turns_a_hold_into_an_appointment(api, sim, clock):
    appointment_id = await hold(api)
    r = await api.put(f"/reservations/{appointment_id}", json={"customer": CUSTOMER})
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "CONFIRMED" and body["appointmentId"] == appointment_id
    assert body["customer"] == {k: v for k, v in CUSTOMER.items() if k != "personalIdentifier"}
    assert sim.state.appointments[appointment_id].customer["personalIdentifier"] == "ABC1234567"
    clock.advance(minutes=30)  # a confirmed appointment does not expire like a hold
    assert (await api.get(f"/appointments/{appointment_id}")).json() == body
    r = await api.put(f"/reservations/{appointment_id}", json={"customer": CUSTOMER})
    assert_error(r, 409, "ALREADY_CONFIRMED")
    assert_error(await api.delete(f"/reservations/reservations/{appointment_id}"), 409, "ALREADY_CONFIRMED")


async def test_confirm_with_only_the_required_customer_fields(api):
    appointment_id = await hold(api)
    customer = {k: CUSTOMER[k] for k in ("personalIdentifier", "firstName", "lastName", "email")}
    r = await api.put(f"/reservations/{appointment_id}", json={"customer": customer})
    assert r.status_code == 201
    assert r.json()["customer"]["phoneNumber"] is None and r.json()["customer"]["dateOfBirth"] is None


def _customer(**changes) -> dict:
    customer = dict(CUSTOMER)
    for key, value in changes.items():
        if value is _DROP:
            customer.pop(key)
        else:
            customer[key] = value
    return customer


BAD_CUSTOMERS = [
    (_customer(personalIdentifier=_DROP), "personalIdentifier"),
    (_customer(personalIdentifier="SHORT1234"), "personalIdentifier"),
    (_customer(personalIdentifier="A" * 49), "personalIdentifier"),
    (_customer(personalIdentifier="ABC-1234567"), "personalIdentifier"),
    (_customer(firstName=""), "firstName"),
    (_customer(lastName=_DROP), "lastName"),
    (_customer(lastName="x" * 256), "lastName"),
    (_customer(email=_DROP), "email"),
    (_customer(email=""), "email"),
    (_customer(phoneNumber="call me"), "phoneNumber"),
    (_customer(phoneNumber="1" * 256), "phoneNumber"),
    (_customer(dateOfBirth="01/04/1990"), "dateOfBirth"),
    (_customer(dateOfBirth="1990-02-30"), "dateOfBirth"),
    (_customer(firstName=7), "firstName"),
]


@pytest.mark.parametrize("customer, field", BAD_CUSTOMERS)
async def test_confirm_validates_the_customer(api, sim, customer, field):
    appointment_id = await hold(api)
    r = await api.put(f"/reservations/{appointment_id}", json={"customer": customer})
    assert_error(r, 400, "VALIDATION_ERROR", f"customer.{field}")
    assert sim.state.appointments[appointment_id].status == "RESERVED"


async def test_confirm_needs_the_customer_wrapper(api):
    appointment_id = await hold(api)
    r = await api.put(f"/reservations/{appointment_id}", json=CUSTOMER)
    assert_error(r, 400, "VALIDATION_ERROR", "customer")


async def test_confirm_of_unknown_or_cancelled_is_not_found(api, sim):
    assert_error(await api.put("/reservations/no-such-id", json={"customer": CUSTOMER}), 404, "NOT_FOUND")
    appointment_id = await book(api)
    sim.state.cancel_at_branch(appointment_id)
    r = await api.put(f"/reservations/{appointment_id}", json={"customer": CUSTOMER})
    assert_error(r, 404, "NOT_FOUND")


async def test_release_frees_the_slot_at_once(api, sim):
    appointment_id = await hold(api, branch=LONDON)
    r = await api.delete(f"/reservations/reservations/{appointment_id}")
    assert r.status_code == 204
    assert appointment_id not in sim.state.appointments
    assert "2026-11-23T09:00:00+00:00" in await starts(api, branch=LONDON)
    assert_error(await api.delete(f"/reservations/reservations/{appointment_id}"), 404, "NOT_FOUND")


# -- appointments ----------------------------------------------------------------------


async def test_get_unknown_appointment(api):
    assert_error(await api.get("/appointments/no-such-id"), 404, "NOT_FOUND")


async def test_cancel_frees_the_slot(api, sim):
    appointment_id = await book(api, branch=LONDON)
    assert (await api.delete(f"/appointments/{appointment_id}")).status_code == 204
    assert (await api.get(f"/appointments/{appointment_id}")).json()["status"] == "CANCELLED"
    assert sim.state.appointments[appointment_id].status == "CANCELLED"
    assert "2026-11-23T09:00:00+00:00" in await starts(api, branch=LONDON)
    assert_error(await api.delete(f"/appointments/{appointment_id}"), 409, "ALREADY_CANCELLED")


async def test_cancel_inside_the_cutoff_is_refused_but_the_branch_may(api, sim, clock):
    appointment_id = await book(api, 11)  # 10:00 UTC
    clock.advance(hours=1, seconds=1)  # 1h59m59s before the start
    await renew_token(api, sim)
    assert_error(await api.delete(f"/appointments/{appointment_id}"), 422, "CANCELLATION_NOT_ALLOWED")
    assert sim.state.appointments[appointment_id].status == "CONFIRMED"
    sim.state.cancel_at_branch(appointment_id)
    assert (await api.get(f"/appointments/{appointment_id}")).json()["status"] == "CANCELLED"


async def test_cancel_exactly_at_the_cutoff_is_allowed(api, sim, clock):
    appointment_id = await book(api, 11)
    clock.advance(hours=1)
    await renew_token(api, sim)
    assert (await api.delete(f"/appointments/{appointment_id}")).status_code == 204


async def test_cancel_of_unknown_or_a_mere_hold_is_not_found(api):
    assert_error(await api.delete("/appointments/no-such-id"), 404, "NOT_FOUND")
    assert_error(await api.delete(f"/appointments/{await hold(api)}"), 404, "NOT_FOUND")


async def test_customer_update(api, sim):
    appointment_id = await book(api)
    changed = dict(CUSTOMER, email="new@example.com", phoneNumber="")
    assert (await api.put(f"/appointments/{appointment_id}/customer", json=changed)).status_code == 204
    assert (await api.get(f"/appointments/{appointment_id}")).json()["customer"]["email"] == "new@example.com"
    assert_error(
        await api.put(f"/appointments/{appointment_id}/customer", json=_customer(email=_DROP)),
        400,
        "VALIDATION_ERROR",
        "email",
    )
    assert_error(await api.put("/appointments/no-such-id/customer", json=CUSTOMER), 404, "NOT_FOUND")
    sim.state.cancel_at_branch(appointment_id)
    r = await api.put(f"/appointments/{appointment_id}/customer", json=CUSTOMER)
    assert_error(r, 409, "ALREADY_CANCELLED")


async def test_reschedule_moves_the_appointment_onto_the_hold(api, sim):
    appointment_id = await book(api, branch=LONDON)
    reservation_id = await hold(api, 11, branch=LONDON)
    r = await api.put(f"/appointments/{appointment_id}/reschedule", json={"reservationId": reservation_id})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["appointmentId"] == appointment_id and body["status"] == "CONFIRMED"
    assert body["timeSlot"]["startTime"] == "2026-11-23T11:00:00+00:00"
    assert body["customer"]["firstName"] == "Alice"
    assert reservation_id not in sim.state.appointments
    free = await starts(api, branch=LONDON)
    assert "2026-11-23T09:00:00+00:00" in free and "2026-11-23T11:00:00+00:00" not in free


async def test_reschedule_errors(api, sim, clock):
    appointment_id = await book(api)
    url = f"/appointments/{appointment_id}/reschedule"
    assert_error(await api.put(url, json={}), 400, "VALIDATION_ERROR", "reservationId")
    assert_error(await api.put(url, json={"reservationId": "no-such-id"}), 404, "NOT_FOUND")
    other_service = await hold(api, 12, service=PASSPORT)
    r = await api.put(url, json={"reservationId": other_service})
    assert_error(r, 400, "VALIDATION_ERROR", "reservationId")
    stale = await hold(api, 13)
    assert_error(
        await api.put("/appointments/no-such-id/reschedule", json={"reservationId": stale}), 404, "NOT_FOUND"
    )
    clock.advance(minutes=16)
    assert_error(await api.put(url, json={"reservationId": stale}), 410, "RESERVATION_EXPIRED")
    sim.state.cancel_at_branch(appointment_id)
    fresh = await hold(api, 14)
    assert_error(await api.put(url, json={"reservationId": fresh}), 409, "ALREADY_CANCELLED")
    assert sim.state.appointments[fresh].status == "RESERVED"


async def test_search_by_personal_identifier(api, sim):
    first = await book(api, 9)
    second = await book(api, 11)
    await book(api, 10, customer=dict(CUSTOMER, personalIdentifier="SOMEONEELSE1"))
    await hold(api, 12)
    await api.delete(f"/appointments/{second}")
    r = await api.post("/appointments/search", json={"customer": {"personalIdentifier": "ABC1234567"}})
    assert r.status_code == 200
    assert [(a["appointmentId"], a["status"]) for a in r.json()] == [(first, "CONFIRMED"), (second, "CANCELLED")]
    r = await api.post("/appointments/search", json={"customer": {"personalIdentifier": "NOBODY12345"}})
    assert r.json() == []
    assert_error(await api.post("/appointments/search", json={}), 400, "VALIDATION_ERROR", "customer")


async def test_unknown_routes_answer_in_the_error_shape(api):
    assert_error(await api.get("/branches/nowhere"), 404, "NOT_FOUND")
    assert (await api.patch("/reservations")).status_code == 405


# -- recording and faults --------------------------------------------------------------


async def test_every_request_is_recorded_in_order(api, sim):
    await api.get(f"/services/{HAIRCUT}/timeslots", params={"branchId": STOCKHOLM, "date": "2026-11-23"})
    appointment_id = await hold(api)
    assert [(r.method, r.path) for r in sim.requests] == [
        ("POST", "/oauth2/token"),
        ("GET", f"/services/{HAIRCUT}/timeslots"),
        ("POST", "/reservations"),
    ]
    assert sim.requests[1].query == {"branchId": STOCKHOLM, "date": "2026-11-23"}
    sim.requests.clear()
    await api.put(f"/appointments/{appointment_id}/reschedule", json={})
    assert [(r.method, r.path) for r in sim.requests] == [("PUT", f"/appointments/{appointment_id}/reschedule")]


async def test_drop_before_leaves_the_state_unchanged(api, sim):
    sim.faults.add(method="POST", path=r"^/reservations$", action="drop_before")
    with pytest.raises(httpx.RemoteProtocolError, match="^Server disconnected without sending a response"):
        await api.post("/reservations", json=hold_body())
    assert sim.state.appointments == {}
    assert sim.requests[-1].path == "/reservations"
    await hold(api)  # the fault was used up
    assert len(sim.state.appointments) == 1


async def test_drop_after_changes_the_state_but_loses_the_answer(api, sim):
    appointment_id = await hold(api)
    sim.faults.add(method="PUT", path=r"^/reservations/", action="drop_after")
    with pytest.raises(httpx.RemoteProtocolError, match="^Server disconnected without sending a response"):
        await api.put(f"/reservations/{appointment_id}", json={"customer": CUSTOMER})
    assert sim.state.appointments[appointment_id].status == "CONFIRMED"


async def test_status_fault_answers_without_processing(api, sim):
    sim.faults.add(method="POST", path="/reservations", action="status", status=503, times=2)
    sim.faults.add(
        path="/services", action="status", status=429, body={"errorCode": "SLOW_DOWN"}, headers={"Retry-After": "3"}
    )
    for _ in range(2):
        r = await api.post("/reservations", json=hold_body())
        assert r.status_code == 503 and r.json() == {"errorCode": "INTERNAL", "message": "injected"}
    assert sim.state.appointments == {}
    assert (await api.post("/reservations", json=hold_body())).status_code == 201
    r = await api.get("/services")
    assert r.status_code == 429 and r.headers["Retry-After"] == "3" and r.json() == {"errorCode": "SLOW_DOWN"}
    assert (await api.get("/services")).status_code == 200


async def test_faults_only_match_their_method_and_path(api, sim):
    sim.faults.add(method="DELETE", path=r"^/reservations/", action="status", status=500)
    assert (await api.post("/reservations", json=hold_body())).status_code == 201
    assert (await api.get("/services")).status_code == 200
    assert len(sim.faults) == 1


async def test_faults_apply_to_the_token_endpoint(sim, http):
    sim.faults.add(path="^/oauth2/token$", action="status", status=500)
    headers = {"Authorization": basic(), "X-ACCOUNT": "demo"}
    r = await http.post(sim.token_url, data={"grant_type": "client_credentials"}, headers=headers)
    assert r.status_code == 500
    await fetch_token(http, sim)


async def _arrived(sim: Simulator, path: str) -> None:
    # Waits for an event, not for time: the bound only stops a broken test from hanging.
    async with asyncio.timeout(5):
        while not any(r.path == path for r in sim.requests):
            await asyncio.sleep(0.005)


async def test_hang_holds_the_request_until_faults_are_cleared(api, sim):
    sim.faults.add(method="POST", path="^/reservations$", action="hang")
    pending = asyncio.create_task(api.post("/reservations", json=hold_body()))
    await _arrived(sim, "/reservations")
    await asyncio.sleep(0)
    assert not pending.done()
    assert sim.state.appointments == {}
    sim.faults.clear()
    with pytest.raises(httpx.RemoteProtocolError, match="^Server disconnected without sending a response"):
        await pending
    assert sim.state.appointments == {}
    assert (await api.post("/reservations", json=hold_body())).status_code == 201


async def test_stop_releases_a_hanging_request(clock, http):
    simulator = Simulator(clock)
    await simulator.start()
    simulator.faults.add(path="/services", action="hang")
    pending = asyncio.create_task(http.get(f"{simulator.base_url}/services"))
    await _arrived(simulator, "/services")
    await simulator.stop()
    with pytest.raises(httpx.RemoteProtocolError, match="^Server disconnected without sending a response"):
        await pending


async def test_fault_arguments_are_checked(sim):
    with pytest.raises(ValueError, match="^action must be one of"):
        sim.faults.add(action="explode")
    with pytest.raises(ValueError, match="^times must be at least 1"):
        sim.faults.add(action="status", times=0)
    assert len(sim.faults) == 0  # neither was armed


# -- lifecycle -------------------------------------------------------------------------


async def test_urls_and_serve(capsys):
    from bridge.simulator import serve

    task = asyncio.create_task(serve("127.0.0.1", 0))
    async with asyncio.timeout(5):
        while "base URL" not in (out := capsys.readouterr().out):
            await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert out.count("\n") == 1
    assert "/external/v1" in out and "/oauth2/token" in out
    for value in (seed.DEMO_ACCOUNT, seed.DEMO_TENANT_ID, seed.DEMO_CLIENT_ID, seed.DEMO_CLIENT_SECRET):
        assert value in out


async def test_base_and_token_urls(sim):
    root = sim.base_url.removesuffix("/external/v1")
    assert root.startswith("http://127.0.0.1:") and sim.token_url == root + "/oauth2/token"
