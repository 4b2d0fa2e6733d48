"""Server reflection in both versions clients ask for: v1 (grpcurl, Postman and current
gRPC libraries try it first) and v1alpha (older clients).

grpcio-reflection implements v1alpha only. v1 has the same messages, field for field, under
another package name, so the v1alpha servicer answers v1 calls too: its requests are parsed
and its answers written with the v1alpha classes, and the bytes are what a v1 client expects.
bridge/_proto/reflection_v1_pb2 puts the v1 service in the descriptor pool, so reflection
can describe itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from grpc_reflection.v1alpha import reflection as v1alpha
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2

from ._proto import reflection_v1_pb2
from .fronts.grpc_support import ServiceAdder

V1_SERVICE = reflection_v1_pb2.DESCRIPTOR.services_by_name["ServerReflection"].full_name
V1ALPHA_SERVICE = v1alpha.SERVICE_NAME


def enable(server: ServiceAdder, services: Iterable[str]) -> None:
    """Serve reflection, v1 and v1alpha, listing ``services`` and both reflection services."""
    names = [*services, V1_SERVICE, V1ALPHA_SERVICE]
    servicer = v1alpha.aio.ReflectionServicer(names)
    for service in (V1_SERVICE, V1ALPHA_SERVICE):
        method = grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=v1alpha_pb2.ServerReflectionRequest.FromString,
            response_serializer=v1alpha_pb2.ServerReflectionResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": method}),)
        )
