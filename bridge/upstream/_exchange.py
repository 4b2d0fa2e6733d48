"""One HTTP exchange under a time budget, logged as one DEBUG line.

The log line names the method, the path (ids included: they are GUIDs, not personal
data), the status and the latency. It never carries headers or bodies, which hold the
token, the Basic credentials and the customer's details.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from .. import deadline
from ..failures import BridgeError, Cause

log = logging.getLogger("bridge.upstream")

# Below the caller's deadline, so the front still has time to answer.
DEADLINE_MARGIN = 0.05


class AttemptTimedOut(httpx.TimeoutException):
    """The attempt's whole budget ran out; the request may have been on the wire."""


def budget(what: str) -> float | None:
    """Seconds this attempt may take, or None when nobody set a deadline.

    Raises before anything is sent when no time is left, so the caller knows that even a
    state-changing call did not reach the upstream.
    """
    left = deadline.remaining()
    if left is None:
        return None
    allowed = left - DEADLINE_MARGIN
    if allowed <= 0:
        raise BridgeError(Cause.UNAVAILABLE, f"no time left before the caller's deadline to {what}; nothing was sent upstream")
    return allowed


def capped(timeout: httpx.Timeout, allowed: float | None) -> httpx.Timeout:
    if allowed is None:
        return timeout
    return httpx.Timeout(
        connect=_min(timeout.connect, allowed),
        read=_min(timeout.read, allowed),
        write=_min(timeout.write, allowed),
        pool=_min(timeout.pool, allowed),
    )


async def send(http: httpx.AsyncClient, request: httpx.Request, allowed: float | None) -> httpx.Response:
    """Send ``request`` (built with timeouts already ``capped`` to ``allowed``)."""
    # httpx limits each phase; the guard limits their sum. It gets a sliver more than the
    # phases so a stalled connect surfaces as httpx's ConnectTimeout (provably unsent)
    # rather than as the guard's ambiguous timeout.
    guard = None if allowed is None else allowed + DEADLINE_MARGIN / 2
    started = time.perf_counter()
    try:
        async with asyncio.timeout(guard):
            response = await http.send(request)
    except TimeoutError:
        _log(request, "deadline", started)
        raise AttemptTimedOut("the attempt ran out of the caller's time", request=request) from None
    except httpx.TransportError as exc:
        _log(request, type(exc).__name__, started)
        raise
    _log(request, str(response.status_code), started)
    return response


def _log(request: httpx.Request, outcome: str, started: float) -> None:
    elapsed_ms = (time.perf_counter() - started) * 1000
    log.debug("%s %s %s %.0fms", request.method, request.url.path, outcome, elapsed_ms)


def _min(value: float | None, cap: float) -> float:
    return cap if value is None else min(value, cap)
