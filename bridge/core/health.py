"""Whether the upstream answers, probed at most every few seconds whatever the asking rate."""

from __future__ import annotations

import asyncio
import logging
import time

from .. import deadline
from ..failures import BridgeError
from ..upstream import QmaticClient

log = logging.getLogger("bridge.core.health")


class UpstreamHealth:
    def __init__(self, upstream: QmaticClient, *, every_seconds: float = 10.0, probe_timeout: float = 2.0):
        self._upstream = upstream
        self._every = every_seconds
        self._timeout = probe_timeout
        self._checked_at = float("-inf")
        self._healthy = False
        self._lock = asyncio.Lock()

    async def healthy(self, *, fresh: bool = False) -> bool:
        """The last probe's answer while it is recent; ``fresh``: probe now regardless."""
        async with self._lock:  # concurrent checks share one probe
            if fresh or time.monotonic() - self._checked_at >= self._every:
                self._healthy = await self._probe()
                self._checked_at = time.monotonic()
            return self._healthy

    async def _probe(self) -> bool:
        try:
            with deadline.scope(self._timeout):
                await self._upstream.probe()
        except BridgeError as exc:
            log.warning("upstream probe failed", extra={"cause": exc.cause.name})
            return False
        return True
