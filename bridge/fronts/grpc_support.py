"""gRPC plumbing shared by the gRPC fronts: registration, failure rendering, call logs."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf import message, message_factory
from google.protobuf.descriptor import ServiceDescriptor

from .. import deadline
from ..failures import BridgeError, Cause, StoreUnavailable, invalid
from . import _calllog
from ._checks import renamed

log = logging.getLogger("bridge.fronts")

Req = TypeVar("Req")
Resp = TypeVar("Resp")

# Answer this long before the caller's deadline, so it hears UNAVAILABLE, not a timeout.
_DEADLINE_MARGIN = 0.1


def rpc(
    service: str, table: Mapping[Cause, str]
) -> Callable[[Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]], Any]:
    """Wrap a servicer method: deadline scope, BridgeError → status via ``table``.

    The call's log line and metrics are the interceptor's (_interceptors.py); this notes
    why a call failed for it.

    The servicer's ``default_deadline`` bounds calls whose caller set no deadline.
    """

    def wrap(method: Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]) -> Any:
        name = f"{service}/{method.__name__}"

        @functools.wraps(method)
        async def handler(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
            left = context.time_remaining()
            limit = self.default_deadline
            budget = limit if left is None else min(limit, left - _DEADLINE_MARGIN)
            try:
                if isinstance(request, Malformed):
                    raise invalid("request", "is not a valid protobuf message")
                with deadline.scope(budget):
                    response = await method(self, request, context)
            except (BridgeError, StoreUnavailable) as caught:
                exc = caught.as_error() if isinstance(caught, StoreUnavailable) else caught
                exc = renamed(exc, getattr(self, "field_name", lambda name: name))
                code, detail = getattr(grpc.StatusCode, table[exc.cause]), exc.message
                _calllog.note(exc)
            except Exception:
                log.exception("unexpected failure", extra={"method": name})
                code, detail = grpc.StatusCode.INTERNAL, "internal error"
            else:
                return response
            await context.abort(code, detail)
            raise AssertionError("unreachable: abort raises")  # pragma: no cover

        return handler

    return wrap


class ServiceAdder(Protocol):
    """What adding a service needs of a server: a grpc.aio.Server, or what stands in for one."""

    def add_generic_rpc_handlers(self, handlers: Any) -> None: ...

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None: ...


class Malformed:
    """Stands in for a request whose bytes did not parse, so the handler can say so."""


def register(server: ServiceAdder, servicer: Any, service: ServiceDescriptor) -> None:
    """Add ``servicer`` for every unary method of ``service``.

    Unlike the generated ``add_…_to_server``, a request that fails to parse reaches the
    handler as :class:`Malformed` and is answered INVALID_ARGUMENT, not UNKNOWN.
    """
    handlers = {}
    for method in service.methods:
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=_tolerant(request_cls),
            response_serializer=response_cls.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    # As the generated code does: gRPC finds these by name, without asking each service.
    server.add_registered_method_handlers(service.full_name, handlers)


def _tolerant(cls: Any) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return cls.FromString(data)
        except message.DecodeError:
            return Malformed()

    return parse
