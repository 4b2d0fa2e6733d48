"""bridge.aiohttp_transport against real servers on loopback: what reaches the server, and
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
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import httpx
import pytest

from bridge.aiohttp_transport import AiohttpTransport, default_transport
from bridge.config import UpstreamConfig
from bridge.failures import BridgeError, OutcomeUnknown
from bridge.upstream import Customer, QmaticClient
from bridge.upstream._exchange import DEADLINE_MARGIN, json_body
from bridge.upstream._retry import NEVER_LEFT

STATE_CHANGING = ("POST", "PUT", "DELETE", "PATCH")
TIMEOUT = httpx.Timeout(connect=2.0, read=5.0, write=5.0, pool=2.0)


@dataclass
class Received:
    connection: int
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


# What the server does with a request it has read in full: given the request and its
# number on its connection (1 for the first), answer it (return the bytes to send) or
# return one of these.
DROP = "drop"  # close the connection (FIN) without answering
RESET = "reset"  # abort the connection (RST) without answering
STALL = "stall"  # never answer

# Or a pair: bytes to send, then one of these.
Action = bytes | str | tuple[bytes, str]
Script = Callable[[Received, int], Awaitable[Action] | Action]


def answer(status: int = 200, body: object = None, *, reason: str = "OK", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    payload = json.dumps({} if body is None else body).encode()
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json", f"Content-Length: {len(payload)}"]
    head += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def answer_the_first_drop_the_rest(how: str) -> Script:
    """Each connection's first request is answered (and the connection kept); any later
    request on it is read in full and then the connection goes, unanswered."""

    def script(request: Received, number: int) -> bytes | str:
        if number == 1:
            return answer(200, {"access_token": "tok", "expires_in": 3600, "warm": True})
        return how

    return script


@dataclass
class Server:
    """A loopback HTTP/1.1 server that counts every request it read in full."""

    script: Script
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    port: int = 0
    _server: asyncio.base_events.Server | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, method: str, path: str | None = None) -> int:
        return sum(1 for r in self.received if r.method == method and (path is None or r.path == path))

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            number = 0
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if line]
                length = sum(int(v) for k, v in headers if k.lower() == "content-length")
                body = await reader.readexactly(length) if length else b""
                number += 1
                request = Received(connection, method, path, headers, body)  # type: ignore[arg-type]
                self.received.append(request)
                action = self.script(request, number)
                if not isinstance(action, (bytes, str, tuple)):
                    action = await action
                if isinstance(action, tuple):
                    first, action = action
                    writer.write(first)
                    await writer.drain()
                if action == DROP:
                    return
                if action == RESET:
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if action == STALL:
                    await self._stop.wait()
                    return
                assert isinstance(action, bytes)
                writer.write(action)
                await writer.drain()
        finally:
            self.open_now -= 1
            writer.close()


def client(transport: AiohttpTransport, server: Server, timeout: httpx.Timeout = TIMEOUT) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, transport=transport, timeout=timeout)


def may_have_arrived(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, NEVER_LEFT)


# --- the request that may have arrived is sent once ----------------------------------


@pytest.mark.parametrize("method", STATE_CHANGING)
@pytest.mark.parametrize("how", [DROP, RESET])
async def test_a_request_lost_on_a_reused_connection_is_sent_once_and_may_have_arrived(method, how):
    """The connection is pooled after a first answer; the server reads the next request
    in full and then drops the connection. aiohttp on its own would resend a PUT or a
    DELETE on a new connection (and the server would answer that one): it must not."""
    async with Server(answer_the_first_drop_the_rest(how)) as server:
        async with client(AiohttpTransport(), server) as http:
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
        async with client(AiohttpTransport(), server) as http:
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
            assert isinstance(qmatic._http._transport, AiohttpTransport)
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
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=TIMEOUT) as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.post(f"http://127.0.0.1:{port}/reservations", json={})
    assert isinstance(caught.value, NEVER_LEFT)


async def test_an_unknown_host_is_never_left():
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=TIMEOUT) as http:
        # ConnectError when the resolver says no; ConnectTimeout if it does not answer in time.
        with pytest.raises((httpx.ConnectError, httpx.ConnectTimeout)):
            await http.get("http://no-such-host.invalid/")


async def test_an_answer_that_does_not_come_is_a_read_timeout_within_the_read_timeout():
    async with Server(lambda request, number: STALL) as server:
        timeout = httpx.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0)
        async with client(AiohttpTransport(), server, timeout) as http:
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout) as caught:
                await http.post("/reservations", json={})
            elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 1.5
    assert may_have_arrived(caught.value)
    assert server.count("POST") == 1


async def test_the_per_request_timeout_is_the_one_honoured():
    async with Server(lambda request, number: STALL) as server:
        async with client(AiohttpTransport(), server) as http:
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                await http.get("/slow", timeout=httpx.Timeout(0.2))
    assert time.monotonic() - started < 1.5


async def test_an_answer_cut_short_is_a_protocol_error():
    def script(request: Received, number: int) -> tuple[bytes, str]:
        # Headers promising 100 bytes, 11 of them, and the connection closes.
        return b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":", DROP

    async with Server(script) as server:
        async with client(AiohttpTransport(), server) as http:
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                await http.post("/reservations", json={})
    assert may_have_arrived(caught.value)
    assert server.count("POST") == 1


async def test_an_answer_that_is_not_http_is_a_protocol_error():
    async with Server(lambda request, number: b"HELLO THERE\r\n\r\n") as server:
        async with client(AiohttpTransport(), server) as http:
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                await http.put("/reservations/r-1", json={})
    assert may_have_arrived(caught.value)
    assert server.count("PUT") == 1


async def test_waiting_too_long_for_a_pool_slot_is_never_left():
    """One connection allowed and held by a stalled request: the second request times
    out waiting for it, and the server never sees it."""
    async with Server(lambda request, number: STALL) as server:
        transport = AiohttpTransport(limits=httpx.Limits(max_connections=1))
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
        transport = AiohttpTransport(limits=httpx.Limits(max_connections=1))
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


# aiohttp warns of any body over 1 MiB; this one must outgrow the socket buffers.
@pytest.mark.filterwarnings("ignore:Sending a large body:ResourceWarning")
async def test_a_body_the_server_never_reads_is_a_write_timeout():
    """aiohttp has no write timeout; the transport's guard stands in for it. The listener
    never accepts, so the connection completes in the kernel and the body stalls."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        timeout = httpx.Timeout(connect=0.2, read=0.2, write=0.2, pool=0.2)
        async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=timeout) as http:
            started = time.monotonic()
            with pytest.raises(httpx.WriteTimeout) as caught:
                await http.post(f"http://127.0.0.1:{port}/availability", content=b"x" * (64 << 20))
            elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert 0.7 <= elapsed < 3.0
    assert may_have_arrived(caught.value)


