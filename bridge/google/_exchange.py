"""One HTTP exchange with Google, sized to the caller's deadline and logged as one line.

The DEBUG line names the method, the path *template* (``{partner}``, ``{booking}``
instead of ids), the status or the transport failure, and the latency. Headers and
bodies never reach it: they carry the access token, the signed assertion and bookings.
"""

from __future__ import annotations

import logging
import time

import httpx

from .. import deadline
from ._errors import GoogleUnavailable

log = logging.getLogger("bridge.google")

# Left to the caller after our last attempt, so it can still answer in time.
DEADLINE_MARGIN = 0.05


def timeout_for(timeout: httpx.Timeout) -> httpx.Timeout:
    """``timeout`` cut to the caller's deadline, if one is set (see ``bridge.deadline``).

    Raises before anything is sent when no time is left.
    """
    left = deadline.remaining()
    if left is None:
        return timeout
    allowed = left - DEADLINE_MARGIN
    if allowed <= 0:
        raise GoogleUnavailable("no time left before the caller's deadline; nothing was sent to Google")
    return httpx.Timeout(
        connect=_cap(timeout.connect, allowed),
        read=_cap(timeout.read, allowed),
        write=_cap(timeout.write, allowed),
        pool=_cap(timeout.pool, allowed),
    )


async def send(http: httpx.AsyncClient, request: httpx.Request, template: str) -> httpx.Response:
    started = time.perf_counter()
    try:
        response = await http.send(request)
    except httpx.TransportError as exc:
        _log(request.method, template, type(exc).__name__, started)
        raise
    _log(request.method, template, str(response.status_code), started)
    return response


def _log(method: str, template: str, outcome: str, started: float) -> None:
    log.debug("%s %s %s %.0fms", method, template, outcome, (time.perf_counter() - started) * 1000)


def _cap(value: float | None, cap: float) -> float:
    return cap if value is None else min(value, cap)
