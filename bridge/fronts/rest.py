"""The v3 REST front: JSON as Google sends it, read and written as protobuf's json_format
reads and writes it (_protojson: the plain messages faster).

POST {prefix}/v3/<Method> (with or without a trailing slash) and GET {prefix}/v3/HealthCheck,
behind HTTP Basic auth. Business failures are HTTP 200 with booking_failure; bad requests
400 naming the field; an unknown booking 404; an unreachable upstream 503.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message

from .. import deadline
from .._proto import booking_v3_pb2 as pb
from ..errortable import V3_HTTP, V3_HTTP_BY_METHOD
from ..failures import BridgeError, Cause, StoreUnavailable
from ..metrics import Metrics
from . import _calllog, _protojson
from ._credentials import BasicCredentials
from ._rest_observe import observe_calls
from .v3_api import V3Api

log = logging.getLogger("bridge.fronts")

# Request bodies are small; a big one is a mistake or an attack.
MAX_BODY = 256 * 1024

Handler = Callable[[V3Api, Any], Awaitable[Message]]
METHODS: dict[str, tuple[type[Message], Handler]] = {
    "BatchAvailabilityLookup": (pb.BatchAvailabilityLookupRequest, V3Api.batch_availability_lookup),
    "CheckAvailability": (pb.CheckAvailabilityRequest, V3Api.check_availability),
    "CreateLease": (pb.CreateLeaseRequest, V3Api.create_lease),
    "CreateBooking": (pb.CreateBookingRequest, V3Api.create_booking),
    "UpdateBooking": (pb.UpdateBookingRequest, V3Api.update_booking),
    "GetBookingStatus": (pb.GetBookingStatusRequest, V3Api.get_booking_status),
    "ListBookings": (pb.ListBookingsRequest, V3Api.list_bookings),
}


def make_app(
    api: V3Api,
    *,
    credentials: Sequence[tuple[str, str]] | BasicCredentials,
    prefix: str = "",
    default_deadline: float = 10.0,
    metrics: Metrics | None = None,
) -> web.Application:
    """``credentials``: the accepted (username, password) pairs — the current one and, while
    rotating, the next."""
    # Outermost first: every request gets its id, metrics and log line, refused or not.
    observe = observe_calls(metrics if metrics is not None else Metrics())
    app = web.Application(client_max_size=MAX_BODY, middlewares=[observe, _basic_auth(credentials)])
    base = "/" + prefix.strip("/") if prefix.strip("/") else ""
    for name, (request_cls, handler) in METHODS.items():
        view = _post(api, name, request_cls, handler, default_deadline)
        for path in (f"{base}/v3/{name}", f"{base}/v3/{name}/"):
            app.router.add_post(path, view)
    for path in (f"{base}/v3/HealthCheck", f"{base}/v3/HealthCheck/"):
        app.router.add_get(path, _health(api))
    return app


def _post(
    api: V3Api, name: str, request_cls: type[Message], handler: Handler, default_deadline: float
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def view(request: web.Request) -> web.Response:
        try:
            message = _parse(request_cls, await request.read())
            with deadline.scope(default_deadline):
                answer = await handler(api, message)
            response = _json(200, _print(answer))
        except web.HTTPRequestEntityTooLarge:
            # aiohttp raises this from read() past client_max_size; answered like any error.
            response = _error(413, f"request body is larger than {MAX_BODY} bytes")
        except (BridgeError, StoreUnavailable) as caught:
            exc = caught.as_error() if isinstance(caught, StoreUnavailable) else caught
            status = V3_HTTP_BY_METHOD.get((name, exc.cause), V3_HTTP[exc.cause])
            response = _error(status, exc.message, exc.field)
            _calllog.note(exc)
        except Exception:
            log.exception("unexpected failure", extra={"method": f"v3/{name}"})
            response = _error(500, "internal error")
        return response

    return view


def _health(api: V3Api) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def view(request: web.Request) -> web.Response:
        healthy = await api.healthy()
        response = web.Response(status=200 if healthy else 503, text="ok" if healthy else "upstream unreachable")
        return response

    return view


def _print(message: Message) -> dict[str, Any]:
    data = _protojson.to_dict(message)
    # proto3 JSON leaves out false booleans; Google's samples spell "available": false.
    for entry in data.get("slot_time_availability", ()):
        entry.setdefault("available", False)
    return data


def _parse(cls: type[Message], body: bytes) -> Message:
    try:
        text = body.decode("utf-8")
        message = _protojson.parse(cls, text or "{}")
    except UnicodeDecodeError:
        raise BridgeError(Cause.INVALID_ARGUMENT, "request body is not UTF-8") from None
    except json_format.ParseError as exc:
        raise BridgeError(Cause.INVALID_ARGUMENT, f"request body is not a valid {cls.__name__}: {exc}") from None
    return message


def _basic_auth(credentials: Sequence[tuple[str, str]] | BasicCredentials) -> Any:
    # A BasicCredentials is read per request, so a reload (SIGHUP) takes effect at once.
    accepted = credentials if isinstance(credentials, BasicCredentials) else BasicCredentials(credentials)

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if not _authorized(request.headers.get("Authorization", ""), accepted.pairs):
            return web.Response(
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="booking-bridge", charset="UTF-8"'},
                text="authentication required",
            )
        return await handler(request)

    return middleware


def _authorized(header: str, accepted: list[tuple[bytes, bytes]]) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return False
    if not sep:
        return False
    # Every pair is compared, in constant time, so timing tells nothing about which failed.
    matches = [hmac.compare_digest(user, u) & hmac.compare_digest(password, p) for u, p in accepted]
    return any(matches)


def _json(status: int, data: dict[str, Any]) -> web.Response:
    """Every answer's body, errors too. orjson: the json module's dumps was about 1.5 % of
    a v3 CreateBooking. Non-ASCII text is written as UTF-8 (the answer's charset), not as
    \\u escapes."""
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json", charset="utf-8")


def _error(status: int, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"error": {"code": status, "message": message}}
    if field:
        body["error"]["field"] = field
    return _json(status, body)
