"""The OAuth2 access token, got with a signed JWT (the jwt-bearer grant) and shared.

The assertion is signed by google-auth with the service account's key; only the HTTP
exchange is ours, so it runs on the bridge's own async client and event loop.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
from google.auth import jwt

from ..clock import Clock
from ._credentials import ServiceAccount
from ._errors import GoogleCredentialsError, GoogleUnavailable
from ._exchange import send, timeout_for
from ._retry import Busy, retryable_status
from ._wire import one_line

SCOPE = "https://www.googleapis.com/auth/mapsbooking"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600

# Renew this long before Google says the token dies: our clock and Google's may
# disagree, and a call may take a while between our check and Google's.
EARLY_REFRESH = 300.0
DEFAULT_LIFETIME = 3600.0


class AccessTokens:
    def __init__(self, http: httpx.AsyncClient, account: ServiceAccount, *, clock: Clock, timeout: httpx.Timeout):
        self._http = http
        self._account = account
        self._clock = clock
        self._timeout = timeout
        self._token: str | None = None
        self._expires_at: datetime | None = None
        # One fetch at a time: callers finding the cache cold wait for it rather than
        # each signing and sending an assertion of their own.
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"AccessTokens({self._account.token_uri!r})"

    async def get(self) -> str:
        token = self._current()
        if token is not None:
            return token
        async with self._lock:
            token = self._current()
            if token is not None:
                return token
            return await self._fetch()

    def invalidate(self, token: str) -> None:
        # Only the refused token: a concurrent caller may already have fetched a new one.
        if self._token == token:
            self._token = None

    def _current(self) -> str | None:
        if self._token is not None and self._expires_at is not None and self._clock.now() < self._expires_at:
            return self._token
        return None

    async def _fetch(self) -> str:
        uri = self._account.token_uri
        now = self._clock.now()
        issued = int(now.timestamp())
        claims = {
            "iss": self._account.client_email,
            "scope": SCOPE,
            "aud": uri,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME,
        }
        # google-auth puts kid (the signer's private_key_id) and alg RS256 in the header.
        assertion = jwt.encode(self._account.signer, claims).decode("ascii")
        request = self._http.build_request(
            "POST",
            uri,
            data={"grant_type": GRANT_TYPE, "assertion": assertion},
            headers={"Accept": "application/json"},
            timeout=timeout_for(self._timeout),
        )
        response = await send(self._http, request, "token")
        status = response.status_code
        if retryable_status(status):
            raise Busy(f"token endpoint {uri} answered {status}", response)
        if status != 200:
            raise GoogleCredentialsError(_refusal(uri, response))
        token, lifetime = _parse(uri, response)
        self._token = token
        self._expires_at = now + timedelta(seconds=lifetime - min(EARLY_REFRESH, lifetime / 2))
        return token


def _refusal(uri: str, response: httpx.Response) -> str:
    said = str(response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error, description = body.get("error"), body.get("error_description")
        if isinstance(error, str) and error:
            said += f" {one_line(error)}"
        if isinstance(description, str) and description:
            said += f" ({one_line(description)})"
    if 400 <= response.status_code < 500:
        return f"token endpoint {uri} refused the service account's assertion: {said}"
    return f"token endpoint {uri} answered {said} instead of a token"


def _parse(uri: str, response: httpx.Response) -> tuple[str, float]:
    try:
        body = response.json()
    except ValueError:
        body = None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise GoogleUnavailable(f"token endpoint {uri} answered 200 without an access_token")
    lifetime = body.get("expires_in", DEFAULT_LIFETIME)
    if isinstance(lifetime, str) and lifetime.isdigit():
        lifetime = int(lifetime)
    if not isinstance(lifetime, (int, float)) or isinstance(lifetime, bool) or lifetime <= 0:
        lifetime = DEFAULT_LIFETIME
    return token, float(lifetime)
