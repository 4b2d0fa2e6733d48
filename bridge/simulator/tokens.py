"""OAuth2 client-credentials tokens for the demo tenant, timed by the injected clock."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import secrets

from ..clock import Clock
from . import seed
from .errors import unauthorized

LIFETIME_SECONDS = 3600


class Tokens:
    def __init__(self, clock: Clock):
        self._clock = clock
        self._expiry: dict[str, dt.datetime] = {}

    def issue(self, authorization: str | None, account: str | None, grant_type: str | None) -> dict:
        """The token answer for a valid client, else a 401 that says which part was wrong."""
        if not _client_ok(authorization):
            raise unauthorized("bad client credentials")
        if account != seed.DEMO_ACCOUNT:
            raise unauthorized("unknown X-ACCOUNT")
        if grant_type != "client_credentials":
            raise unauthorized("grant_type must be client_credentials")
        now = self._clock.now()
        # Expired tokens are dropped here so a long benchmark does not grow the table forever.
        self._expiry = {t: exp for t, exp in self._expiry.items() if exp > now}
        token = secrets.token_urlsafe(32)
        self._expiry[token] = now + dt.timedelta(seconds=LIFETIME_SECONDS)
        return {"access_token": token, "expires_in": LIFETIME_SECONDS, "token_type": "Bearer"}

    def check(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("bearer token required")
        expiry = self._expiry.get(token.strip())
        if expiry is None or self._clock.now() >= expiry:
            raise unauthorized("token expired or revoked")

    def revoke_all(self) -> None:
        self._expiry.clear()

    def live(self) -> list[str]:
        return [t for t, exp in self._expiry.items() if exp > self._clock.now()]


def _client_ok(authorization: str | None) -> bool:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    client_id, sep, secret = decoded.partition(":")
    # compare_digest wants equal types; both sides are str of ASCII-safe demo values.
    return bool(sep) and hmac.compare_digest(
        f"{client_id}:{secret}".encode(), f"{seed.DEMO_CLIENT_ID}:{seed.DEMO_CLIENT_SECRET}".encode()
    )
