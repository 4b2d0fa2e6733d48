"""The servers: gRPC (v0 and v2 booking services, health, reflection, optional mutual TLS)
and, when configured, the v3 REST front; started together, stopped gracefully together."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import ssl
import os
from collections.abc import Mapping, Sequence

from aiohttp import web

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ._proto import booking_v0_pb2, booking_v2_pb2
from .config import Config, ServerConfig, TlsConfig
from .core import BookingCore
from .fronts import rest, v0, v2
from .fronts.grpc_support import register
from .fronts.v3_api import V3Api

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
        self.server = grpc.aio.server(
            options=[
                # Booking requests are small; a big one is an attack or a bug.
                ("grpc.max_receive_message_length", 64 * 1024),
            ]
        )
        limit = config.default_deadline_seconds
        v0_service = booking_v0_pb2.DESCRIPTOR.services_by_name["BookingService"]
        v2_service = booking_v2_pb2.DESCRIPTOR.services_by_name["BookingService"]
        register(self.server, v0.V0BookingService(core, default_deadline=limit), v0_service)
        v2_api = V3Api(core, front="v2", availability_budget=availability_budget)
        register(self.server, v2.V2BookingService(v2_api, default_deadline=limit), v2_service)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.services = [v0_service.full_name, v2_service.full_name]
        reflection.enable_server_reflection(
            [*self.services, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self.server,
        )
        self.port = 0
        self._rest: web.AppRunner | None = None
        self.rest_port = 0
        if config.rest_listen:
            v3_api = V3Api(core, front="v3", availability_budget=availability_budget)
            self._rest = web.AppRunner(
                rest.make_app(v3_api, credentials=rest_credentials, prefix=config.rest_path_prefix, default_deadline=limit),
                access_log=None,  # the front logs one redacted line per call itself
                shutdown_timeout=config.shutdown_grace_seconds,
            )

    async def start(self, listen: str | None = None) -> int:
        address = listen or self._config.grpc_listen
        tls = self._config.tls
        if tls is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, _credentials(tls))
        if self.port == 0:
            raise OSError(f"could not listen on {address}")
        await self.server.start()
        if self._rest is not None:
            self.rest_port = await self._start_rest()
        for name in ("", *self.services):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"address": address, "port": self.port, "tls": tls is not None})
        return self.port

    async def _start_rest(self) -> int:
        assert self._rest is not None
        host, _, port = self._config.rest_listen.rpartition(":")
        await self._rest.setup()
        tls = self._config.tls
        context = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.cert_file, tls.key_file)
        site = web.TCPSite(self._rest, host.strip("[]"), int(port), ssl_context=context)
        await site.start()
        bound = self._rest.addresses[0][1]
        log.info("serving REST", extra={"address": self._config.rest_listen, "port": bound, "tls": tls is not None})
        return bound

    async def stop(self, grace: float | None = None) -> None:
        """Health first, so load balancers stop sending; then let in-flight calls finish."""
        await self.health.enter_graceful_shutdown()
        grace = self._config.shutdown_grace_seconds if grace is None else grace
        rest_stopped = self._rest.cleanup() if self._rest is not None else asyncio.sleep(0)
        await asyncio.gather(rest_stopped, self.server.stop(grace))
        log.info("stopped")

    @classmethod
    def from_config(cls, core: BookingCore, config: Config, environ: Mapping[str, str] = os.environ) -> BridgeServer:
        auth = config.server.rest_auth
        return cls(
            core,
            resolved_server_config(config),
            availability_budget=config.booking.availability_budget_seconds,
            rest_credentials=auth.credentials(environ) if auth else (),
        )


def _credentials(tls: TlsConfig) -> grpc.ServerCredentials:
    with open(tls.cert_file, "rb") as f:
        chain = f.read()
    with open(tls.key_file, "rb") as f:
        key = f.read()
    roots = None
    if tls.client_ca_file:
        with open(tls.client_ca_file, "rb") as f:
            roots = f.read()
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=roots, require_client_auth=roots is not None
    )


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


async def serve_until_signalled(core: BookingCore, config: Config) -> None:
    server = BridgeServer.from_config(core, config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("signal received; shutting down")
    await server.stop()
