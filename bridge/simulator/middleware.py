"""What happens around every handler: recording, injected faults, errors, authentication.

Order matters and is outermost first: a request is recorded on arrival, then may meet a
fault (which must see it before any processing), then errors are turned into §5 answers,
and only then is the caller's token and tenant checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

from . import seed
from .errors import ApiError
from .faults import Faults
from .tokens import Tokens

API_PREFIX = "/external/v1"
TOKEN_PATH = "/oauth2/token"

log = logging.getLogger("bridge.simulator")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "VALIDATION_ERROR"}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]


def api_path(request: web.Request) -> str:
    path = request.path
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return path[len(API_PREFIX) :] or "/"
    return path


def recording(recorded: list[RecordedRequest]) -> Any:
    """Note every request on arrival. The fake Google (google.py) uses it too."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        recorded.append(RecordedRequest(request.method, api_path(request), dict(request.query)))
        return await handler(request)

    return record


def injecting(faults: Faults) -> Any:
    """Let an armed fault meet the request before any processing. The fake Google uses it too."""

    @web.middleware
    async def inject(request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = faults.take(request.method, api_path(request))
        if fault is None:
            return await handler(request)
        log.info("injecting %s on %s %s", fault.action, request.method, api_path(request))
        if fault.action == "status":
            if fault.status in (204, 304):  # these may carry no body
                return web.Response(status=fault.status, headers=fault.headers)
            return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        if fault.action == "pause":
            await faults.wait_released()
            return await handler(request)
        # Reading the body first makes the close a clean FIN: unread bytes would turn it
        # into a reset, and the client would see a different error from run to run.
        await _read_quietly(request)
        if fault.action == "drop_after":
            await handler(request)
        elif fault.action == "hang":
            await faults.wait_released()
        return _drop(request)

    return inject


def make_middlewares(tokens: Tokens, faults: Faults, recorded: list[RecordedRequest]) -> list[Any]:
    @web.middleware
    async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as e:
            headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
            return web.json_response(e.body(), status=e.status, headers=headers)
        except web.HTTPException as e:
            # Unknown routes and wrong methods still answer in the §5 shape.
            code = _HTTP_CODES.get(e.status, "INTERNAL")
            return web.json_response({"errorCode": code, "message": e.reason}, status=e.status)
        except Exception:
            # A bug in the simulator, not bad input: say so loudly, but never echo the body.
            log.exception("simulator failure on %s %s", request.method, api_path(request))
            return web.json_response({"errorCode": "INTERNAL", "message": "simulator failure"}, status=500)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(API_PREFIX + "/"):
            tokens.check(request.headers.get("Authorization"))
            if request.headers.get("X-TENANT-ID") != seed.DEMO_TENANT_ID:
                raise ApiError(400, "VALIDATION_ERROR", "unknown X-TENANT-ID")
        return await handler(request)

    return [recording(recorded), injecting(faults), answer_errors, authenticate]


async def _read_quietly(request: web.Request) -> None:
    try:
        await request.read()
    except web.HTTPException:  # too large: it is being dropped anyway
        pass


def _drop(request: web.Request) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.close()
    # aiohttp cannot write this to a closing transport and quietly gives up, which is the point.
    return web.Response(status=503)
