"""Who may call the gRPC port: under mutual TLS, only the names ``[server.tls]
allowed_client_names`` lists.

The TLS handshake already refuses a client without a certificate from ``client_ca_file``.
That CA may sign certificates for others than Google (a public CA does), so the name on the
certificate is checked too: its DNS subject alternative names, or the subject's common name
when the certificate has no subject alternative name at all (as RFC 6125 has it). Every
service on the port is guarded, health and reflection included.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import grpc

log = logging.getLogger("bridge.fronts")


def peer_names(auth: Mapping[str, Iterable[bytes]]) -> list[str]:
    """The names the client certificate stands for, lower-case."""
    dns = [n.decode("ascii", "replace").lower() for n in auth.get("peer_dns", ())]
    if dns or auth.get("x509_subject_alternative_name"):
        return dns
    return [n.decode("utf-8", "replace").lower() for n in auth.get("x509_common_name", ())]


class AllowedClients:
    """Wraps each method's behaviour, once, when it is added to the server (see
    _interceptors.CallObserver): the auth context belongs to the call, which only the
    behaviour sees."""

    def __init__(self, names: Iterable[str]):
        self.allow(names)

    def allow(self, names: Iterable[str]) -> None:
        """Replace the names (SIGHUP); none at all lets any certificate from the CA in."""
        self._allowed = frozenset(name.lower() for name in names)

    def guard(self, behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
        if inspect.isasyncgenfunction(behaviour):

            async def guarded_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await self._check(context, method)
                async for item in behaviour(request, context):
                    yield item

            return guarded_stream

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await self._check(context, method)
            answer = behaviour(request, context)
            return await answer if inspect.isawaitable(answer) else answer

        return guarded

    async def _check(self, context: grpc.aio.ServicerContext, method: str) -> None:
        allowed = self._allowed
        if not allowed:
            return
        names = peer_names(context.auth_context())
        if not allowed.intersection(names):
            # The names are a certificate's, never customer data; they tell the operator
            # whom to add, or whom the CA is issuing certificates to.
            log.warning("client certificate name not allowed", extra={"method": method, "names": names[:5]})
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "client certificate name is not allowed")
