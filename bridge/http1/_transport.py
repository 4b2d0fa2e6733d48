"""The httpx transport, and the lighter path the Qmatic client takes through it."""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from multidict import CIMultiDict

from ._connection import Reply
from ._pool import Origin, Pool

__all__ = ["Answer", "Http1Transport", "default_transport"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_BODY_EXPECTED = frozenset({"POST", "PUT", "PATCH"})
# Origins seen, parsed once; a bridge talks to a handful (Qmatic, its token URL, Google).
_MAX_ORIGINS = 64


class Http1Transport(httpx.AsyncBaseTransport):
    """Connections made as requests need them, inside the running loop; ``aclose`` closes
    the idle ones, and each busy one when its exchange ends.

    ``limits``: ``max_connections`` bounds the connections open at once and
    ``keepalive_expiry`` how long an idle one is kept; idle connections are not counted
    separately (``max_keepalive_connections`` is not used), so a steady load keeps its
    connections. ``ssl_context`` is for https origins; by default, httpx's (certifi, or
    SSL_CERT_FILE/SSL_CERT_DIR).
    """

    def __init__(self, *, limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
                 ssl_context: ssl.SSLContext | None = None):
        self._limits = limits
        self._pool = Pool(limits.max_connections, limits.keepalive_expiry)
        self._ssl = ssl_context
        self._origins: dict[str, Origin] = {}

    def __repr__(self) -> str:
        return f"Http1Transport(max_connections={self._limits.max_connections})"

    @property
    def open_connections(self) -> int:
        return self._pool.open

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            body = request.content
        except httpx.RequestNotRead:
            body = await request.aread()
        url = request.url
        origin = self._origin(url.scheme, url.raw_host.decode("ascii"), url.port, url.netloc.decode("ascii"))
        raw = request.headers.raw
        if any(name.lower() == b"transfer-encoding" for name, _ in raw):
            # A streamed body has been read whole: it goes with its length, not in chunks.
            raw = [pair for pair in raw if pair[0].lower() != b"transfer-encoding"]
            raw.append((b"Content-Length", str(len(body)).encode("ascii")))
        lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), url.raw_path)]
        lines += [b"%s: %s\r\n" % pair for pair in raw]
        lines.append(b"\r\n")
        try:
            reply = await self._send(origin, request.method, b"".join(lines), body, request.extensions.get("timeout", {}))
        except httpx.RequestError as exc:
            exc.request = request
            raise
        return _httpx_response(reply, request)

    async def exchange(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes | None,
        timeouts: Mapping[str, float | None],
    ) -> Answer | httpx.Response:
        """One request from its parts (``url`` absolute and already encoded, ``timeouts``
        as httpx's ``Timeout.as_dict()``), its answer read in full: what
        ``handle_async_request`` does, for a caller with no httpx.Request to hand
        (building one costs about a tenth of an upstream call). The answer is an
        :class:`Answer`, or an httpx.Response when its body is content-encoded (httpx
        decodes it). Errors as ``handle_async_request``'s."""
        origin, target = self._split(url)
        reply = await self._send(origin, method, _head(method, target, origin, headers, body), body, timeouts)
        answer = Answer(reply.status, CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in reply.headers),
                        reply.body)
        if "Content-Encoding" in answer.headers:
            return _httpx_response(reply, None)
        return answer

    async def _send(self, origin: Origin, method: str, head: bytes, body: bytes | None,
                    timeouts: Mapping[str, float | None]) -> Reply:
        if method == "HEAD":
            # Its answer has headers that announce a body it does not carry, which the parser can't be told.
            raise httpx.UnsupportedProtocol("HEAD is not supported by this transport")
        pool = self._pool
        connection = await pool.acquire(origin, timeouts.get("pool"), timeouts.get("connect"))
        reusable = False
        try:
            reply = await connection.exchange(head, body, timeouts.get("write"), timeouts.get("read"))
            reusable = reply.keep_alive
            return reply
        finally:
            # Anything but a whole answer on a kept-alive connection leaves it in a state
            # nobody knows: it is closed, never reused.
            pool.release(origin, connection, reusable)

    def _split(self, url: str) -> tuple[Origin, str]:
        """The origin and the request target (path and query) of an absolute URL."""
        start = url.find("://") + 3
        slash = url.find("/", start)
        base, target = (url, "/") if slash < 0 else (url[:slash], url[slash:])
        if "#" in target:
            target = target.partition("#")[0]
        origin = self._origins.get(base)
        if origin is None:
            parts = urlsplit(base)
            origin = self._origin(parts.scheme, parts.hostname or "", parts.port, parts.netloc)
            if len(self._origins) >= _MAX_ORIGINS:
                self._origins.clear()
            self._origins[base] = origin
        return origin, target

    def _origin(self, scheme: str, host: str, port: int | None, netloc: str) -> Origin:
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"{scheme!r} is not http or https")
        context = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            context = self._ssl
        return Origin(host, port or _DEFAULT_PORTS[scheme], context, netloc)

    async def aclose(self) -> None:
        self._pool.close()


def _head(method: str, target: str, origin: Origin, headers: Mapping[str, str] | Iterable[tuple[str, str]],
          body: bytes | None) -> bytes:
    """The request line and headers, with Host and Content-Length added as httpx would."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lines = [f"{method} {target} HTTP/1.1"]
    has_host = has_length = False
    for name, value in pairs:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise httpx.LocalProtocolError(f"header {name!r} holds a line break")
        lowered = name.lower()
        has_host = has_host or lowered == "host"
        has_length = has_length or lowered == "content-length"
        lines.append(f"{name}: {value}")
    if not has_host:
        lines.insert(1, f"Host: {origin.host_header}")
    if not has_length and (body or method in _BODY_EXPECTED):
        lines.append(f"Content-Length: {len(body) if body else 0}")
    lines.append("\r\n")
    try:
        return "\r\n".join(lines).encode("ascii")
    except UnicodeEncodeError as exc:
        raise httpx.LocalProtocolError(f"the request line or a header is not ASCII: {exc}") from None


class Answer:
    """An answer read in full, as ``exchange`` gives it: what the upstream client reads of
    an httpx.Response (``status_code``, ``is_success``, ``headers``, ``content``,
    ``json()``, each as httpx has it), without building one, which costs about 2 % of the
    bridge's CPU per call."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes):
        self.status_code = status_code
        self.headers = headers  # case-insensitive, as httpx's
        self.content = content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        """The body parsed by orjson, about four times as fast as the json module. Unlike
        httpx's, a body that is not UTF-8 (JSON sent between systems must be) is refused
        like any unparseable one: orjson's error is a ValueError, as json's is."""
        return orjson.loads(self.content)


def _httpx_response(reply: Reply, request: httpx.Request | None) -> httpx.Response:
    answer = httpx.Response(
        reply.status,
        headers=reply.headers,
        stream=httpx.ByteStream(reply.body),
        request=request,
        extensions={"http_version": reply.version, "reason_phrase": reply.reason},
    )
    answer.read()  # decoded here, so the caller has nothing left to read
    return answer


def default_transport() -> Http1Transport | None:
    """The transport for a client given none: ours, unless the environment names a proxy.

    httpx reads HTTP_PROXY/HTTPS_PROXY/ALL_PROXY only for a client built without a
    transport, so with a proxy configured this returns None and httpx carries on as it
    always did (through the proxy, over httpcore).
    """
    from httpx._utils import get_environment_proxies

    if any(url is not None for url in get_environment_proxies().values()):
        return None
    return Http1Transport()
