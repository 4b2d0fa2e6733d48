"""SIGHUP: read the configuration file again and put in place what can change while serving
— the TLS certificates, the mapping files and the REST credentials — without dropping a call.

Each part is built completely first and swapped in with plain assignments, with no await in
between, so a call sees the old mapping or the new, never half of each; calls in flight keep
the TLS session they started on. A part that does not load is kept as it was, and the reload
says why in its one log line. Every other key takes a restart.
"""

from __future__ import annotations

import logging
import os
import pathlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from . import config as config_mod
from .app import build_mapper
from .core import BookingCore
from .fronts import _credentials
from .tls import TlsError

if TYPE_CHECKING:
    from .inventory import Inventory
    from .server import BridgeServer

log = logging.getLogger("bridge.reload")


class Kept(Exception):
    """Why a part was not replaced: one line, never a secret."""


class Reloader:
    def __init__(
        self,
        config: config_mod.Config,
        server: BridgeServer,
        core: BookingCore,
        inventory: Inventory | None = None,
        environ: Mapping[str, str] = os.environ,
    ):
        assert config.source is not None, "a reload reads the configuration file again"
        self._source: pathlib.Path = config.source
        self._server, self._core, self._inventory, self._environ = server, core, inventory, environ

    def reload(self) -> None:
        try:
            config = config_mod.load(self._source)
        except config_mod.ConfigError as exc:
            log.warning("reload: the configuration does not load; kept everything",
                        extra={"reason": "; ".join(exc.problems)})
            return
        parts: list[tuple[str, Callable[[config_mod.Config], bool]]] = [
            ("mappings", self._mappings), ("tls", self._tls), ("rest_credentials", self._rest_credentials),
        ]
        reloaded, kept, reasons = [], [], []
        for name, step in parts:
            try:
                if step(config):
                    reloaded.append(name)
            except Kept as exc:
                kept.append(name)
                reasons.append(f"{name}: {exc}")
        if kept:
            log.warning(f"reload: kept the previous {', '.join(kept)}",
                        extra={"reloaded": reloaded, "kept": kept, "reason": "; ".join(reasons)})
        else:
            log.info("reloaded", extra={"reloaded": reloaded})

    def _mappings(self, config: config_mod.Config) -> bool:
        try:
            mapper = build_mapper(config)
        except config_mod.ConfigError as exc:
            raise Kept("; ".join(exc.problems)) from None
        # Both readers of the mapping, in one step: the booking core and the availability
        # updates sent to Google.
        self._core.context.mapper = mapper
        if self._inventory is not None:
            self._inventory.published.mapper = mapper
        return True

    def _tls(self, config: config_mod.Config) -> bool:
        from .server import resolved_server_config

        tls = resolved_server_config(config).tls
        current = self._server.tls
        if current is None and tls is None:
            return False
        if current is None or tls is None:
            raise Kept("[server.tls] added or removed; that takes a restart")
        try:
            current.replace(tls)
        except TlsError as exc:
            raise Kept(str(exc)) from None
        if self._server.allowed_clients is not None:
            self._server.allowed_clients.allow(tls.allowed_client_names)
        return True

    def _rest_credentials(self, config: config_mod.Config) -> bool:
        if not self._server.serves_rest:
            return False
        try:
            pairs = _credentials.from_config(config, self._environ)
        except _credentials.CredentialsError as exc:
            raise Kept(str(exc)) from None
        if not pairs:
            raise Kept("[server.rest_auth]: missing; the REST front would refuse every call")
        self._server.rest_credentials.replace(pairs)
        return True
