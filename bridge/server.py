"""The servers: gRPC (v0 and v2 booking services, health, reflection, optional mutual TLS)
and, when configured, the v3 REST front; started together, stopped gracefully together."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import signal
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from aiohttp import web

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from . import exitcodes, reflection
from ._proto import booking_v0_pb2, booking_v2_pb2
from .config import Config, ServerConfig
from .core import BookingCore
from .exitcodes import StartupFailure
from .fronts import _credentials, rest, v0, v2
from .fronts._peer import AllowedClients
from .fronts._interceptors import CallObserver
from .fronts.grpc_support import register
from .fronts.v3_api import V3Api
from .observe import Observe
from .reload import Reloader
from .tls import ServerTls

if TYPE_CHECKING:
    from .inventory import Inventory

log = logging.getLogger("bridge.server")


class BridgeServer:
    """The gRPC server, the health servicer that reports on it, and the REST front."""

    def __init__(
        self,
        core: BookingCore,
        config: ServerConfig,
        *,
        availability_budget: float = 1.2,
        rest_credentials: Sequence[tuple[str, str]] = (),
    ):
        self._config = config
        # Built before anything listens: files that do not load stop the start (TlsError).
        self.tls = ServerTls(config.tls) if config.tls is not None else None
        # Under mutual TLS, which certificate names may call (the names can change on SIGHUP).
        self.allowed_clients = None
        if self.tls is not None and self.tls.requires_client_certificate and config.tls is not None:
            self.allowed_clients = AllowedClients(config.tls.allowed_client_names)
        self.server = grpc.aio.server(
            options=[
                # Booking requests are small; a big one is an attack or a bug.
                ("grpc.max_receive_message_length", 64 * 1024),
                # gRPC shares a port with any process that asks by default: a second bridge
                # on the same address would silently take half the calls instead of failing.
                ("grpc.so_reuseport", 0),
            ],
        )
        # Every call's request id, metrics and log line, and the certificate check: each
        # handler wrapped as it is added (fronts/_interceptors.py).
        adding = CallObserver(core.context.metrics, self.allowed_clients).registering(self.server)
        limit = config.default_deadline_seconds
        v0_service = booking_v0_pb2.DESCRIPTOR.services_by_name["BookingService"]
        v2_service = booking_v2_pb2.DESCRIPTOR.services_by_name["BookingService"]
        register(adding, v0.V0BookingService(core, default_deadline=limit), v0_service)
        v2_api = V3Api(core, front="v2", availability_budget=availability_budget)
        register(adding, v2.V2BookingService(v2_api, default_deadline=limit), v2_service)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, adding)
        self.services = [v0_service.full_name, v2_service.full_name]
        # The metrics endpoint, and health following the upstream ([server] keys).
        self.observe = Observe(core, config, self.health, ["", *self.services])
        reflection.enable(adding, [*self.services, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name])
        self.port = 0
        self._rest: web.AppRunner | None = None
        self.rest_port = 0
        # Replaced in place on SIGHUP; the REST front reads it on every request.
        self.rest_credentials = _credentials.BasicCredentials(rest_credentials)
        if config.rest_listen:
            v3_api = V3Api(core, front="v3", availability_budget=availability_budget)
            self._rest = web.AppRunner(
                rest.make_app(v3_api, credentials=self.rest_credentials, prefix=config.rest_path_prefix,
                              default_deadline=limit, metrics=core.context.metrics),
                access_log=None,  # the front logs one redacted line per call itself
                shutdown_timeout=config.shutdown_grace_seconds,
            )

    @property
    def serves_rest(self) -> bool:
        return self._rest is not None

    async def start(self, listen: str | None = None) -> int:
        address = listen or self._config.grpc_listen
        try:
            if self.tls is None:
                self.port = self.server.add_insecure_port(address)
            else:
                self.port = self.server.add_secure_port(address, self.tls.grpc_credentials())
        except RuntimeError:  # gRPC's way of saying the bind failed
            self.port = 0
        if self.port == 0:
            raise ListenError(f"[server] grpc_listen: cannot listen on {address} (in use, or not an address here)")
        await self.server.start()
        if self._rest is not None:
            try:
                self.rest_port = await self._start_rest()
            except ListenError:
                await self.server.stop(None)
                raise
        for name in ("", *self.services):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        try:
            await self.observe.start()
        except StartupFailure:  # the metrics address is taken: stop what did start
            await self.stop(0)
            raise
        log.info("serving", extra={"address": address, "port": self.port, "tls": self.tls is not None})
        return self.port

    async def _start_rest(self) -> int:
        assert self._rest is not None
        host, _, port = self._config.rest_listen.rpartition(":")
        await self._rest.setup()
        context = self.tls.rest_context() if self.tls is not None else None
        site = web.TCPSite(self._rest, host.strip("[]"), int(port), ssl_context=context)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(f"[server] rest_listen: cannot listen on {self._config.rest_listen}: {exc.strerror}") from None
        bound = self._rest.addresses[0][1]
        log.info("serving REST", extra={"address": self._config.rest_listen, "port": bound, "tls": context is not None})
        return bound

    async def stop(self, grace: float | None = None) -> None:
        """Health first, so load balancers stop sending; then let in-flight calls finish."""
        await self.observe.stop()  # first: the health follower must not turn SERVING again
        await self.health.enter_graceful_shutdown()
        grace = self._config.shutdown_grace_seconds if grace is None else grace
        rest_stopped = self._rest.cleanup() if self._rest is not None else asyncio.sleep(0)
        await asyncio.gather(rest_stopped, self.server.stop(grace))
        log.info("stopped")

    @classmethod
    def from_config(cls, core: BookingCore, config: Config, environ: Mapping[str, str] = os.environ) -> BridgeServer:
        return cls(
            core,
            resolved_server_config(config),
            availability_budget=config.booking.availability_budget_seconds,
            rest_credentials=_credentials.from_config(config, environ),
        )


class ListenError(StartupFailure):
    """One line: the address a front could not listen on."""

    code = exitcodes.LISTEN


def resolved_server_config(config: Config) -> ServerConfig:
    """``config.server`` with the [server.tls] paths made relative to the configuration file,
    as ``check_environment`` checks them and config.example.toml documents."""
    tls = config.server.tls
    if tls is None:
        return config.server
    resolved = dataclasses.replace(
        tls,
        cert_file=str(config.resolve(tls.cert_file)),
        key_file=str(config.resolve(tls.key_file)),
        client_ca_file=str(config.resolve(tls.client_ca_file)) if tls.client_ca_file else None,
    )
    return dataclasses.replace(config.server, tls=resolved)


async def serve_until_signalled(core: BookingCore, config: Config, inventory: Inventory | None = None) -> None:
    server = BridgeServer.from_config(core, config)
    await server.start()
    # What start-up built (modules, configuration, protobuf descriptors) lives as long as
    # the process: out of the collector's sight, full collections stop walking it.
    gc.freeze()
    # Collections of the youngest objects a thirtieth as often: what is left to walk at each
    # is the calls in flight, whatever the threshold, so the cost falls with the count.
    gc.set_threshold(20_000, 10, 10)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, Reloader(config, server, core, inventory).reload)
    await stop.wait()
    log.info("signal received; shutting down")
    await server.stop()
