"""The REST front's outermost middleware: for every request, its request id
(bridge.reqid, echoed as ``X-Request-Id``), its metrics (http_requests_total,
http_request_duration_seconds) and its one log line (_calllog) — refused logins and
unknown paths included.

A request is named by the route it matched ("v3/CreateBooking"), never by its raw path,
so ids and scanners' junk never become label values; an unmatched request's path is
logged only masked and bounded.
"""

from __future__ import annotations

import asyncio
import http
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .. import reqid
from ..metrics import Metrics
from . import _calllog

UNMATCHED = "unmatched"
MAX_PATH = 100
_UNPLAIN = re.compile(r"[^A-Za-z0-9/._~<>-]")
# A failure the handlers did not explain, named as gRPC would name it.
_CAUSES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    405: "UNIMPLEMENTED", 409: "ABORTED", 413: "RESOURCE_EXHAUSTED", 429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
# What a client that went away is counted as (nginx's convention).
CLIENT_GONE = 499

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def observe_calls(metrics: Metrics) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = reqid.choose(request.headers.get)
        method = route_name(request)
        started = time.perf_counter()
        status = 500
        with reqid.bound(request_id), _calllog.watched() as outcome:
            try:
                response = await handler(request)
                status = response.status
            except web.HTTPException as exc:  # the router's 404 and 405 are raised
                status = exc.status
                exc.headers["X-Request-Id"] = request_id
                raise
            except asyncio.CancelledError:
                status = CLIENT_GONE
                raise
            finally:
                metrics.http_requests.labels(method, str(status)).inc()
                metrics.http_seconds.labels(method).observe(time.perf_counter() - started)
                if outcome.booking_failure is not None:
                    metrics.booking_failures.labels(outcome.booking_failure.name).inc()
                _explain(outcome, status, method)
                fields = {"path": _unmatched_path(request)} if method == UNMATCHED else {}
                _calllog.call(method, status, started, request_id=request_id, outcome=outcome, **fields)
        response.headers["X-Request-Id"] = request_id
        return response

    return middleware


def route_name(request: web.Request) -> str:
    """"v3/<Method>" for a path the front serves (whatever the prefix), else "unmatched"."""
    match = request.match_info
    resource = match.route.resource
    if match.http_exception is not None or resource is None:  # the router's 404 or 405
        return UNMATCHED
    return "v3/" + resource.canonical.rstrip("/").rsplit("/", 1)[-1]


def _unmatched_path(request: web.Request) -> str:
    """Kept for the operator (a wrong rest_path_prefix shows), masked and bounded."""
    return _UNPLAIN.sub("?", _calllog.safe_text(request.path, MAX_PATH))


def _explain(outcome: _calllog.Outcome, status: int, method: str) -> None:
    if status < 400 or outcome.cause is not None:
        return
    if method == UNMATCHED:
        outcome.cause, outcome.reason = "UNIMPLEMENTED", "no such method or path"
        return
    outcome.cause = _CAUSES.get(status, f"HTTP_{status}")
    try:
        outcome.reason = http.HTTPStatus(status).phrase
    except ValueError:
        outcome.reason = "client went away" if status == CLIENT_GONE else None
