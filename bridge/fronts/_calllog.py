"""One structured log line per call, the same for every front: method, status, latency.

Only these fields: requests carry customer data and answers carry ids worth nothing in a
log, so neither is logged.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("bridge.calls")


def call(method: str, status: str | int, started: float) -> None:
    """``started`` is a time.perf_counter() reading taken when the call arrived."""
    log.info("call", extra={"method": method, "status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2)})
