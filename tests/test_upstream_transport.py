"""bridge.http1 against real servers on loopback: what reaches the server, and
what the client is told when the answer does not come back.

The rule these tests hold: a state-changing request that may have arrived is never sent a
second time, and its failure is never one httpx (and bridge.upstream._retry.NEVER_LEFT)
takes for "never left".
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import json
import socket
import time

import httpx
import pytest

from bridge.config import UpstreamConfig
from bridge.failures import BridgeError, OutcomeUnknown
from bridge.http1 import Http1Transport, default_transport
from bridge.upstream import Customer, QmaticClient
from bridge.upstream._exchange import DEADLINE_MARGIN, json_body
from bridge.upstream._retry import NEVER_LEFT

from .wire import (DROP, RESET, STALL, TIMEOUT, Received, Server, answer, answer_the_first_drop_the_rest, client,
                   may_have_arrived)

STATE_CHANGING = ("POST", "PUT", "DELETE", "PATCH")
# --- the request that may have arrived is sent once ----------------------------------


@pytest.mark.parametrize("method", STATE_CHANGING)
@pytest.mark.parametrize("how", [DROP, RESET])
async def test_a_request_lost_on_a_reused_connection_is_sent_once_and_may_have_arrived(method, how):
    """The connection is pooled after a first answer; the server reads the next request
    in full and then drops the connection. aiohttp's client would resend a PUT or a
    DELETE on a new connection here (and the server would answer that one): ours must not."""
    async with Server(answer_the_first_drop_the_rest(how)) as server:
        async with client(Http1Transport(), server) as http:
            warm = await http.get("/warm")
            assert warm.status_code == 200
            with pytest.raises(httpx.TransportError) as caught:
                await http.request(method, "/reservations/r-1", json={"customer": {"firstName": "Ada"}})
    assert server.count(method, "/reservations/r-1") == 1
    # The lost request went out on the connection the first one had left in the pool.
    assert [r.connection for r in server.received] == [1, 1]
    assert may_have_arrived(caught.value), repr(caught.value)
    expected = httpx.RemoteProtocolError if how == DROP else (httpx.RemoteProtocolError, httpx.ReadError)
    assert isinstance(caught.value, expected), repr(caught.value)


@pytest.mark.parametrize("method", STATE_CHANGING)
async def test_a_request_dropped_on_a_fresh_connection_is_sent_once_and_may_have_arrived(method):
    async with Server(lambda request, number: DROP) as server:
        async with client(Http1Transport(), server) as http:
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                await http.request(method, "/appointments/a-1", json={"x": 1})
    assert server.count(method) == 1
    assert len(server.received) == 1
    assert may_have_arrived(caught.value)


WRITES = {
    "hold": ("POST", "/v1/reservations",
             lambda q: q.hold("t", service_id="s", branch_id="b", start=START, end=START)),
    "confirm": ("PUT", "/v1/reservations/r-1", lambda q: q.confirm("t", "r-1", CUSTOMER)),
    "release": ("DELETE", "/v1/reservations/reservations/r-1", lambda q: q.release("t", "r-1")),
    "cancel": ("DELETE", "/v1/appointments/a-1", lambda q: q.cancel("t", "a-1")),
    "customer": ("PUT", "/v1/appointments/a-1/customer", lambda q: q.update_customer("t", "a-1", CUSTOMER)),
    "reschedule": ("PUT", "/v1/appointments/a-1/reschedule", lambda q: q.reschedule("t", "a-1", "r-2")),
}
START = datetime.datetime(2030, 3, 3, 9, 0, tzinfo=datetime.timezone.utc)
CUSTOMER = Customer("HASH0123456789abcdef", "Grace", "Hopper", "grace@example.org")


@pytest.mark.parametrize("operation", list(WRITES))
async def test_every_state_changing_qmatic_call_lost_after_it_was_sent_is_sent_once(operation):
    """The QmaticClient on its default transport: the token is fetched on a new
    connection, the call goes out on that same pooled connection and is dropped unanswered.
    The call is sent once, and the caller is told the outcome is unknown."""
    method, path, call = WRITES[operation]
    async with Server(answer_the_first_drop_the_rest(DROP)) as server:
        config = UpstreamConfig(base_url=f"{server.url}/v1", token_url=f"{server.url}/oauth2/token", account="acme",
                                max_attempts=3)
        async with QmaticClient(config, client_id="id", client_secret="secret") as qmatic:
            assert isinstance(qmatic._http._transport, Http1Transport)
            qmatic._sleep = _no_pause
            with pytest.raises(OutcomeUnknown):
                await call(qmatic)
    assert server.count("POST", "/oauth2/token") == 1
    assert server.count(method, path) == 1
    assert [r.connection for r in server.received] == [1, 1]


async def _no_pause(seconds: float) -> None:
    return None


async def test_a_qmatic_read_lost_after_it_was_sent_is_tried_again():
    """Reads may be resent: the rule above is about state-changing calls only."""
    async with Server(answer_the_first_drop_the_rest(DROP)) as server:
        config = UpstreamConfig(base_url=f"{server.url}/v1", token_url=f"{server.url}/oauth2/token", account="acme",
                                max_attempts=2)
        async with QmaticClient(config, client_id="id", client_secret="secret") as qmatic:
            qmatic._sleep = _no_pause
            with pytest.raises(BridgeError):
                await qmatic.get_appointment("t", "a-1")
    # Once after the token on the first connection; the retry opened a second one and
    # was answered there as its first request (with a body that is no appointment).
    assert server.count("GET", "/v1/appointments/a-1") == 2


# --- the other failures ---------------------------------------------------------------


async def test_a_refused_connection_is_a_connect_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with httpx.AsyncClient(transport=Http1Transport(), timeout=TIMEOUT) as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.post(f"http://127.0.0.1:{port}/reservations", json={})
    assert isinstance(caught.value, NEVER_LEFT)


async def test_an_unknown_host_is_never_left():
    async with httpx.AsyncClient(transport=Http1Transport(), timeout=TIMEOUT) as http:
        # ConnectError when the resolver says no; ConnectTimeout if it does not answer in time.
        with pytest.raises((httpx.ConnectError, httpx.ConnectTimeout)):
            await http.get("http://no-such-host.invalid/")


async def test_an_answer_that_does_not_come_is_a_read_timeout_within_the_read_timeout():
    async with Server(lambda request, number: STALL) as server:
        timeout = httpx.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0)
        async with client(Http1Transport(), server, timeout) as http:
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout) as caught:
                await http.post("/reservations", json={})
            elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 1.5
    assert may_have_arrived(caught.value)
    assert server.count("POST") == 1


async def test_the_per_request_timeout_is_the_one_honoured():
    async with Server(lambda request, number: STALL) as server:
        async with client(Http1Transport(), server) as http:
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                await http.get("/slow", timeout=httpx.Timeout(0.2))
    assert time.monotonic() - started < 1.5


async def test_an_answer_cut_short_is_a_protocol_error():
    def script(request: Received, number: int) -> tuple[bytes, str]:
        # Headers promising 100 bytes, 11 of them, and the connection closes.
        return b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":", DROP

    async with Server(script) as server:
        async with client(Http1Transport(), server) as http:
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                await http.post("/reservations", json={})
    assert may_have_arrived(caught.value)
    assert server.count("POST") == 1


async def test_an_answer_that_is_not_http_is_a_protocol_error():
    async with Server(lambda request, number: b"HELLO THERE\r\n\r\n") as server:
        async with client(Http1Transport(), server) as http:
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                await http.put("/reservations/r-1", json={})
    assert may_have_arrived(caught.value)
    assert server.count("PUT") == 1


async def test_waiting_too_long_for_a_pool_slot_is_never_left():
    """One connection allowed and held by a stalled request: the second request times
    out waiting for it, and the server never sees it."""
    async with Server(lambda request, number: STALL) as server:
        transport = Http1Transport(limits=httpx.Limits(max_connections=1))
        async with client(transport, server) as http:
            first = asyncio.create_task(http.post("/first", json={}))
            while not server.received:
                await asyncio.sleep(0.01)
            short = httpx.Timeout(connect=0.1, read=5.0, write=5.0, pool=0.1)
            with pytest.raises(httpx.TimeoutException) as caught:
                await http.post("/second", json={}, timeout=short)
            first.cancel()
    assert isinstance(caught.value, NEVER_LEFT), repr(caught.value)
    assert server.count("POST", "/second") == 0


async def test_a_pool_wait_cut_to_the_callers_deadline_is_never_left_before_the_attempts_guard():
    """With a deadline, bridge.upstream cuts every phase to what is left and guards the
    attempt at a sliver more. A request starved of a pool slot must fail as never left
    (so a state-changing call may still be tried) before that guard's ambiguous timeout."""
    async with Server(lambda request, number: STALL) as server:
        transport = Http1Transport(limits=httpx.Limits(max_connections=1))
        async with client(transport, server) as http:
            first = asyncio.create_task(http.post("/first", json={}))
            while not server.received:
                await asyncio.sleep(0.01)
            allowed = 0.3
            with pytest.raises(httpx.TimeoutException) as caught:
                async with asyncio.timeout(allowed + DEADLINE_MARGIN / 2):
                    await http.post("/second", json={}, timeout=httpx.Timeout(allowed))
            first.cancel()
    assert isinstance(caught.value, NEVER_LEFT), repr(caught.value)
    assert server.count("POST", "/second") == 0


