"""One HTTP exchange under a time budget: counted, timed and logged as one line.

The line names the operation (method and path template, ids replaced: "GET
/appointments/{id}"), the status (HTTP status, or the transport failure) and the latency,
with the id of the call that caused it (bridge.reqid). It never carries headers or
bodies, which hold the token, the Basic credentials and the customer's details.

A 2xx answer is logged at DEBUG: the watcher alone reads up to
``max_upstream_reads_per_second`` bookings a second, and successes are what the metrics
count. Anything else is logged at INFO, so the upstream side of a failed call is in the
log at the default level.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple, TypeVar

import httpx
import orjson

from .. import deadline, reqid
from ..http1 import Answer, Http1Transport
from ..failures import BridgeError, Cause
from ..metrics import Metrics

log = logging.getLogger("bridge.upstream")

R = TypeVar("R")

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
    return httpx.Timeout(**capped_phases(timeout, allowed))


def capped_phases(timeout: httpx.Timeout, allowed: float | None) -> dict[str, float | None]:
    """``capped(timeout, allowed).as_dict()``, as the request's timeout extension, without
    building the httpx.Timeout (its checks cost a few microseconds per call)."""
    if allowed is None:
        return timeout.as_dict()
    return {"connect": _min(timeout.connect, allowed), "read": _min(timeout.read, allowed),
            "write": _min(timeout.write, allowed), "pool": _min(timeout.pool, allowed)}


# Path segments that are words of Qmatic's API; any other segment is an id.
_WORDS = frozenset({"services", "groups", "timeslots", "reservations", "appointments", "search", "customer",
                    "reschedule"})


def template(method: str, path: str) -> str:
    """``method`` and ``path`` (relative to the base URL) with every id replaced by {id}:
    a bounded set of names for labels and logs, whatever ids pass through."""
    segments = ("{id}" if segment and segment not in _WORDS else segment for segment in path.split("/"))
    return f"{method} {'/'.join(segments)}"


class Outgoing(NamedTuple):
    """One API request, as its parts: building an httpx.Request (URL parsing, header
    normalising) cost about a tenth of an upstream call, and our transport needs none of it."""

    method: str
    url: str  # absolute, already encoded
    headers: dict[str, str]
    content: bytes | None
    timeout: dict[str, float | None]  # httpx's Timeout.as_dict()

    def request(self) -> httpx.Request:
        return httpx.Request(self.method, self.url, headers=self.headers, content=self.content,
                             extensions={"timeout": self.timeout})


# An answer read in full: an httpx.Response, or our transport's Answer, which has
# the same reading side (status_code, is_success, headers, content, json()).
Answered = httpx.Response | Answer
Sender = Callable[[Outgoing], Awaitable[Answered]]


def json_body(value: object) -> bytes:
    """``value`` as JSON, byte for byte what httpx's ``json=`` sends for what the client
    sends (strings, integers, booleans, null, lists, objects with string keys; no floats),
    written by orjson: the json module took about 2 % of a v3 CreateBooking for its two."""
    return orjson.dumps(value)


def direct(transport: httpx.AsyncBaseTransport) -> Sender:
    """Send straight through ``transport``, the body read in full. httpx's client adds a
    cookie jar, redirects, auth and event hooks, none of which Qmatic's API uses, at about
    a sixth of the bridge's CPU per call. Our transport (bridge.http1) takes the parts as they
    are; any other (a test's MockTransport, the cassette recorder) gets an httpx.Request."""
    if isinstance(transport, Http1Transport):
        exchange = transport.exchange

        async def parts(out: Outgoing) -> Answered:
            return await exchange(out.method, out.url, out.headers, out.content, out.timeout)

        return parts

    async def sender(out: Outgoing) -> httpx.Response:
        request = out.request()
        response = await transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    return sender


def through(client: httpx.AsyncClient) -> Sender:
    """Send with ``client`` (its transport chosen by httpx: a proxy in the environment)."""

    async def sender(out: Outgoing) -> httpx.Response:
        return await client.send(out.request())

    return sender


async def send(
    sender: Callable[[R], Awaitable[Answered]], request: R, allowed: float | None, *, operation: str,
    metrics: Metrics,
) -> Answered:
    """Send ``request`` (an httpx.Request or an Outgoing, its timeouts already ``capped``
    to ``allowed``) with ``sender``."""
    # httpx limits each phase; the guard limits their sum. It gets a sliver more than the
    # phases so a stalled connect surfaces as httpx's ConnectTimeout (provably unsent)
    # rather than as the guard's ambiguous timeout.
    guard = None if allowed is None else allowed + DEADLINE_MARGIN / 2
    started = time.perf_counter()
    try:
        async with asyncio.timeout(guard):
            response = await sender(request)
    except TimeoutError:
        _observe(operation, "deadline", started, metrics)
        named = request if isinstance(request, httpx.Request) else None
        raise AttemptTimedOut("the attempt ran out of the caller's time", request=named) from None
    except httpx.TransportError as exc:
        _observe(operation, type(exc).__name__, started, metrics)
        raise
    _observe(operation, str(response.status_code), started, metrics)
    return response


def _observe(operation: str, status: str, started: float, metrics: Metrics) -> None:
    elapsed = time.perf_counter() - started
    counted, timed = metrics.upstream_series(operation, status)
    counted.inc()
    timed.observe(elapsed)
    level = logging.DEBUG if status.startswith("2") else logging.INFO
    if not log.isEnabledFor(level):  # a success's line, at the default level
        return
    fields = {"operation": operation, "status": status, "latency_ms": round(elapsed * 1000, 2)}
    if (request_id := reqid.current()) is not None:
        fields["request_id"] = request_id
    log.log(level, "%s %s", operation, status, extra=fields)


def _min(value: float | None, cap: float) -> float:
    return cap if value is None else min(value, cap)
