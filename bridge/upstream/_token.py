"""The OAuth2 client-credentials token, fetched once an hour and shared by every call."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable

import httpx

from ..failures import BridgeError, Cause
from ..metrics import Metrics
from ._exchange import budget, capped, send

SCOPES = (
    "com.qmatic.saas.appointments/external.appointment.book",
    "com.qmatic.saas.appointments/external.appointment.reschedule",
    "com.qmatic.saas.appointments/external.appointment.cancel",
)

# Refresh this long before the upstream says the token dies, so a token never expires
# between our check and Qmatic's.
EARLY_REFRESH = 60.0
DEFAULT_LIFETIME = 3600.0
# The token endpoint is not under the API's base URL; this names it in logs and metrics.
OPERATION = "POST token"


class TokenUnavailable(BridgeError):
    """No token could be had for now. Nothing reached the API, so any call may retry."""

    def __init__(self, message: str):
        super().__init__(Cause.UNAVAILABLE, message)


class TokenRefused(BridgeError):
    """The token endpoint refused the bridge's client credentials: a configuration error.
    The message carries the endpoint's own answer, for the operator fixing them."""

    def __init__(self, message: str):
        super().__init__(Cause.INTERNAL, message)


class TokenSource:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        url: str,
        account: str,
        client_id: str,
        client_secret: str,
        timeout: httpx.Timeout,
        monotonic: Callable[[], float],
        metrics: Metrics,
    ):
        self._http = http
        self._fetches = metrics.token_fetches
        self._metrics = metrics
        self._url = url
        # Values an endpoint might echo back in its refusal; never repeated on.
        self._secrets = [(client_secret, "<client secret>"), (client_id, "<client id>")]
        self._timeout = timeout
        self._monotonic = monotonic
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
        self._headers = {
            "Authorization": f"Basic {basic}",
            "X-ACCOUNT": account,
            "Accept": "application/json",
        }
        self._token: str | None = None
        self._expires_at = 0.0
        # One refresh at a time: callers arriving on a cold cache wait for it instead of
        # each asking for their own token.
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TokenSource({self._url!r})"

    async def get(self) -> str:
        token = self._current()
        if token is not None:
            return token
        allowed = budget("fetch an upstream token")
        try:
            async with asyncio.timeout(allowed), self._lock:
                token = self._current()
                if token is not None:
                    return token
                return await self._fetch()
        except TimeoutError:
            raise TokenUnavailable("no upstream token could be had before the caller's deadline") from None

    def invalidate(self, token: str) -> None:
        # Only the token that was refused: a concurrent caller may already have a new one.
        if self._token == token:
            self._token = None

    def _current(self) -> str | None:
        if self._token is not None and self._monotonic() < self._expires_at:
            return self._token
        return None

    async def _fetch(self) -> str:
        allowed = budget("fetch an upstream token")
        request = self._http.build_request(
            "POST",
            self._url,
            headers=self._headers,
            data={"grant_type": "client_credentials", "scope": " ".join(SCOPES)},
            timeout=capped(self._timeout, allowed),
        )
        try:
            response = await send(self._http.send, request, allowed, operation=OPERATION, metrics=self._metrics)
        except httpx.TransportError as exc:
            self._fetches.labels("unreachable").inc()
            raise TokenUnavailable(f"token_url: {self._url}: no answer ({type(exc).__name__})") from exc
        status = response.status_code
        if status in (400, 401, 403):
            self._fetches.labels("refused").inc()
            raise TokenRefused(self._redacted(f"token_url: {self._url} answered {_said(response)}"))
        if status != 200:
            self._fetches.labels("failed").inc()
            raise TokenUnavailable(f"upstream token endpoint answered {status}")
        try:
            token, lifetime = _parse(response)
        except BridgeError:
            self._fetches.labels("malformed").inc()
            raise
        self._fetches.labels("ok").inc()
        self._token = token
        self._expires_at = self._monotonic() + lifetime - min(EARLY_REFRESH, lifetime / 2)
        return token


    def _redacted(self, line: str) -> str:
        for value, placeholder in self._secrets:
            if len(value) >= 4:
                line = line.replace(value, placeholder)
        return line


# The endpoint's words go into an operator's one-line error: short.
_MAX_TEXT = 200


def _said(response: httpx.Response) -> str:
    """"401 UNAUTHORIZED: bad client credentials", from Qmatic's error body or OAuth2's."""
    try:
        body = response.json()
    except ValueError:
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


def _parse(response: httpx.Response) -> tuple[str, float]:
    try:
        body = response.json()
    except ValueError:
        body = None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise BridgeError(Cause.INTERNAL, "upstream token endpoint answered without an access_token")
    lifetime = body.get("expires_in", DEFAULT_LIFETIME)
    if not isinstance(lifetime, (int, float)) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = DEFAULT_LIFETIME
    return token, float(lifetime)
