"""bridge.http1's own wire work against real servers on loopback: answers framed every way
HTTP/1.1 allows, kept-alive connections that may or may not be used again, TLS, and the
requests it refuses to send."""

from __future__ import annotations

import asyncio
import json
import ssl

import httpx
import pytest

from bridge.http1 import Http1Transport

from .pki import Authority
from .wire import DROP, TIMEOUT, Received, Server, Trickle, answer, client


def raw(*parts: bytes) -> bytes:
    return b"".join(parts)


async def test_a_chunked_answer_is_read_in_full():
    body = raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
               b"5\r\n{\"a\":\r\n", b"3\r\n[1]\r\n", b"1\r\n}\r\n", b"0\r\n\r\n")
    async with Server(lambda request, number: body) as server:
        async with client(Http1Transport(), server) as http:
            first = await http.get("/chunked")
            second = await http.get("/chunked")
    assert first.json() == second.json() == {"a": [1]}
    assert server.connections == 1


async def test_an_answer_without_a_length_ends_with_the_connection():
    async with Server(lambda request, number: (b"HTTP/1.0 200 OK\r\n\r\n{\"until\":\"closed\"}", DROP)) as server:
        async with client(Http1Transport(), server) as http:
            first = await http.get("/old")
            second = await http.get("/old")
    assert first.json() == second.json() == {"until": "closed"}
    assert first.http_version == "HTTP/1.0"
    assert server.connections == 2


async def test_an_interim_answer_is_skipped_for_the_final_one():
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    async with Server(lambda request, number: interim + answer(201, {"final": True}, reason="Created")) as server:
        async with client(Http1Transport(), server) as http:
            response = await http.post("/reservations", json={})
    assert (response.status_code, response.json()) == (201, {"final": True})


async def test_an_answer_that_asks_to_close_is_not_followed_by_another_request_on_its_connection():
    async with Server(lambda request, number: answer(200, {"n": number}, headers=(("Connection", "close"),))) as server:
        transport = Http1Transport()
        async with client(transport, server) as http:
            for _ in range(3):
                assert (await http.post("/r", json={})).json() == {"n": 1}
            assert transport.open_connections == 0
    assert server.connections == 3


async def test_a_connection_idle_past_the_keepalive_expiry_is_not_used_again():
    async with Server(lambda request, number: answer(200, {"n": number})) as server:
        transport = Http1Transport(limits=httpx.Limits(max_connections=10, keepalive_expiry=0))
        async with client(transport, server) as http:
            answers = [(await http.post("/r", json={})).json() for _ in range(3)]
    assert answers == [{"n": 1}] * 3
    assert server.connections == 3


async def test_a_connection_the_server_closed_while_idle_is_not_used_again():
    """The server answers, then closes; once the close has reached the client, the next
    request goes out on a new connection and is answered, no failure in between."""
    async with Server(lambda request, number: (answer(200, {"n": number}), DROP)) as server:
        transport = Http1Transport()
        async with client(transport, server) as http:
            await http.post("/r", json={})
            (idle,) = [c for connections in transport._pool._idle.values() for c in connections]
            async with asyncio.timeout(5):
                while not idle.closed:
                    await asyncio.sleep(0.01)
            second = await http.post("/r", json={})
    assert second.json() == {"n": 1}
    assert server.connections == 2


async def test_bytes_nobody_asked_for_close_an_idle_connection():
    async def script(request: Received, number: int) -> bytes:
        return answer(200, {"n": number}) + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

    async with Server(script) as server:
        async with client(Http1Transport(), server) as http:
            first = await http.get("/x")
            second = await http.get("/x")
    assert first.json() == second.json() == {"n": 1}
    assert server.connections == 2


