"""gRPC health that follows the upstream, as v3's HealthCheck does: NOT_SERVING for ""
and every booking service while Qmatic is unreachable or refuses the bridge's
credentials, SERVING again once it answers.

A background task asks the core every ``every`` seconds; the core probes at most that
often, sharing its answer with HealthCheck, so health checks themselves (asked every
few seconds by load balancers) never cause an upstream request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from grpc_health.v1 import health, health_pb2

from .background import Background

log = logging.getLogger("bridge.health")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthFollower:
    def __init__(
        self,
        healthy: Callable[..., Awaitable[bool]],
        servicer: health.aio.HealthServicer,
        names: Sequence[str],
        *,
        every: float = 10.0,
    ):
        """``healthy(fresh=...)``: the core's upstream_healthy."""
        self._healthy = healthy
        self._servicer = servicer
        self._names = tuple(names)
        self._serving: bool | None = None
        # A dead follower would freeze health at its last answer: Background logs and goes on.
        self._loop = Background("health-follows-upstream", self.refresh, every)
        self.start, self.stop = self._loop.start, self._loop.stop

    async def refresh(self, *, fresh: bool = False) -> bool:
        """Ask the core (``fresh``: for a probe now) and set every name's status."""
        serving = await self._healthy(fresh=fresh)
        if serving != self._serving:
            if self._serving is not None or not serving:
                log.log(logging.INFO if serving else logging.WARNING,
                        "health: SERVING, the upstream answers" if serving
                        else "health: NOT_SERVING, the upstream does not answer or refuses the credentials")
            self._serving = serving
        # Every time, not only on a change: cheap, and it cannot drift from the servicer.
        for name in self._names:
            await self._servicer.set(name, SERVING if serving else NOT_SERVING)
        return serving
