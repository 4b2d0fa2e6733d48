"""Qmatic's personalIdentifier, derived from the customer without ever being the raw value.

A keyed hash (HMAC-SHA256) of a normalised identity: the same customer always maps to the
same identifier, so upstream search finds their appointments, while the identifier reveals
nothing without the key. Hex is within Qmatic's ``[A-Za-z0-9]{10,48}``.
"""

from __future__ import annotations

import hashlib
import hmac

_LENGTH = 40


def from_email(key: bytes, email: str) -> str:
    return _derive(key, "email", email.strip().lower())


def from_user_id(key: bytes, user_id: str) -> str:
    return _derive(key, "user", user_id.strip())


def _derive(key: bytes, kind: str, value: str) -> str:
    digest = hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return digest[:_LENGTH]
