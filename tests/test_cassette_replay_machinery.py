"""Replay itself: answers in order, placeholder binding, and the diff when requests differ."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

import httpx
import pytest

from bridge.cassette import Cassette, Meta
from bridge.cassette.replay import CassetteMismatch, Replay

BASE = "https://qmatic.invalid/external/v1"


def recorded(method: str, path: str, body: Any = None, *, status: int = 200, answer: Any = None) -> dict[str, Any]:
    return {
        "request": {
            "method": method,
            "uri": f"{BASE}{path}",
            "headers": {},
            "body": None if body is None else {"json": body},
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": {"content-type": ["application/json"]},
            "body": {"json": answer} if answer is not None else {"string": ""},
        },
    }


def cassette(*interactions: dict[str, Any]) -> Cassette:
    meta = Meta(
        scenario="flow",
        recorded_at=dt.datetime(2026, 11, 23, 7, tzinfo=dt.timezone.utc),
        base_url=BASE,
        token_url="https://qmatic.invalid/oauth2/token",
    )
    return Cassette(meta, list(interactions))


FLOW = cassette(
    recorded("GET", "/services/s-1/timeslots?branchId=b-1&date=2026-11-24", answer=[{"startTime": "x"}]),
    recorded(
        "PUT",
        "/reservations/a-1",
        {"customer": {"email": "<email-1>", "personalIdentifier": "<personal-id-1>"}},
        status=201,
        answer={"appointmentId": "a-1"},
    ),
    recorded("POST", "/appointments/search", {"customer": {"personalIdentifier": "<personal-id-1>"}}, answer=[]),
)


def send(replay: Replay, method: str, path: str, body: Any = None) -> httpx.Response:
    with httpx.Client(transport=replay.transport) as client:
        return client.request(method, f"{BASE}{path}", json=body)


def run_flow(replay: Replay, *, search_id: str = "HASH1") -> None:
    send(replay, "GET", "/services/s-1/timeslots?date=2026-11-24&branchId=b-1")
    send(replay, "PUT", "/reservations/a-1", {"customer": {"personalIdentifier": "HASH1", "email": "me@x.org"}})
    send(replay, "POST", "/appointments/search", {"customer": {"personalIdentifier": search_id}})


def test_recorded_answers_are_served_in_order_and_placeholders_bind_to_what_was_sent() -> None:
    replay = Replay(FLOW)
    first = send(replay, "GET", "/services/s-1/timeslots?date=2026-11-24&branchId=b-1")  # query order is free
    assert (first.status_code, first.json()) == (200, [{"startTime": "x"}])
    second = send(
        replay, "PUT", "/reservations/a-1", {"customer": {"personalIdentifier": "HASH1", "email": "me@x.org"}}
    )
    assert (second.status_code, second.json()) == (201, {"appointmentId": "a-1"})
    send(replay, "POST", "/appointments/search", {"customer": {"personalIdentifier": "HASH1"}})
    replay.verify()
    assert replay.bindings.values == {"<email-1>": "me@x.org", "<personal-id-1>": "HASH1"}


def test_one_placeholder_must_stand_for_one_value() -> None:
    replay = Replay(FLOW)
    with pytest.raises(CassetteMismatch) as err:
        run_flow(replay, search_id="SOMEONE-ELSE")
    message = str(err.value)
    assert "request 3 is not the one the cassette recorded there" in message
    assert '-    {"customer": {"personalIdentifier": "<personal-id-1>"}}' in message
    assert '+    {"customer": {"personalIdentifier": "SOMEONE-ELSE"}}' in message
    # What did match is shown in the recording's terms, so only the difference stands out.
    assert '     {"customer": {"email": "<email-1>", "personalIdentifier": "<personal-id-1>"}}' in message


def test_a_request_the_cassette_lacks_fails_with_a_diff() -> None:
    replay = Replay(FLOW)
    run_flow(replay)
    with pytest.raises(CassetteMismatch) as err:
        send(replay, "DELETE", "/appointments/a-1")
    assert "request 4 was made after the cassette's last (3)" in str(err.value)
    assert "+DELETE /external/v1/appointments/a-1" in str(err.value)
    with pytest.raises(CassetteMismatch, match=r"request 4 was made after the cassette's last \(3\)"):
        replay.verify()  # remembered, even if the code under test swallowed the first raise


def test_a_recorded_request_never_made_fails_verify_with_a_diff() -> None:
    replay = Replay(FLOW)
    send(replay, "GET", "/services/s-1/timeslots?branchId=b-1&date=2026-11-24")
    with pytest.raises(CassetteMismatch) as err:
        replay.verify()
    message = str(err.value)
    assert message.startswith("cassette 'flow': 2 of the 3 recorded request(s) were never made")
    assert "--- cassette flow (recorded)" in message and "+++ requests made" in message
    assert "-PUT /external/v1/reservations/a-1" in message
    assert "-POST /external/v1/appointments/search" in message


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/services/s-1/timeslots?branchId=b-1&date=2026-11-24", None),  # method
        ("GET", "/services/s-2/timeslots?branchId=b-1&date=2026-11-24", None),  # path
        ("GET", "/services/s-1/timeslots?branchId=b-1&date=2026-11-25", None),  # query value
        ("GET", "/services/s-1/timeslots?branchId=b-1", None),  # query key missing
        ("GET", "/services/s-1/timeslots?branchId=b-1&date=2026-11-24", {"unexpected": "body"}),
    ],
)
def test_method_path_query_and_body_all_count(method: str, path: str, body: Any) -> None:
    replay = Replay(FLOW)
    with pytest.raises(CassetteMismatch, match="request 1 is not the one the cassette recorded there"):
        send(replay, method, path, body)
    assert replay.diverged


def test_json_types_are_not_confused() -> None:
    replay = Replay(cassette(recorded("POST", "/x", {"n": 1})))
    with pytest.raises(CassetteMismatch, match="request 1 is not the one the cassette recorded there"):
        send(replay, "POST", "/x", {"n": True})


def test_the_replay_routes_every_httpx_client_while_active() -> None:
    replay = Replay(cassette(recorded("GET", "/services", answer=[])))
    with replay.router:
        assert httpx.get(f"{BASE}/services").json() == []
    replay.verify()


# --- the pytest plugin: marker, fixture and the failure it reports ------------------------

PLUGIN_TESTS = textwrap.dedent(
    """
    import httpx
    import pytest

    BASE = "https://qmatic.invalid/external/v1"

    def get(cassette, path):
        with httpx.Client(transport=cassette.transport) as client:
            return client.get(BASE + path)

    @pytest.mark.cassette("two")
    def test_makes_both(cassette):
        assert get(cassette, "/a").json() == {"a": 1}
        assert get(cassette, "/b").json() == {"b": 2}

    @pytest.mark.cassette("two")
    def test_makes_only_the_first(cassette):
        get(cassette, "/a")

    @pytest.mark.cassette("two")
    def test_swallows_an_unexpected_request(cassette):
        get(cassette, "/a")
        try:
            get(cassette, "/c")
        except Exception:
            pass

    def test_fixture_without_marker(cassette):
        pass
    """
)


def test_the_plugin_fails_tests_whose_requests_differ(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["bridge.cassette.pytest_plugin"]')
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    (pytester.path / "cassettes").mkdir()
    two = cassette(recorded("GET", "/a", answer={"a": 1}), recorded("GET", "/b", answer={"b": 2}))
    two.write(pytester.path / "cassettes" / "two.json")
    pytester.makepyfile(test_flows=PLUGIN_TESTS)

    result = pytester.runpytest("--strict-markers", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=1, failed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            '*the cassette fixture needs @pytest.mark.cassette("name")*',
            "*test_makes_only_the_first*",
            "*CassetteMismatch: cassette 'two': 1 of the 2 recorded request(s) were never made",
            "*-GET /external/v1/b",
            "*test_swallows_an_unexpected_request*",
            "*CassetteMismatch: cassette 'two': request 2 is not the one the cassette recorded there",
            "*+GET /external/v1/c",
        ],
        consecutive=False,
    )
