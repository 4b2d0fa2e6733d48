"""A stored answer to an idempotent request: what was asked (fingerprint) and the reply."""

from __future__ import annotations

from typing import NamedTuple


class Response(NamedTuple):
    fingerprint: str
    # Opaque bytes rendered by a front; None while the request is still being processed.
    body: bytes | None
