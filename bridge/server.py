"""The gRPC server: booking services, health, reflection, optional (mutual) TLS, graceful stop."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ._proto import booking_v0_pb2
from .config import Config, ServerConfig, TlsConfig
from .core import BookingCore
from .fronts import v0
from .fronts.grpc_support import register

log = logging.getLogger("bridge.server")


class BridgeServer:
    """A started grpc.aio server and the health servicer that reports on it."""

    def __init__(self, core: BookingCore, config: ServerConfig):
        self._config = config
        self.server = grpc.aio.server(
            options=[
                # Booking requests are small; a big one is an attack or a bug.
                ("grpc.max_receive_message_length", 64 * 1024),
            ]
        )
        register(
            self.server,
            v0.V0BookingService(core, default_deadline=config.default_deadline_seconds),
            booking_v0_pb2.DESCRIPTOR.services_by_name["BookingService"],
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.services = [v0.SERVICE]
        reflection.enable_server_reflection(
            [
                booking_v0_pb2.DESCRIPTOR.services_by_name["BookingService"].full_name,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            self.server,
        )
        self.port = 0

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
        for name in ("", *self.services):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"address": address, "port": self.port, "tls": tls is not None})
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """Health first, so load balancers stop sending; then let in-flight calls finish."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self._config.shutdown_grace_seconds if grace is None else grace)
        log.info("stopped")


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
    server = BridgeServer(core, resolved_server_config(config))
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("signal received; shutting down")
    await server.stop()