# --- what goes through ----------------------------------------------------------------


async def test_a_round_trip_carries_method_path_headers_body_and_status():
    def script(request: Received, number: int) -> bytes:
        return answer(201, {"echo": json.loads(request.body)}, reason="Created",
                      headers=(("Set-Thing", "one"), ("Set-Thing", "two"), ("X-Request-Id", "abc")))

    async with Server(script) as server:
        async with client(AiohttpTransport(), server) as http:
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
    # Only httpx's own defaults, none added a second time by aiohttp.
    assert seen.header("User-Agent") == [f"python-httpx/{httpx.__version__}"]
    assert len(seen.header("Accept")) == 1
    assert len(seen.header("Accept-Encoding")) == 1


@pytest.mark.parametrize("operation", ["hold", "confirm", "timeslots"])
async def test_the_qmatic_client_sends_the_same_request_through_aiohttp_as_through_httpx(operation):
    """On our transport the client hands aiohttp the request's parts, built without an
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
        async with client(AiohttpTransport(), server) as http:
            response = await http.get("/appointments/a%2Fb%20c")
    assert response.json() == [1, 2]
    (seen,) = server.received
    assert seen.path == "/appointments/a%2Fb%20c"
    assert seen.body == b""
    assert seen.header("Content-Length") in ([], ["0"])


async def test_aiohttp_adds_no_header_of_its_own():
    async with Server(lambda request, number: answer(200, {})) as server:
        async with client(AiohttpTransport(), server) as http:
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
        async with client(AiohttpTransport(), server) as http:
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
        transport = AiohttpTransport()
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
        transport = AiohttpTransport()
        try:
            answered = await transport.exchange("GET", f"{server.url}/zipped", {"Accept-Encoding": "gzip"}, None,
                                                TIMEOUT.as_dict())
        finally:
            await transport.aclose()
    assert answered.json() == {"zipped": True}


async def test_sequential_requests_share_one_kept_alive_connection():
    async with Server(lambda request, number: answer(200, {"n": number})) as server:
        async with client(AiohttpTransport(), server) as http:
            for expected in range(1, 6):
                assert (await http.post("/reservations", json={})).json() == {"n": expected}
    assert server.connections == 1


async def test_the_pool_limit_is_respected():
    async def slow(request: Received, number: int) -> bytes:
        await asyncio.sleep(0.05)
        return answer(200, {})

    async with Server(slow) as server:
        transport = AiohttpTransport(limits=httpx.Limits(max_connections=2))
        async with client(transport, server) as http:
            answers = await asyncio.gather(*(http.get(f"/r/{i}") for i in range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert server.most_open <= 2
    assert server.connections == 2


# --- the transport itself -------------------------------------------------------------


async def test_the_session_is_made_on_the_first_request_and_closed_with_the_client():
    async with Server(lambda request, number: answer(200, {})) as server:
        transport = AiohttpTransport()
        assert transport._session is None
        async with client(transport, server) as http:
            await http.get("/")
            session = transport._session
            assert session is not None
            assert session._retry_connection is False
        assert session.closed
        assert transport._session is None


def test_an_aiohttp_without_the_resend_switch_is_refused(monkeypatch):
    monkeypatch.setattr(aiohttp.ClientSession, "ATTRS", aiohttp.ClientSession.ATTRS - {"_retry_connection"})
    with pytest.raises(RuntimeError, match="_retry_connection"):
        AiohttpTransport()


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
            assert not isinstance(qmatic._http._transport, AiohttpTransport)
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
    assert isinstance(default_transport(), AiohttpTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    # httpx reads the proxy settings only when it is given no transport.
    assert default_transport() is None
