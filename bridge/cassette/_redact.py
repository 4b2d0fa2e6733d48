"""Redaction: secrets and personal data become stable placeholders before anything is written.

Two passes. The first walks the structure and learns the values that are secret by
position: the Authorization, X-ACCOUNT and X-TENANT-ID headers, the token answer's
``access_token``, and the customer fields of any JSON body. The second replaces every
learned value (and the ones known up front: client id and secret, tenant ids, the
upstream's scheme and host) wherever it occurs as a whole word — in URIs, header values,
error messages, any string in any body — so an echo the first pass could not foresee is
caught too.

The same original always gets the same placeholder within a cassette (``<email-1>``,
``<token-1>``, ``<tenant-1>``...), so replay can check that the bridge sends one value
consistently where the recording sent one value.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

PLACEHOLDER_HOST = "qmatic.invalid"
PLACEHOLDER_ORIGIN = f"https://{PLACEHOLDER_HOST}"

# Qmatic's customer fields (contract §4.2, §4.3) and the kind of placeholder each gets.
PERSONAL_KEYS = {
    "firstName": "first-name",
    "lastName": "last-name",
    "email": "email",
    "phoneNumber": "phone",
    "dateOfBirth": "date-of-birth",
    "personalIdentifier": "personal-id",
}
TOKEN_KEYS = frozenset({"access_token", "refresh_token", "id_token"})

# Shorter values would be replaced inside unrelated words; they are still redacted where
# their position says they are secret.
MIN_TEXT_LENGTH = 3

PLACEHOLDER = re.compile(r"<[a-z][a-z-]*-\d+>")


class Redactor:
    def __init__(self) -> None:
        self._table: dict[str, str] = {}  # lower-cased original -> replacement
        self._counts: dict[str, int] = {}
        self._pattern: re.Pattern[str] | None = None

    # --- what is secret ---------------------------------------------------------------

    def known(self, kind: str, value: str) -> str:
        """The placeholder for ``value``, numbered within ``kind`` on first sight."""
        key = value.lower()
        found = self._table.get(key)
        if found is not None:
            return found
        self._counts[kind] = self._counts.get(kind, 0) + 1
        placeholder = f"<{kind}-{self._counts[kind]}>"
        self._learn(key, placeholder)
        return placeholder

    def upstream_url(self, url: str) -> None:
        """The upstream's scheme and host become the placeholder origin; the path stays."""
        parts = urlsplit(url)
        if not parts.netloc:
            return
        self._learn(f"{parts.scheme}://{parts.netloc}".lower(), PLACEHOLDER_ORIGIN)
        self._learn(parts.netloc.lower(), PLACEHOLDER_HOST)
        if parts.hostname:
            self._learn(parts.hostname.lower(), PLACEHOLDER_HOST)

    def _learn(self, key: str, replacement: str) -> None:
        if key and key not in self._table:
            self._table[key] = replacement
            self._pattern = None

    # --- applying it ------------------------------------------------------------------

    def text(self, value: str) -> str:
        pattern = self._compiled()
        if pattern is None:
            return value
        return pattern.sub(lambda m: self._table.get(m.group(0).lower(), "<redacted>"), value)

    def interactions(self, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        redacted = [copy.deepcopy(item) for item in items]
        for item in redacted:  # first pass: learn, and replace what position marks secret
            request, response = item["request"], item["response"]
            request["headers"] = {
                name: [self._header(name, v) for v in values] for name, values in request["headers"].items()
            }
            for body in (request.get("body"), response.get("body")):
                if body and "json" in body:
                    body["json"] = self._walk(body["json"])
        return [self.everywhere(item) for item in redacted]

    def everywhere(self, value: Any) -> Any:
        """Every string inside ``value`` with every learned original replaced."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.everywhere(v) for v in value]
        if isinstance(value, dict):
            return {k: self.everywhere(v) for k, v in value.items()}
        return value

    def _header(self, name: str, value: str) -> str:
        if name == "authorization":
            return self._authorization(value)
        if name == "x-account":
            return self.known("account", value)
        if name == "x-tenant-id":
            return self.known("tenant", value)
        return value

    def _authorization(self, value: str) -> str:
        scheme, _, credentials = value.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            return f"{scheme} {self.known('token', credentials)}"
        if scheme.lower() == "basic" and credentials:
            for part in _basic_parts(credentials):
                self.known("client-credential", part)
            return f"{scheme} {self.known('basic-credentials', credentials)}"
        return self.known("authorization", value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {}
        for key, item in value.items():
            if isinstance(item, str) and item and key in PERSONAL_KEYS:
                out[key] = self.known(PERSONAL_KEYS[key], item)
            elif isinstance(item, str) and item and key in TOKEN_KEYS:
                out[key] = self.known("token", item)
            else:
                out[key] = self._walk(item)
        return out

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None:
            originals = sorted((k for k in self._table if len(k) >= MIN_TEXT_LENGTH), key=len, reverse=True)
            if not originals:
                return None
            # Longest first, so an e-mail is replaced whole before a name inside it is.
            alternatives = "|".join(re.escape(k) for k in originals)
            self._pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", re.IGNORECASE)
        return self._pattern


def _basic_parts(credentials: str) -> list[str]:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return []
    return [part for part in decoded.split(":", 1) if part]
