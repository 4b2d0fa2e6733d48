"""Kept-alive connections per origin, and a bound on how many are open at once."""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import NamedTuple

import httpx

from ._connection import Connection


class Origin(NamedTuple):
    host: str
    port: int
    tls: ssl.SSLContext | None
    host_header: str  # as the Host header names it

    def __str__(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host_header}"


class Pool:
    """Up to ``max_connections`` open (None: no bound), idle ones kept for ``keepalive``
    seconds (None: until the server closes them) and handed out newest first."""

    def __init__(self, max_connections: int | None, keepalive: float | None):
        self._max = max_connections
        self._keepalive = keepalive
        self._idle: dict[Origin, list[Connection]] = {}
        self._open = 0  # connections counted against the bound: busy, idle or connecting
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    @property
    def open(self) -> int:
        return self._open

    async def acquire(self, origin: Origin, pool: float | None, connect: float | None) -> Connection:
        """A connection to ``origin``; nothing has been sent when this fails
        (``PoolTimeout``, ``ConnectTimeout``, ``ConnectError``)."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        idle = self._idle_for(origin)
        if idle is not None:
            return idle
        if self._full():
            try:
                async with asyncio.timeout(pool):
                    while self._full():
                        await self._wait()
                        idle = self._idle_for(origin)
                        if idle is not None:
                            return idle
            except TimeoutError:
                raise httpx.PoolTimeout(f"no free connection to {origin} within {pool:g}s ({self._max} open); "
                                        "nothing was sent") from None
        self._open += 1
        try:
            return await _connect(origin, connect)
        except BaseException:
            self._open -= 1
            self._wake()
            raise

    def release(self, origin: Origin, connection: Connection, reusable: bool) -> None:
        if reusable and not connection.closed and not self._closed:
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.setdefault(origin, []).append(connection)
        else:
            self._discard(connection)
        self._wake()

    def close(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                self._discard(connection)
        self._idle.clear()

    def _idle_for(self, origin: Origin) -> Connection | None:
        connections = self._idle.get(origin)
        if not connections:
            return None
        now = asyncio.get_running_loop().time()
        while connections:
            connection = connections.pop()
            stale = self._keepalive is not None and now - connection.idle_since >= self._keepalive
            if not stale and not connection.closed and not connection.transport.is_closing():  # type: ignore[union-attr]
                return connection
            self._discard(connection)
        return None

    def _full(self) -> bool:
        if self._max is None or self._open < self._max:
            return False
        # An idle connection elsewhere (another origin, or a dead one) gives up its place.
        for connections in self._idle.values():
            if connections:
                self._discard(connections.pop(0))
                return False
        return True

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake()  # woken, then cancelled before it could take its turn: pass it on
            else:
                self._waiting.remove(waiter)
            raise

    def _wake(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _discard(self, connection: Connection) -> None:
        self._open -= 1
        connection.abort()


async def _connect(origin: Origin, timeout: float | None) -> Connection:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            _, connection = await loop.create_connection(lambda: Connection(loop), origin.host, origin.port,
                                                         ssl=origin.tls)
    except TimeoutError:
        raise httpx.ConnectTimeout(f"no connection to {origin} within {timeout:g}s; nothing was sent") from None
    except OSError as exc:  # refused, unreachable, DNS, TLS handshake and certificate
        raise httpx.ConnectError(f"cannot connect to {origin}: {type(exc).__name__}: {exc}; nothing was sent") from exc
    return connection
