"""An httpx transport that sends over aiohttp: the upstream and Google clients' default.

httpx stays the clients' API (requests, responses, timeouts, ``MockTransport`` in
tests); only the wire work moves from httpcore, which costs about a millisecond of CPU
per request, to aiohttp's connection pool.

What a failure is mapped to decides whether a state-changing call may be sent again
(``bridge.upstream._retry.NEVER_LEFT``), so the mapping follows one rule: only a failure
that proves nothing was written becomes ``ConnectError``/``ConnectTimeout``; anything
else, including an unfamiliar error, is one after which the request may have arrived.

=================================================  ==========================================
aiohttp                                            httpx
=================================================  ==========================================
ConnectionTimeoutError (pool slot or connect)      ConnectTimeout            (never left)
ClientConnectorError and subclasses (refused,      ConnectError              (never left)
DNS, TLS handshake, certificate)
SocketTimeoutError, other ServerTimeoutError       ReadTimeout               (may have arrived)
ServerDisconnectedError, ClientPayloadError,       RemoteProtocolError       (may have arrived)
ClientResponseError (an unparsable answer)
ClientOSError, ClientConnectionResetError,         ReadError                 (may have arrived)
other ClientConnectionError, OSError
UploadAbortedError                                 WriteError                (may have arrived)
the transport's own guard (see below)              WriteTimeout              (may have arrived)
any other ClientError                              RemoteProtocolError       (may have arrived)
=================================================  ==========================================

aiohttp resends a PUT or DELETE by itself, once, when the connection it was written on
turns out closed (``ClientSession._retry_connection``). A request that may have arrived
must never be sent again behind the caller's back, so that is switched off; as there is
no public switch, the private attribute is checked for and the transport refuses to
start without it, rather than let an aiohttp release that renames it bring resends back.

Timeouts are httpx's, per request: ``sock_connect`` bounds the connect and ``sock_read``
each read. aiohttp has one bound for the wait for a pool slot and the connect together
(``connect``); it is the larger of httpx's pool and connect, not their sum, because the
upstream client cuts every phase to the caller's deadline and guards the attempt at a
sliver more (``bridge.upstream._exchange.send``): a starved pool must surface as
``ConnectTimeout`` (never left) before that guard's ambiguous timeout. aiohttp has no
write timeout, so a guard of the transport's own bounds everything up to the answer's
headers by the sum of the four; it can only fire when the write stalls (or an answer's
headers trickle in), and it maps to ``WriteTimeout``.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
import httpx
from yarl import URL

__all__ = ["AiohttpTransport", "Answer", "default_transport"]

# Headers aiohttp would add on its own; httpx has already set those it means to send.
_SKIP_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})
# aiohttp rounds timeouts above this up to whole seconds of loop time; ours are cut to the
# caller's deadline, so they are kept exact.
_NO_CEIL = float("inf")
_HTTP_11 = b"HTTP/1.1"
_HTTP_10 = b"HTTP/1.0"
# New in aiohttp 3.14; before it, the same failure is a ClientConnectionError (ReadError).
_UPLOAD_ABORTED: tuple[type[Exception], ...] = tuple(
    kind for kind in (getattr(aiohttp, "UploadAbortedError", None),) if kind is not None
)


def _check_retry_switch() -> None:
    if "_retry_connection" not in aiohttp.ClientSession.ATTRS:
        raise RuntimeError(
            f"aiohttp {aiohttp.__version__} has no ClientSession._retry_connection: the switch that stops it "
            "resending a PUT or DELETE that may have arrived is gone; bridge.aiohttp_transport must be updated"
        )


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session, made on the first request inside the running loop; ``aclose`` closes it."""

    def __init__(self, *, limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)):
        _check_retry_switch()
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"AiohttpTransport(max_connections={self._limits.max_connections})"

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the transport is closed")
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=self._limits.keepalive_expiry,
            timeout_ceil_threshold=_NO_CEIL,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            # httpx keeps the cookies, follows (or not) redirects, decodes bodies and
            # reads the proxy settings (default_transport); aiohttp only carries bytes.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            auto_decompress=False,
            trust_env=False,
            raise_for_status=False,
        )
        if not hasattr(session, "_retry_connection"):
            raise RuntimeError("aiohttp.ClientSession has no _retry_connection; see bridge.aiohttp_transport")
        session._retry_connection = False
        self._session = session
        return session

    def _ssl_for(self, url: str) -> ssl.SSLContext | bool:
        if not url.startswith("https:"):
            return True
        if self._ssl is None:
            # The context httpx's own transport would use (certifi, or SSL_CERT_FILE/DIR).
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        response, content = await self._exchange(request.method, str(request.url), request.headers.multi_items(),
                                                 body, request.extensions.get("timeout", {}), request)
        return _httpx_response(response, content, request)

    async def exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes | None,
        timeouts: Mapping[str, float | None],
    ) -> Answer | httpx.Response:
        """One request from its parts (``url`` already encoded; ``timeouts`` as httpx's
        ``Timeout.as_dict()``), its answer read in full. What ``handle_async_request``
        does, for a caller that has no httpx.Request to hand: building one cost about a
        tenth of an upstream call. The answer is an :class:`Answer`, or an httpx.Response
        when its body is content-encoded (httpx decodes it). Errors as
        ``handle_async_request``'s."""
        response, content = await self._exchange(method, url, headers, body, timeouts, None)
        if "Content-Encoding" in response.headers:
            return _httpx_response(response, content, None)
        return Answer(response.status, response.headers, content)

    async def _exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes | None,
        timeouts: Mapping[str, float | None],
        request: httpx.Request | None,
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """The answer (released) and its body, as sent. ``request``, if given, is named by errors."""
        session = self._session if self._session is not None else self._open()
        connect, read = timeouts.get("connect"), timeouts.get("read")
        write, pool = timeouts.get("write"), timeouts.get("pool")
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect is None or pool is None else max(pool, connect),
            sock_connect=connect,
            sock_read=read,
            ceil_threshold=_NO_CEIL,
        )
        guard = None if None in (connect, read, write, pool) else pool + connect + write + read  # type: ignore[operator]
        try:
            try:
                async with asyncio.timeout(guard) as cm:
                    response = await session.request(
                        method,
                        URL(url, encoded=True),
                        headers=headers,
                        data=body or None,
                        allow_redirects=False,
                        timeout=timeout,
                        ssl=self._ssl_for(url),
                    )
            except TimeoutError:
                if cm.expired():
                    raise httpx.WriteTimeout(
                        f"no answer within {guard:g}s (pool + connect + write + read); the request may have arrived",
                        request=request,
                    ) from None
                raise
            try:
                content = await response.read()
            except BaseException:
                # Half read: the connection must not go back to the pool.
                response.close()
                raise
        except aiohttp.ClientError as exc:
            raise _mapped(exc, request) from exc
        except TimeoutError as exc:
            # Not aiohttp's own (those are ServerTimeoutError): whatever it was, the
            # request may have been written.
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
        return response, content

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class Answer:
    """An answer read in full, as ``exchange`` gives it: what the upstream client reads of
    an httpx.Response (``status_code``, ``is_success``, ``headers``, ``content``,
    ``json()``, each as httpx has it), without building one, which cost about 2 % of the
    bridge's CPU per call."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes):
        self.status_code = status_code
        self.headers = headers  # aiohttp's: case-insensitive, as httpx's
        self.content = content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return json.loads(self.content)


def _httpx_response(response: aiohttp.ClientResponse, content: bytes, request: httpx.Request | None) -> httpx.Response:
    version = _HTTP_11 if response.version == aiohttp.HttpVersion11 else _HTTP_10
    answer = httpx.Response(
        response.status,
        headers=response.raw_headers,
        stream=httpx.ByteStream(content),
        request=request,
        extensions={"http_version": version, "reason_phrase": (response.reason or "").encode("latin-1")},
    )
    answer.read()  # decoded here, so the caller has nothing left to read
    return answer


def _mapped(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    message = f"{type(exc).__name__}: {exc}"
    # Order matters: ConnectionTimeoutError is a ServerTimeoutError, and
    # ClientConnectorError a ClientOSError.
    kind: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.ClientConnectionError):
        kind = httpx.ReadError
    elif isinstance(exc, _UPLOAD_ABORTED):
        kind = httpx.WriteError
    else:
        kind = httpx.RemoteProtocolError
    return kind(message, request=request)


def default_transport() -> AiohttpTransport | None:
    """The transport for a client given none: ours, unless the environment names a proxy.

    httpx reads HTTP_PROXY/HTTPS_PROXY/ALL_PROXY only for a client built without a
    transport, so with a proxy configured this returns None and httpx carries on as it
    always did (through the proxy, over httpcore).
    """
    from httpx._utils import get_environment_proxies

    if any(url is not None for url in get_environment_proxies().values()):
        return None
    return AiohttpTransport()
