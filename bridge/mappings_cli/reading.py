"""Reading a tenant's catalogue for the mapping commands, and saying in one line why it
could not be read: the upstream client's own error names the token endpoint's answer
(status, error code and message), so the operator fixing credentials sees what it said.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx

from ..app import open_upstream
from ..config import Config
from ..failures import BridgeError
from ..upstream import Offering, TokenRefused, TokenUnavailable


class Unreadable(Exception):
    """The catalogue could not be read; the message is the line to print."""


class Catalogues:
    """Each tenant's offerings, read once per command."""

    def __init__(self, config: Config, environ: Mapping[str, str] = os.environ,
                 transport: httpx.AsyncBaseTransport | None = None):
        self._config = config
        self._client = open_upstream(config, environ, transport)
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
        if isinstance(exc, TokenRefused):
            upstream = self._config.upstream
            return (f"[upstream] {exc.message}; check [upstream] account and the client id and secret in "
                    f"{upstream.client_id_env} and {upstream.client_secret_env}")
        if isinstance(exc, TokenUnavailable):
            return f"[upstream] {exc.message}"
        return f"[upstream] GET /services: {exc.message}"


def credentials_missing(config: Config, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The configuration problems that stop a catalogue read before it starts."""
    return [
        f"[upstream] {key}: environment variable {var} is not set"
        for key in ("client_id_env", "client_secret_env")
        if not environ.get(var := getattr(config.upstream, key))
    ]