async def test_an_answer_that_trickles_in_is_read_while_each_part_comes_within_the_read_timeout():
    """httpx's read timeout bounds each wait for data, not the whole answer."""
    parts = [b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", b"[1,", b"2,", b"3]"]
    async with Server(lambda request, number: Trickle(parts, pause=0.15)) as server:
        timeout = httpx.Timeout(connect=2.0, read=0.4, write=2.0, pool=2.0)
        async with client(Http1Transport(), server, timeout) as http:
            response = await http.get("/slow")
    assert response.json() == [1, 2, 3]


async def test_a_large_body_the_server_reads_is_written_in_full():
    async with Server(lambda request, number: answer(200, {"length": len(request.body)})) as server:
        async with client(Http1Transport(), server) as http:
            response = await http.put("/big", content=b"x" * (8 << 20))
    assert response.json() == {"length": 8 << 20}


async def test_a_full_pool_closes_an_idle_connection_to_another_origin_rather_than_wait():
    async with Server(lambda request, number: answer(200, {"n": number})) as one, \
            Server(lambda request, number: answer(200, {"n": number})) as other:
        transport = Http1Transport(limits=httpx.Limits(max_connections=1))
        async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as http:
            await http.get(f"{one.url}/a")
            short = httpx.Timeout(connect=1.0, read=1.0, write=1.0, pool=0.2)
            assert (await http.get(f"{other.url}/b", timeout=short)).json() == {"n": 1}
            assert (await http.get(f"{one.url}/c", timeout=short)).json() == {"n": 1}
        assert transport.open_connections == 0
    assert (one.connections, other.connections) == (2, 1)


async def test_a_streamed_body_is_sent_whole_with_its_length():
    async def parts():
        yield b'{"a":'
        yield b"1}"

    async with Server(lambda request, number: answer(200, {"got": json.loads(request.body)})) as server:
        async with client(Http1Transport(), server) as http:
            response = await http.post("/streamed", content=parts())
    assert response.json() == {"got": {"a": 1}}
    (seen,) = server.received
    assert seen.header("Content-Length") == ["7"]
    assert seen.header("Transfer-Encoding") == []


# --- TLS --------------------------------------------------------------------------------


@pytest.fixture
def authority(tmp_path) -> Authority:
    return Authority(tmp_path, "wire test CA")


def serving_context(authority: Authority) -> ssl.SSLContext:
    issued = authority.server("upstream")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.cert, issued.key)
    return context


async def test_an_https_origin_is_spoken_to_over_tls_checked_against_the_given_roots(authority):
    trusting = ssl.create_default_context(cafile=str(authority.roots))
    async with Server(lambda request, number: answer(200, {"n": number}), tls=serving_context(authority)) as server:
        async with httpx.AsyncClient(transport=Http1Transport(ssl_context=trusting), timeout=TIMEOUT) as http:
            answers = [(await http.get(f"https://localhost:{server.port}/secure")).json() for _ in range(2)]
            answered = await http._transport.exchange("GET", f"https://localhost:{server.port}/parts", {}, None,
                                                      TIMEOUT.as_dict())
    assert answers == [{"n": 1}, {"n": 2}]
    assert answered.json() == {"n": 3}
    assert server.connections == 1
    assert [r.header("Host") for r in server.received] == [[f"localhost:{server.port}"]] * 3


async def test_a_certificate_the_roots_do_not_vouch_for_is_never_left(tmp_path, authority):
    stranger = Authority(tmp_path, "someone else")
    trusting_the_stranger = ssl.create_default_context(cafile=str(stranger.roots))
    async with Server(lambda request, number: answer(200, {}), tls=serving_context(authority)) as server:
        transport = Http1Transport(ssl_context=trusting_the_stranger)
        async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as http:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.post(f"https://localhost:{server.port}/reservations", json={})
    assert server.received == []


# --- what is refused before anything is sent -------------------------------------------


@pytest.mark.parametrize("headers, why", [
    ({"X-Tenant-Id": "t\r\nX-Injected: 1"}, "line break"),
    ({"X-Tenant-Id\n": "t"}, "line break"),
    ({"X-Name": "Zoë"}, "not ASCII"),
])
async def test_a_header_that_would_change_the_request_is_refused(headers, why):
    async with Server(lambda request, number: answer(200, {})) as server:
        transport = Http1Transport()
        try:
            with pytest.raises(httpx.LocalProtocolError, match=why):
                await transport.exchange("POST", f"{server.url}/r", headers, b"{}", TIMEOUT.as_dict())
        finally:
            await transport.aclose()
    assert server.received == []


@pytest.mark.parametrize("method, url", [("HEAD", "http://127.0.0.1:9/"), ("GET", "ftp://127.0.0.1:9/")])
async def test_what_the_transport_cannot_carry_is_refused(method, url):
    transport = Http1Transport()
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.exchange(method, url, {}, None, TIMEOUT.as_dict())
    assert transport.open_connections == 0
