"""The fake Google's service account and its OAuth2 token endpoint (jwt-bearer grant).

A key pair is minted per fake, so a key file it writes is good for that fake only. The
assertion's RS256 signature is checked with ``cryptography`` directly against the
minted public key, not with google-auth, which signs it in the client: a mistake in how
the client uses google-auth cannot be mirrored by the check. Times come from the
injected clock, so tests expire tokens by moving it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..clock import Clock
from .google_errors import ApiError, OAuthError

SCOPE = "https://www.googleapis.com/auth/mapsbooking"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PROJECT = "fake-project"
CLIENT_EMAIL = f"bridge@{PROJECT}.iam.gserviceaccount.com"
TOKEN_LIFETIME = 3600
# Google refuses assertions meant to live longer than an hour.
MAX_ASSERTION_LIFETIME = 3600
# How far ahead of our clock an assertion's iat may be.
CLOCK_SKEW = 60


class FakeServiceAccount:
    """A throwaway RSA key pair and the service account key file describing it."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = self._key.public_key()
        self.key_id = secrets.token_hex(20)
        self.client_email = CLIENT_EMAIL

    def __repr__(self) -> str:
        return f"FakeServiceAccount({self.client_email!r})"

    def info(self, token_uri: str) -> dict[str, str]:
        """The key file's content, laid out as Google Cloud writes one."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": self.key_id,
            "private_key": pem.decode("ascii"),
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "token_uri": token_uri,
        }


class GoogleTokens:
    def __init__(self, clock: Clock, account: FakeServiceAccount):
        self._clock = clock
        self._account = account
        self._expiry: dict[str, dt.datetime] = {}
        self.issued: list[str] = []

    def issue(self, form: Mapping[str, Any], token_uri: str) -> dict[str, Any]:
        """The token answer for a valid assertion, else an ``OAuthError`` saying what is wrong."""
        if form.get("grant_type") != GRANT_TYPE:
            raise OAuthError("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
        assertion = form.get("assertion")
        if not isinstance(assertion, str) or not assertion:
            raise OAuthError("invalid_request", "assertion is required")
        self._check(assertion, token_uri)
        now = self._clock.now()
        # Dropping expired tokens here keeps a long demo's table small.
        self._expiry = {t: exp for t, exp in self._expiry.items() if exp > now}
        token = "fake-access-" + secrets.token_urlsafe(32)
        self._expiry[token] = now + dt.timedelta(seconds=TOKEN_LIFETIME)
        self.issued.append(token)
        return {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}

    def check(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "the request carries no bearer access token")
        expiry = self._expiry.get(token.strip())
        if expiry is None or self._clock.now() >= expiry:
            raise ApiError(401, "the access token is invalid, expired or revoked")

    def revoke_all(self) -> None:
        self._expiry.clear()

    def live(self) -> list[str]:
        now = self._clock.now()
        return [t for t, exp in self._expiry.items() if exp > now]

    def _check(self, assertion: str, token_uri: str) -> None:
        parts = assertion.split(".")
        if len(parts) != 3:
            raise OAuthError("invalid_grant", "the assertion is not a signed JWT")
        header, claims = _segment_json(parts[0]), _segment_json(parts[1])
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "the assertion must be signed with RS256")
        if header.get("kid") != self._account.key_id:
            raise OAuthError("invalid_grant", "the assertion's kid names no key of this service account")
        try:
            self._account.public_key.verify(
                _unbase64(parts[2]), f"{parts[0]}.{parts[1]}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, ValueError):
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from None
        # Only a signed assertion's claims are worth reading.
        if claims.get("iss") != self._account.client_email:
            raise OAuthError("invalid_grant", "the assertion's iss is not this service account")
        if claims.get("aud") != token_uri:
            raise OAuthError("invalid_grant", "the assertion's aud must be the token endpoint's URI")
        scopes = claims.get("scope")
        if not isinstance(scopes, str) or SCOPE not in scopes.split():
            raise OAuthError("invalid_scope", f"the assertion's scope must include {SCOPE}")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not _whole(iat) or not _whole(exp):
            raise OAuthError("invalid_grant", "the assertion needs numeric iat and exp")
        now = self._clock.now().timestamp()
        if exp <= now:
            raise OAuthError("invalid_grant", "the assertion has expired")
        if iat > now + CLOCK_SKEW:
            raise OAuthError("invalid_grant", "the assertion is issued in the future; check the clock")
        if exp - iat > MAX_ASSERTION_LIFETIME:
            raise OAuthError("invalid_grant", "the assertion may live at most an hour")


def _segment_json(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_unbase64(segment))
    except ValueError:
        raise OAuthError("invalid_grant", "the assertion is not a signed JWT") from None
    if not isinstance(value, dict):
        raise OAuthError("invalid_grant", "the assertion is not a signed JWT")
    return value


def _unbase64(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise OAuthError("invalid_grant", "the assertion is not a signed JWT") from None


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
