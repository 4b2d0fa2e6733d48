"""Every gRPC call's request id (bridge.reqid), metrics (grpc_server_*) and one log line
(_calllog), and under mutual TLS the check of the client's certificate name (_peer).

Both wrap each method's handler once, when it is added to the server: a gRPC interceptor
did the same per call, and running the interceptor chain for every call cost a few per
cent of its CPU.
:meth:`CallObserver.registering` stands in for the server while the services are added.

The observation sits outside the ``rpc`` wrapper, which turns a BridgeError into a status
with ``context.abort``. gRPC sends that status from inside ``abort``, then raises, so the
handlers are given a context whose ``abort`` counts and logs the call with its final code
first. The certificate check sits inside it, so a refused call is counted and logged too.
Streaming calls (health Watch, reflection) are measured too: their handlers are driven
here through ``context.write``, whichever style they were written in.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from types import CoroutineType
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, NoReturn

import grpc

from .. import reqid
from ..metrics import Metrics
from . import _calllog
from ._peer import AllowedClients

# Probes and tooling, asked every few seconds: their lines are DEBUG, their metrics kept.
QUIET_SERVICES = frozenset({"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                            "grpc.reflection.v1.ServerReflection"})


class CallObserver:
    def __init__(self, metrics: Metrics, allowed_clients: AllowedClients | None = None):
        self._metrics = metrics
        self._allowed = allowed_clients

    def registering(self, server: grpc.aio.Server) -> _Registering:
        """``server`` as the generated ``add_…_to_server`` functions see it: what they add
        is observed (and guarded)."""
        return _Registering(server, self)

    def observe(self, name: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` of the method ``/service/method``, counted and logged per call."""
        service, _, method = name.lstrip("/").rpartition("/")
        kind, grpc_type = _KINDS[(bool(handler.request_streaming), bool(handler.response_streaming))]
        call = _Call(self._metrics, service, method, grpc_type)
        behavior = getattr(handler, kind)
        if self._allowed is not None:
            behavior = self._allowed.guard(behavior, name)
        make = getattr(grpc, f"{kind}_rpc_method_handler")
        run = call.stream(behavior) if handler.response_streaming else call.unary(behavior)
        return make(run, request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer)


class _Registering:
    """The two ways services are added to a grpc.aio server, each handler observed."""

    def __init__(self, server: grpc.aio.Server, observer: CallObserver):
        self._server = server
        self._observer = observer

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_Observed(h, self._observer) for h in handlers))

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        observe = self._observer.observe
        self._server.add_registered_method_handlers(
            service, {method: observe(f"/{service}/{method}", h) for method, h in handlers.items()})


class _Observed(grpc.GenericRpcHandler):
    """A service's handlers, each observed the first time it is asked for."""

    def __init__(self, inner: grpc.GenericRpcHandler, observer: CallObserver):
        self._inner = inner
        self._observer = observer
        # The methods are a fixed few: only those that resolved are kept.
        self._observed: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._inner.service(details)
        if handler is None:
            return None  # not this service's: the next one's, or UNIMPLEMENTED from gRPC
        cached = self._observed.get(details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        observed = self._observer.observe(details.method, handler)
        self._observed[details.method] = (handler, observed)
        return observed


# (request streaming, response streaming) → the handler's attribute, grpc_type's value.
_KINDS = {
    (False, False): ("unary_unary", "unary"),
    (False, True): ("unary_stream", "server_stream"),
    (True, False): ("stream_unary", "client_stream"),
    (True, True): ("stream_stream", "bidi_stream"),
}


class _Call:
    def __init__(self, metrics: Metrics, service: str, method: str, grpc_type: str):
        self.metrics = metrics
        self.labels = (service, method, grpc_type)
        self.name = f"{service}/{method}"
        self.level = logging.DEBUG if service in QUIET_SERVICES else logging.INFO
        # The method's own series, looked up once rather than on every call.
        self.started = metrics.grpc_started.labels(*self.labels)
        self.seconds = metrics.grpc_seconds.labels(*self.labels)
        self._handled: dict[grpc.StatusCode, Any] = {}

    def handled(self, code: grpc.StatusCode) -> Any:
        series = self._handled.get(code)
        if series is None:
            series = self._handled[code] = self.metrics.grpc_handled.labels(*self.labels, code.name)
        return series

    def unary(self, behavior: Callable[..., Any]) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def run(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async def answer(inner: grpc.aio.ServicerContext) -> Any:
                result = behavior(request, inner)
                # A coroutine, nearly always: told apart without isawaitable's ABC check.
                return await result if type(result) is CoroutineType or inspect.isawaitable(result) else result

            return await self._observed(answer, context)

        return run

    def stream(self, behavior: Callable[..., Any]) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]]:
        async def run(request: Any, context: grpc.aio.ServicerContext) -> None:
            async def answer(inner: grpc.aio.ServicerContext) -> None:
                result = behavior(request, inner)
                if inspect.isasyncgen(result):
                    async for item in result:
                        await context.write(item)
                elif inspect.isawaitable(result):
                    await result

            await self._observed(answer, context)

        return run

    async def _observed(
        self, answer: Callable[[grpc.aio.ServicerContext], Awaitable[Any]], context: grpc.aio.ServicerContext
    ) -> Any:
        metadata = {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}
        request_id = reqid.choose(metadata.get)
        self.started.inc()
        with reqid.bound(request_id), _calllog.watched() as outcome:
            seen = _Observation(self, request_id, outcome)
            try:
                result = await answer(_ObservedContext(context, seen))
            except asyncio.CancelledError:
                left = context.time_remaining()
                seen.finish(grpc.StatusCode.DEADLINE_EXCEEDED if left is not None and left <= 0
                            else grpc.StatusCode.CANCELLED)
                raise
            except grpc.aio.AbortError:
                seen.finish(_code(context, grpc.StatusCode.UNKNOWN))  # already, unless aborted around us
                raise
            except Exception:
                seen.finish(grpc.StatusCode.UNKNOWN)
                raise
            seen.finish(_code(context, grpc.StatusCode.OK))
            return result


class _Observation:
    """One call's timing and outcome; ``finish`` counts and logs it, once."""

    def __init__(self, call: _Call, request_id: str, outcome: _calllog.Outcome):
        self._call = call
        self._request_id = request_id
        self._outcome = outcome
        self._started = time.perf_counter()
        self._finished = False

    def finish(self, code: grpc.StatusCode) -> None:
        if self._finished:
            return
        self._finished = True
        call, outcome, metrics = self._call, self._outcome, self._call.metrics
        call.handled(code).inc()
        call.seconds.observe(time.perf_counter() - self._started)
        if outcome.booking_failure is not None:
            metrics.booking_failures.labels(outcome.booking_failure.name).inc()
        if code is not grpc.StatusCode.OK and outcome.cause is None:
            outcome.cause = code.name
        _calllog.call(call.name, code.name, self._started, request_id=self._request_id, outcome=outcome,
                      level=call.level)


class _ObservedContext:
    """The call's context, except that aborting finishes the observation first: gRPC sends
    the status from inside ``abort``, and a caller holding its answer must find the call
    already counted and logged."""

    def __init__(self, context: grpc.aio.ServicerContext, seen: _Observation):
        self._context = context
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> NoReturn:
        self._seen.finish(code)
        await self._context.abort(code, details, trailing_metadata)
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        self._seen.finish(status.code)
        await self._context.abort_with_status(status)
        raise AssertionError("unreachable: abort raises")  # pragma: no cover


def _code(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # some grpcio versions hand back the raw integer
        return next((c for c in grpc.StatusCode if c.value[0] == code), default)
    return default
