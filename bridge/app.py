"""Assembling the bridge from configuration: store, upstream client, mapping, core."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from . import mapping
from .clock import Clock, SystemClock
from .config import Config, ConfigError, check_environment
from .core import BookingCore, Context
from .errortable import ErrorTable
from .store import SqliteStore, Store
from .upstream import QmaticClient


def build_mapper(config: Config) -> mapping.Mapper:
    merchants: dict[str, mapping.MerchantMapping] = {}
    if config.booking.mappings_dir:
        merchants, problems = mapping.load_dir(config.resolve(config.booking.mappings_dir))
        if problems:
            raise ConfigError(problems)
    return mapping.Mapper(
        default_tenant=config.upstream.tenant_id,
        default_time_zone=config.booking.default_time_zone,
        merchants=merchants,
    )


@dataclass
class Bridge:
    core: BookingCore
    store: Store
    upstream: QmaticClient

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        environ: Mapping[str, str] = os.environ,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Bridge:
        problems = check_environment(config, environ)
        if problems:
            raise ConfigError(problems)
        mapper = build_mapper(config)
        client_id, client_secret = config.upstream.credentials(environ)
        upstream = QmaticClient(
            config.upstream,
            client_id=client_id,
            client_secret=client_secret,
            errors=ErrorTable(config.upstream.error_rules),
            transport=transport,
        )
        store = SqliteStore(config.resolve(config.store.path))
        ctx = Context(
            store=store,
            upstream=upstream,
            mapper=mapper,
            clock=clock or SystemClock(),
            identity_key=environ[config.booking.identity_key_env].encode(),
            lease_margin=dt.timedelta(seconds=config.booking.lease_safety_margin_seconds),
            availability_cache_seconds=config.booking.availability_cache_seconds,
        )
        return cls(core=BookingCore(ctx), store=store, upstream=upstream)

    async def aclose(self) -> None:
        await self.upstream.aclose()
        await self.store.close()
