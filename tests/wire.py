"""A loopback HTTP/1.1 server for the transport tests: it counts every request it reads
in full and does with each what the test's script says, down to dropping or resetting the
connection unanswered."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bridge.http1 import Http1Transport
from bridge.upstream._retry import NEVER_LEFT

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



@dataclass
class Trickle:
    """An answer sent in parts, ``pause`` seconds apart."""

    parts: list[bytes]
    pause: float


# Or a pair: bytes to send, then one of these.
Action = bytes | str | tuple[bytes, str] | Trickle
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
    tls: ssl.SSLContext | None = None
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
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
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
                if not isinstance(action, (bytes, str, tuple, Trickle)):
                    action = await action
                if isinstance(action, tuple):
                    first, action = action
                    writer.write(first)
                    await writer.drain()
                if isinstance(action, Trickle):
                    for part in action.parts:
                        writer.write(part)
                        await writer.drain()
                        await asyncio.sleep(action.pause)
                    continue
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


def client(transport: Http1Transport, server: Server, timeout: httpx.Timeout = TIMEOUT) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, transport=transport, timeout=timeout)


def may_have_arrived(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, NEVER_LEFT)