async def test_a_body_the_server_never_reads_is_a_write_timeout():
    """The listener never accepts, so the connection completes in the kernel and the body,
    larger than the socket buffers, stalls."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        timeout = httpx.Timeout(connect=0.2, read=0.2, write=0.2, pool=0.2)
        async with httpx.AsyncClient(transport=Http1Transport(), timeout=timeout) as http:
            started = time.monotonic()
            with pytest.raises(httpx.WriteTimeout) as caught:
                await http.post(f"http://127.0.0.1:{port}/availability", content=b"x" * (64 << 20))
            elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert 0.15 <= elapsed < 3.0
    assert may_have_arrived(caught.value)


# --- what goes through ----------------------------------------------------------------


async def test_a_round_trip_carries_method_path_headers_body_and_status():
    def script(request: Received, number: int) -> bytes:
        return answer(201, {"echo": json.loads(request.body)}, reason="Created",
                      headers=(("Set-Thing", "one"), ("Set-Thing", "two"), ("X-Request-Id", "abc")))

    async with Server(script) as server:
        async with client(Http1Transport(), server) as http:
            response = await http.post(
                "/reservations",
                params={"branchId": "b 1", "date": "2030-01-01"},
                json={"name": "Zoë"},
                headers={"X-TENANT-ID": "t-1", "Authorization": "Bearer tok"},
            )
    assert response.status_code == 201
    assert response.reason_phrase == "Created"
    assert response.http_version == "HTTP/1.1"
    assert response.json() == {"echo": {"name": "Zoë"}}
    assert response.headers.get_list("Set-Thing") == ["one", "two"]
    assert response.headers["x-request-id"] == "abc"
    assert response.request.url.path == "/reservations"
    (seen,) = server.received
    assert seen.method == "POST"
    assert seen.path == "/reservations?branchId=b+1&date=2030-01-01"
    assert json.loads(seen.body) == {"name": "Zoë"}
    assert seen.header("X-TENANT-ID") == ["t-1"]
    assert seen.header("Authorization") == ["Bearer tok"]
    assert seen.header("Content-Type") == ["application/json"]
    assert seen.header("Host") == [f"127.0.0.1:{server.port}"]
    # Only httpx's own defaults, none added a second time by the transport.
    assert seen.header("User-Agent") == [f"python-httpx/{httpx.__version__}"]
    assert len(seen.header("Accept")) == 1
    assert len(seen.header("Accept-Encoding")) == 1


@pytest.mark.parametrize("operation", ["hold", "confirm", "timeslots"])
async def test_the_qmatic_client_sends_the_same_request_through_ours_as_through_httpx(operation):
    """On our transport the client hands it the request's parts, built without an
    httpx.Request; on any other it builds one. The server must see the same request
    either way: method, path and query, body bytes, and every header but the ones each
    HTTP stack words for itself."""
    calls = {
        "hold": lambda q: q.hold("t-1", service_id="s", branch_id="b", start=START, end=START, notes="Zoë"),
        "confirm": lambda q: q.confirm("t-1", "a/1", CUSTOMER),
        "timeslots": lambda q: q.timeslots("t-1", service_id="s", branch_id="b 1", day=START.date()),
    }

    def script(request: Received, number: int) -> bytes:
        if request.path.startswith("/oauth2/"):
            return answer(200, {"access_token": "tok", "expires_in": 3600})
        return answer(200, {})  # not a valid answer: the exchange is what is compared

    seen = []
    for transport in (None, httpx.AsyncHTTPTransport()):
        async with Server(script) as server:
            config = UpstreamConfig(base_url=f"{server.url}/v1", token_url=f"{server.url}/oauth2/token",
                                    account="acme", max_attempts=1)
            async with QmaticClient(config, client_id="id", client_secret="secret", transport=transport) as qmatic:
                with contextlib.suppress(BridgeError):
                    await calls[operation](qmatic)
            (sent,) = [r for r in server.received if not r.path.startswith("/oauth2/")]
            assert sent.header("Host") == [f"127.0.0.1:{server.port}"]
            assert sent.header("Content-Type") == ([] if operation == "timeslots" else ["application/json"])
            seen.append(sent)
    ours, theirs = seen
    assert (ours.method, ours.path, ours.body) == (theirs.method, theirs.path, theirs.body)
    worded_by_the_stack = {"connection", "host"}  # host: each run had a server of its own
    headers = [{k.lower(): v for k, v in r.headers if k.lower() not in worded_by_the_stack} for r in seen]
    assert headers[0] == headers[1]


@pytest.mark.parametrize("body", [{"notes": "Zoë ✂", "n": 1.5, "list": [1, None, True]}, ["ä", {"b": "\u2028"}], "plain"])
def test_a_json_body_is_encoded_byte_for_byte_as_httpx_would(body):
    assert json_body(body) == httpx.Request("POST", "http://upstream.invalid/", json=body).read()


async def test_a_get_without_a_body_and_an_encoded_id_in_the_path():
    async with Server(lambda request, number: answer(200, [1, 2])) as server:
        async with client(Http1Transport(), server) as http:
            response = await http.get("/appointments/a%2Fb%20c")
    assert response.json() == [1, 2]
    (seen,) = server.received
    assert seen.path == "/appointments/a%2Fb%20c"
    assert seen.body == b""
    assert seen.header("Content-Length") in ([], ["0"])


async def test_the_transport_adds_no_header_of_its_own():
    async with Server(lambda request, number: answer(200, {})) as server:
        async with client(Http1Transport(), server) as http:
            await http.put("/raw", content=b"raw bytes", headers={"User-Agent": "bridge"})
    (seen,) = server.received
    assert seen.body == b"raw bytes"
    assert seen.header("Content-Type") == []
    assert seen.header("User-Agent") == ["bridge"]
    assert seen.header("Content-Length") == ["9"]


def zipped(request: Received, number: int) -> bytes:
    """A gzip-encoded JSON answer."""
    payload = gzip.compress(json.dumps({"zipped": True}).encode())
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {len(payload)}\r\n\r\n"
    return head.encode() + payload


async def test_a_compressed_answer_is_decoded_once():
    async with Server(zipped) as server:
        async with client(Http1Transport(), server) as http:
            response = await http.get("/zipped")
    assert response.json() == {"zipped": True}


@pytest.mark.parametrize("status", [200, 201, 409, 503])
async def test_an_exchanged_answer_reads_as_httpx_s_response_for_the_same_bytes(status):
    """``exchange`` (the Qmatic client's path) answers with a lighter object than an
    httpx.Response; everything the client reads of it must read the same."""
    body = {"errorCode": "E1", "message": "Zoë"} if status >= 300 else {"id": "a-1", "n": [1, 2.5]}

    def script(request: Received, number: int) -> bytes:
        return answer(status, body, headers=(("Retry-After", "7"), ("X-Thing", "one")))

    async with Server(script) as server:
        transport = Http1Transport()
        try:
            ours = await transport.exchange("GET", f"{server.url}/x", {}, None, TIMEOUT.as_dict())
            theirs = await transport.handle_async_request(httpx.Request("GET", f"{server.url}/x",
                                                                        extensions={"timeout": TIMEOUT.as_dict()}))
        finally:
            await transport.aclose()
    assert not isinstance(ours, httpx.Response)
    assert (ours.status_code, ours.is_success, ours.content, ours.json()) == (
        theirs.status_code, theirs.is_success, theirs.content, theirs.json())
    for name in ("Retry-After", "retry-after", "X-THING", "Absent"):
        assert ours.headers.get(name, "") == theirs.headers.get(name, "")


async def test_an_exchanged_compressed_answer_is_decoded():
    async with Server(zipped) as server:
        transport = Http1Transport()
        try:
            answered = await transport.exchange("GET", f"{server.url}/zipped", {"Accept-Encoding": "gzip"}, None,
                                                TIMEOUT.as_dict())
        finally:
            await transport.aclose()
    assert answered.json() == {"zipped": True}


async def test_sequential_requests_share_one_kept_alive_connection():
    async with Server(lambda request, number: answer(200, {"n": number})) as server:
        async with client(Http1Transport(), server) as http:
            for expected in range(1, 6):
                assert (await http.post("/reservations", json={})).json() == {"n": expected}
    assert server.connections == 1


async def test_the_pool_limit_is_respected():
    async def slow(request: Received, number: int) -> bytes:
        await asyncio.sleep(0.05)
        return answer(200, {})

    async with Server(slow) as server:
        transport = Http1Transport(limits=httpx.Limits(max_connections=2))
        async with client(transport, server) as http:
            answers = await asyncio.gather(*(http.get(f"/r/{i}") for i in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert server.most_open <= 2
    assert server.connections == 2


# --- the transport itself -------------------------------------------------------------


async def test_idle_connections_are_closed_with_the_client():
    async with Server(lambda request, number: answer(200, {})) as server:
        transport = Http1Transport()
        async with client(transport, server) as http:
            await asyncio.gather(http.get("/a"), http.get("/b"))
            assert transport.open_connections == 2
        assert transport.open_connections == 0
        async with asyncio.timeout(5):
            while server.open_now:
                await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match="closed"):
            await transport.exchange("GET", f"{server.url}/", {}, None, TIMEOUT.as_dict())


async def test_with_a_proxy_in_the_environment_api_calls_go_through_it(monkeypatch):
    """httpx then picks the transport (through the proxy); the client hands it an
    httpx.Request built from the call's parts, and the proxy sees every call."""
    def script(request: Received, number: int) -> bytes:
        if request.path.endswith("/oauth2/token"):
            return answer(200, {"access_token": "tok", "expires_in": 3600})
        return answer(200, {})

    async with Server(script) as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        config = UpstreamConfig(base_url="http://qmatic.invalid/v1", token_url="http://qmatic.invalid/oauth2/token",
                                account="acme")
        async with QmaticClient(config, client_id="id", client_secret="secret") as qmatic:
            assert not isinstance(qmatic._http._transport, Http1Transport)
            await qmatic.release("t-1", "r/1")
    assert [(r.method, r.path) for r in proxy.received] == [
        ("POST", "http://qmatic.invalid/oauth2/token"),
        ("DELETE", "http://qmatic.invalid/v1/reservations/reservations/r%2F1"),
    ]
    assert proxy.received[1].header("X-TENANT-ID") == ["t-1"]
    assert proxy.received[1].header("Authorization") == ["Bearer tok"]


def test_the_default_transport_is_ours_unless_a_proxy_is_configured(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(default_transport(), Http1Transport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    # httpx reads the proxy settings only when it is given no transport.
    assert default_transport() is None
