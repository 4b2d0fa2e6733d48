"""One HTTP/1.1 connection, one exchange at a time, its answer parsed by httptools."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

import httptools
import httpx

# A timer handle may run up to the loop's clock resolution early; an answer is late only
# when its read timeout has passed by more than this.
_EARLY = 0.002


class Reply(NamedTuple):
    """An answer read in full."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    version: bytes  # b"HTTP/1.1" or b"HTTP/1.0"
    keep_alive: bool


class Connection(asyncio.Protocol):
    """Sends a request and reads its answer; ``closed`` once the connection may not be
    used again. Failures are httpx's exceptions, none of them one that says "never left":
    once ``exchange`` is called, the request may have arrived."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[Reply] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._paused = False
        self._written = False
        self._last_data = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._reason: list[bytes] = []
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._until_close = False
        self._headers_done = False

    # --- the exchange ---------------------------------------------------------------

    async def exchange(self, head: bytes, body: bytes | None, write: float | None, read: float | None) -> Reply:
        assert self.transport is not None and self._answer is None
        loop = self._loop
        self._answer = answer = loop.create_future()
        self._written = False
        try:
            if body and len(body) < 65536:
                self.transport.write(head + body)
            else:
                self.transport.write(head)
                if body:
                    self.transport.write(body)
            if self._paused and not answer.done():
                await self._drain(write)
            self._written = True
            if read is not None and not answer.done():
                self._last_data = loop.time()
                self._timer = loop.call_at(self._last_data + read, self._check_read, read)
            return await answer
        finally:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._answer = None

    async def _drain(self, write: float | None) -> None:
        # The socket's buffers are full: the server is not reading. Wait for it, for the
        # answer (a server may answer before reading everything) or for the write timeout.
        self._drained = drained = self._loop.create_future()
        try:
            async with asyncio.timeout(write):
                await drained
        except TimeoutError:
            self.abort()
            raise httpx.WriteTimeout(f"the request was not written within {write:g}s; it may have arrived in part") from None
        finally:
            self._drained = None

    def _check_read(self, read: float) -> None:
        self._timer = None
        due = self._last_data + read
        if due - self._loop.time() > _EARLY:
            self._timer = self._loop.call_at(due, self._check_read, read)
            return
        self._fail(httpx.ReadTimeout(f"no answer within the read timeout of {read:g}s; the request may have arrived"))
        self.abort()

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
        self._wake_writer()

    def _wake_writer(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # --- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            # Bytes nobody asked for: what follows on this connection can't be trusted.
            self.abort()
            return
        self._last_data = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"the answer is not HTTP/1.1 ({exc}); the request may have arrived"))
            self.abort()

    def eof_received(self) -> bool:
        self.closed = True
        if self._until_close and self._headers_done:
            self._finish(False)  # an answer without a length ends with the connection
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is None:
            lost: Exception = httpx.RemoteProtocolError(
                "the server closed the connection before answering in full; the request may have arrived")
        elif not self._written:
            lost = httpx.WriteError(f"{type(exc).__name__}: {exc}; the request may have arrived in part")
        else:
            lost = httpx.ReadError(f"{type(exc).__name__}: {exc}; the request may have arrived")
        self._fail(lost)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_writer()

    # --- httptools' callbacks -------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._answer is None or self._answer.done():
            self.abort()  # a second answer to one request: nothing after it can be trusted
            return
        self._reason, self._headers, self._body = [], [], []
        self._until_close = self._headers_done = False

    def on_status(self, reason: bytes) -> None:
        self._reason.append(reason)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        status = self._parser.get_status_code()
        if status >= 200 and status not in (204, 304):
            names = {name.lower() for name, _ in self._headers}
            self._until_close = b"content-length" not in names and b"transfer-encoding" not in names

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            return  # 100 Continue and the like: the answer follows
        self._finish(self._parser.should_keep_alive())

    def _finish(self, keep_alive: bool) -> None:
        answer = self._answer
        if answer is None or answer.done():
            return
        version = b"HTTP/1.0" if self._parser.get_http_version() == "1.0" else b"HTTP/1.1"
        answer.set_result(Reply(self._parser.get_status_code(), b"".join(self._reason), self._headers,
                                b"".join(self._body), version, keep_alive))
        self._wake_writer()
