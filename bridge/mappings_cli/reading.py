"""Reading a tenant's catalogue for the mapping commands, and saying in one line why it
could not be read.

When the token endpoint refuses, the client's own error says only that it did; an
operator fixing credentials needs what the endpoint answered (status, error code and
message). A transport that watches the token exchange keeps that answer, so the upstream
package stays the only code that forms Qmatic's requests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx

from ..app import open_upstream
from ..config import Config
from ..failures import BridgeError
from ..upstream import Offering

# The endpoint's text goes on the console: one line, and short.
_MAX_TEXT = 200


class Unreadable(Exception):
    """The catalogue could not be read; the message is the line to print."""


class _TokenWitness(httpx.AsyncBaseTransport):
    """Passes every exchange through and keeps the token endpoint's last answer."""

    def __init__(self, token_url: str, inner: httpx.AsyncBaseTransport | None = None):
        self._token_url = httpx.URL(token_url)
        self._inner = inner or httpx.AsyncHTTPTransport()
        self.answer: httpx.Response | None = None
        # The transport failure of the last token request, when it got no answer.
        self.failure: str | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.copy_with(query=None) != self._token_url.copy_with(query=None):
            return await self._inner.handle_async_request(request)
        self.answer, self.failure = None, None
        try:
            self.answer = await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            self.failure = type(exc).__name__
            raise
        return self.answer

    async def aclose(self) -> None:
        await self._inner.aclose()


class Catalogues:
    """Each tenant's offerings, read once per command."""

    def __init__(self, config: Config, environ: Mapping[str, str] = os.environ,
                 transport: httpx.AsyncBaseTransport | None = None):
        self._config = config
        self._id = environ.get(config.upstream.client_id_env, "")
        self._secret = environ.get(config.upstream.client_secret_env, "")
        self._witness = _TokenWitness(config.upstream.token_url, transport)
        self._client = open_upstream(config, environ, self._witness)
        self._read: dict[str, list[Offering]] = {}

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Catalogues:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def offerings(self, tenant: str) -> list[Offering]:
        """Every (branch, service) the tenant offers; Unreadable says why not."""
        if tenant not in self._read:
            try:
                self._read[tenant] = await self._client.services(tenant)
            except BridgeError as exc:
                raise Unreadable(self._why(exc)) from None
        return self._read[tenant]

    def _why(self, exc: BridgeError) -> str:
        answer = self._witness.answer
        url = self._config.upstream.token_url
        if answer is not None and answer.status_code != 200:
            said = _said(answer)
            hint = ("; check [upstream] account and the client id and secret in "
                    f"{self._config.upstream.client_id_env} and {self._config.upstream.client_secret_env}")
            return self._redact(f"[upstream] token_url: {url} answered {said}{hint}")
        if answer is None and self._witness.failure:
            return f"[upstream] token_url: {url}: no answer ({self._witness.failure})"
        return self._redact(f"[upstream] GET /services: {exc.message}")

    def _redact(self, line: str) -> str:
        # An endpoint may echo what it was sent; the secret must not reach the console.
        for value, placeholder in ((self._secret, "<client secret>"), (self._id, "<client id>")):
            if len(value) >= 4:
                line = line.replace(value, placeholder)
        return line


def _said(response: httpx.Response) -> str:
    """"401 UNAUTHORIZED: bad client credentials" from Qmatic's error body or OAuth2's."""
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        body = None
    code = message = ""
    if isinstance(body, dict):
        code = _text(body.get("errorCode")) or _text(body.get("error"))
        message = _text(body.get("message")) or _text(body.get("error_description"))
    said = " ".join(part for part in (str(response.status_code), code) if part)
    return f"{said}: {message}" if message else said


def _text(value: object) -> str:
    if not isinstance(value, str):
        return ""
    text = " ".join(value.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def credentials_missing(config: Config, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The configuration problems that stop a catalogue read before it starts."""
    return [
        f"[upstream] {key}: environment variable {var} is not set"
        for key in ("client_id_env", "client_secret_env")
        if not environ.get(var := getattr(config.upstream, key))
    ]

