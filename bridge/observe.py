"""What the servers add for operators, started and stopped with them: the Prometheus
endpoint ([server] metrics_listen) and gRPC health following the upstream
([server] health_follows_upstream)."""

from __future__ import annotations

from collections.abc import Sequence

from grpc_health.v1 import health

from .config import ServerConfig
from .core import BookingCore
from .health_follow import HealthFollower
from .metrics_http import MetricsEndpoint


class Observe:
    def __init__(self, core: BookingCore, config: ServerConfig, servicer: health.aio.HealthServicer,
                 names: Sequence[str]):
        metrics = core.context.metrics
        self.endpoint = MetricsEndpoint(metrics, config.metrics_listen) if config.metrics_listen else None
        self.health = (HealthFollower(core.upstream_healthy, servicer, names)
                       if config.health_follows_upstream else None)

    @property
    def metrics_port(self) -> int:
        """The port /metrics is served on (0 when off)."""
        return self.endpoint.port if self.endpoint is not None else 0

    async def start(self) -> None:
        if self.endpoint is not None:
            await self.endpoint.start()
        if self.health is not None:
            self.health.start()

    async def stop(self) -> None:
        if self.health is not None:
            await self.health.stop()
        if self.endpoint is not None:
            await self.endpoint.stop()
