"""The recording transport: the real one, with every exchange kept in memory.

It sits below QmaticClient (passed as ``transport=``), so what it sees is exactly what
crossed the wire, token request included. Nothing is written from here: the exchanges
hold the token and the customer's details until the redactor has been over them.
"""

from __future__ import annotations

import httpx

from ._format import Exchange


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport | None = None):
        self._inner = inner if inner is not None else httpx.AsyncHTTPTransport()
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        sent = await request.aread()
        response = await self._inner.handle_async_request(request)
        if response.is_stream_consumed:
            # An answer built in memory (a mock transport) is already read, and decoded.
            self.exchanges.append(_exchange(request, sent, response, response.content))
            return response
        try:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        self.exchanges.append(_exchange(request, sent, response, _decoded(response.headers, raw)))
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def _exchange(request: httpx.Request, sent: bytes, response: httpx.Response, body: bytes) -> Exchange:
    return Exchange(
        method=request.method,
        url=str(request.url),
        request_headers=tuple(request.headers.multi_items()),
        request_body=sent,
        status=response.status_code,
        reason=_reason(response),
        response_headers=tuple(response.headers.multi_items()),
        response_body=body,
    )


def _decoded(headers: httpx.Headers, raw: bytes) -> bytes:
    """The body as the cassette keeps it; the caller gets ``raw`` and decodes it itself."""
    try:
        return httpx.Response(200, headers=headers, content=raw).content
    except httpx.DecodingError:
        return raw


def _reason(response: httpx.Response) -> str:
    phrase = response.extensions.get("reason_phrase", b"")
    if isinstance(phrase, bytes) and phrase:
        return phrase.decode("ascii", errors="replace")
    return response.reason_phrase
