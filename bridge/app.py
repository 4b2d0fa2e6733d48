"""Assembling the bridge from configuration: store, upstream client, mapping, core."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from . import mapping
from .clock import Clock, SystemClock
from .config import Config, ConfigError, check_environment
from .core import BookingCore, Context
from .errortable import ErrorTable
from .google import GoogleCredentialsError, MapsBookingClient, ServiceAccount
from .inventory import Inventory
from .metrics import Metrics
from .retention import Retention
from .store import Store, open_store
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


def open_upstream(
    config: Config,
    environ: Mapping[str, str],
    transport: httpx.AsyncBaseTransport | None = None,
    metrics: Metrics | None = None,
) -> QmaticClient:
    client_id, client_secret = config.upstream.credentials(environ)
    return QmaticClient(
        config.upstream,
        client_id=client_id,
        client_secret=client_secret,
        errors=ErrorTable(config.upstream.error_rules),
        transport=transport,
        metrics=metrics,
    )


def open_google(config: Config, environ: Mapping[str, str], **options: Any) -> MapsBookingClient | None:
    """The Maps Booking API client, or None when [google] is not configured; a key that
    cannot be used is one ConfigError line."""
    google = config.google
    if google is None:
        return None
    try:
        account = ServiceAccount.from_env(google.credentials_env, environ)
    except GoogleCredentialsError as exc:
        raise ConfigError([f"[google] credentials_env: {exc}"]) from None
    return MapsBookingClient(google.partner_id, google.api_base_url, account, **options)


@dataclass
class Bridge:
    core: BookingCore
    store: Store
    upstream: QmaticClient
    # Keeping Google in step; None without [google].
    inventory: Inventory | None = None
    # Erasing customers past [store] retain_days; ``serve`` starts it.
    retention: Retention | None = None

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        environ: Mapping[str, str] = os.environ,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        google_options: Mapping[str, Any] | None = None,
    ) -> Bridge:
        """``google_options`` go to the Maps Booking API client (tests shorten its waits)."""
        problems = check_environment(config, environ)
        if problems:
            raise ConfigError(problems)
        mapper = build_mapper(config)
        clock = clock or SystemClock()
        google = open_google(config, environ, clock=clock, **(google_options or {}))
        # One set per Bridge, shared by everything that counts (see bridge/metrics.py).
        metrics = Metrics()
        upstream = open_upstream(config, environ, transport, metrics)
        store = open_store(config)
        ctx = Context(
            store=store,
            upstream=upstream,
            mapper=mapper,
            clock=clock,
            identity_key=environ[config.booking.identity_key_env].encode(),
            lease_margin=dt.timedelta(seconds=config.booking.lease_safety_margin_seconds),
            availability_cache_seconds=config.booking.availability_cache_seconds,
            metrics=metrics,
        )
        core = BookingCore(ctx)
        inventory = None
        if google is not None and config.google is not None:
            inventory = Inventory(core, store, google, mapper, clock, config.google)
        retention = Retention(store, clock, config.store.retain_days)
        return cls(core=core, store=store, upstream=upstream, inventory=inventory, retention=retention)

    async def aclose(self) -> None:
        if self.retention is not None:
            await self.retention.stop()
        if self.inventory is not None:
            await self.inventory.stop()
            await self.inventory.google.aclose()
        await self.upstream.aclose()
        await self.store.close()
