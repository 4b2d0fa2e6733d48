"""Redaction: no secret and no personal data reaches a cassette, and placeholders stay consistent."""

from __future__ import annotations

import base64
import datetime as dt
import json
import pathlib

import pytest

from bridge import config as config_mod
from bridge import identity
from bridge.cassette._inputs import FakeCustomer
from bridge.cassette._redact import PLACEHOLDER_ORIGIN, Redactor
from bridge.cassette.recorder import Options, record
from bridge.clock import ManualClock
from bridge.simulator import Simulator, seed


def entry(
    request_headers: dict, request_body: object, response_body: object, uri: str = "https://up.example:8443/x"
) -> dict:
    return {
        "request": {"method": "PUT", "uri": uri, "headers": request_headers, "body": request_body},
        "response": {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": response_body},
    }


def test_the_same_value_gets_the_same_placeholder_and_kinds_count_separately() -> None:
    r = Redactor()
    assert r.known("email", "a@example.org") == "<email-1>"
    assert r.known("email", "b@example.org") == "<email-2>"
    assert r.known("token", "tok") == "<token-1>"
    assert r.known("email", "A@Example.org") == "<email-1>"  # case does not make a new person


def test_values_are_replaced_as_whole_words_longest_first() -> None:
    r = Redactor()
    r.known("first-name", "Ada")
    r.known("email", "ada@example.org")
    r.known("tenant", "6ab7b82a")
    text = "Ada <ada@example.org> in tenant 6ab7b82a, not in Adam or 6ab7b82a1"
    assert r.text(text) == "<first-name-1> <<email-1>> in tenant <tenant-1>, not in Adam or 6ab7b82a1"


def test_the_upstream_origin_is_replaced_and_the_path_kept() -> None:
    r = Redactor()
    r.upstream_url("http://10.1.2.3:8080/external/v1")
    assert r.text("http://10.1.2.3:8080/external/v1/services?x=1") == f"{PLACEHOLDER_ORIGIN}/external/v1/services?x=1"
    assert r.text("see 10.1.2.3:8080 and 10.1.2.3") == "see qmatic.invalid and qmatic.invalid"


def test_headers_bodies_and_echoes_are_redacted_by_position_and_then_everywhere() -> None:
    basic = base64.b64encode(b"the-client:the-secret").decode()
    r = Redactor()
    r.upstream_url("https://up.example:8443")
    [token, confirm] = r.interactions(
        [
            entry(
                {"authorization": [f"Basic {basic}"], "x-account": ["acme"]},
                {"string": "grant_type=client_credentials"},
                {"json": {"access_token": "T0K3N-value", "expires_in": 3600}},
            ),
            entry(
                {"authorization": ["Bearer T0K3N-value"], "x-tenant-id": ["tenant-guid-1"]},
                {
                    "json": {
                        "customer": {
                            "firstName": "Grace",
                            "lastName": "Hopper",
                            "email": "grace@navy.example",
                            "phoneNumber": "+1 555 0100",
                            "dateOfBirth": "1906-12-09",
                            "personalIdentifier": "abc123def456",
                        }
                    }
                },
                # An echo in free text, and the customer again in the answer.
                {
                    "json": {
                        "message": "booked for grace@navy.example in tenant-guid-1 by the-client",
                        "customer": [{"firstName": "Grace", "email": "grace@navy.example", "dateOfBirth": None}],
                    }
                },
            ),
        ]
    )
    assert token["request"]["headers"] == {
        "authorization": ["Basic <basic-credentials-1>"],
        "x-account": ["<account-1>"],
    }
    assert token["response"]["body"]["json"]["access_token"] == "<token-1>"
    assert token["request"]["uri"] == f"{PLACEHOLDER_ORIGIN}/x"
    assert confirm["request"]["headers"] == {"authorization": ["Bearer <token-1>"], "x-tenant-id": ["<tenant-1>"]}
    assert confirm["request"]["body"]["json"]["customer"] == {
        "firstName": "<first-name-1>",
        "lastName": "<last-name-1>",
        "email": "<email-1>",
        "phoneNumber": "<phone-1>",
        "dateOfBirth": "<date-of-birth-1>",
        "personalIdentifier": "<personal-id-1>",
    }
    answer = confirm["response"]["body"]["json"]
    assert answer["message"] == "booked for <email-1> in <tenant-1> by <client-credential-1>"
    assert answer["customer"] == [{"firstName": "<first-name-1>", "email": "<email-1>", "dateOfBirth": None}]


# --- a whole recording, with secrets and personal data that could not occur by chance ---

CLIENT_ID = "cid-Wq7Rk2-recorder"
CLIENT_SECRET = "csecret-Zz91-never-on-disk"
ACCOUNT = "acmebookingsrec"
TENANT = "0f6b1c2e-77aa-4bd1-9f00-5e1d2c3b4a59"
IDENTITY_KEY = "identity-key-Kp3x-0123456789"
CUSTOMER = FakeCustomer(
    given_name="Zebulon",
    family_name="Quartermaine",
    email="zebulon.quartermaine@example.org",
    telephone="+44 20 7946 0958",
    updated_family_name="Quartermaine-Ortiz",
    updated_telephone="+44 20 7946 0999",
    date_of_birth=dt.date(1971, 4, 5),
)


@pytest.fixture
def secret_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    # The simulator reads its demo tenant's credentials from seed on every request.
    monkeypatch.setattr(seed, "DEMO_CLIENT_ID", CLIENT_ID)
    monkeypatch.setattr(seed, "DEMO_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setattr(seed, "DEMO_ACCOUNT", ACCOUNT)
    monkeypatch.setattr(seed, "DEMO_TENANT_ID", TENANT)


async def test_no_original_reaches_any_cassette(
    secret_tenant: None, sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    config = config_mod.from_dict(
        {
            "upstream": {"base_url": sim.base_url, "token_url": sim.token_url, "account": ACCOUNT, "tenant_id": TENANT},
            "booking": {"default_time_zone": "Europe/Stockholm"},
        }
    )
    environ = {
        "QMATIC_CLIENT_ID": CLIENT_ID,
        "QMATIC_CLIENT_SECRET": CLIENT_SECRET,
        "BRIDGE_IDENTITY_KEY": IDENTITY_KEY,
    }
    said: list[str] = []

    async def advance(seconds: float) -> None:
        clock.advance(seconds=seconds)

    outcomes = await record(
        config,
        Options(out_dir=tmp_path, customer=CUSTOMER),
        environ=environ,
        clock=clock,
        wait_for_expiry=advance,
        say=said.append,
    )
    assert [o.ok for o in outcomes] == [True] * 8 and not any(o.divergences for o in outcomes)

    tokens = sim.live_tokens()
    # Exactly one token fetch by the slot-finding client and one per scenario's fresh bridge
    # (8), each still live, so every one of them is checked for below.
    assert sum(r.path == "/oauth2/token" for r in sim.requests) == 9
    assert len(tokens) == 9
    host = sim.base_url.split("/")[2]
    originals = [
        CLIENT_ID,
        CLIENT_SECRET,
        base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),
        ACCOUNT,
        TENANT,
        IDENTITY_KEY,
        identity.from_email(IDENTITY_KEY.encode(), CUSTOMER.email),
        host,
        host.split(":")[0],
        *tokens,
        *CUSTOMER.values(),
    ]
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == 8
    for path in files:
        data = path.read_bytes().lower()
        leaked = [o for o in originals if o.lower().encode() in data]
        assert not leaked, f"{path.name} holds {leaked}"
    assert not [o for o in originals for line in said if o.lower() in line.lower()]

    # Not vacuous: the customer was really sent, and shows up as consistent placeholders.
    customer_update = json.loads((tmp_path / "customer_update.json").read_text())
    bodies = [
        i["request"]["body"]["json"]
        for i in customer_update["interactions"]
        if (i["request"]["body"] or {}).get("json")
    ]
    confirm, update, search = bodies[1], bodies[2], bodies[3]
    assert confirm["customer"]["email"] == update["email"] == "<email-1>"
    assert (
        confirm["customer"]["personalIdentifier"]
        == update["personalIdentifier"]
        == search["customer"]["personalIdentifier"]
    )
    assert (update["lastName"], update["phoneNumber"], update["dateOfBirth"]) == (
        "<last-name-2>",
        "<phone-2>",
        "<date-of-birth-1>",
    )
    headers = customer_update["interactions"][1]["request"]["headers"]
    assert headers["x-tenant-id"] == ["<tenant-1>"] and headers["authorization"] == ["Bearer <token-1>"]
