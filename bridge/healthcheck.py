"""``booking-bridge healthcheck``: ask the running server, on its own gRPC port and over the
same TLS Google meets, whether it is serving. For a container's HEALTHCHECK and other probes.

It proves what a process-is-alive check cannot: the port accepts connections, the TLS
handshake succeeds with the certificate the configuration names (trusted as is, so a
private CA needs nothing extra), and the health service answers SERVING. Under mutual TLS
the probe must present a client certificate the server accepts (--client-cert/--client-key;
its name in allowed_client_names). Exit 0 when serving, 1 otherwise: Docker reserves 2.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from grpc_health.v1 import health_pb2, health_pb2_grpc

from . import config as config_mod
from . import tls as tls_mod

HEALTHY, UNHEALTHY = 0, 1
_LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "*": "127.0.0.1", "[::]": "[::1]", "::": "[::1]"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    probe = sub.add_parser("healthcheck", help="ask the running server's gRPC health service (exit 0 serving, 1 not)")
    probe.add_argument("--config", required=True, help="TOML configuration file, as given to serve")
    probe.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="(default %(default)s)")
    probe.add_argument("--client-cert", metavar="PEM", help="with [server.tls] client_ca_file: the probe's certificate")
    probe.add_argument("--client-key", metavar="PEM", help="with [server.tls] client_ca_file: its key")


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(probe(args))
    except _Unhealthy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNHEALTHY


class _Unhealthy(Exception):
    pass


async def probe(args: argparse.Namespace) -> int:
    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        raise _Unhealthy(exc.problems[0]) from None
    from .server import resolved_server_config

    server = resolved_server_config(config)
    host, _, port = server.grpc_listen.rpartition(":")
    target = f"{_LOOPBACK.get(host, host)}:{port}"
    channel = grpc.aio.insecure_channel(target) if server.tls is None else _secure(target, server.tls, args)
    try:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""),
                                                                 timeout=args.timeout)
    except grpc.aio.AioRpcError as exc:
        raise _Unhealthy(f"{target}: {exc.code().name}: {exc.details()}") from None
    finally:
        await channel.close()
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        raise _Unhealthy(f"{target}: {status}")
    print(f"{target}: {status}")
    return HEALTHY


def _secure(target: str, tls: config_mod.TlsConfig, args: argparse.Namespace) -> grpc.aio.Channel:
    try:
        material = tls_mod.load(tls)
    except tls_mod.TlsError as exc:
        raise _Unhealthy(str(exc)) from None
    key = chain = None
    if material.roots is not None:
        if not (args.client_cert and args.client_key):
            raise _Unhealthy("[server.tls] client_ca_file is set: the probe needs --client-cert and --client-key")
        try:
            chain, key = pathlib.Path(args.client_cert).read_bytes(), pathlib.Path(args.client_key).read_bytes()
        except OSError as exc:
            raise _Unhealthy(f"--client-cert, --client-key: {exc}") from None
    # The server's own certificate is the only root: the probe checks that this very
    # certificate is served, whoever issued it, under the name it carries.
    leaf = material.leaf.public_bytes(Encoding.PEM)
    credentials = grpc.ssl_channel_credentials(root_certificates=leaf, private_key=key, certificate_chain=chain)
    return grpc.aio.secure_channel(target, credentials, options=[("grpc.ssl_target_name_override", _name(material.leaf))])


def _name(certificate: x509.Certificate) -> str:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = names.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    if dns:
        return dns[0].replace("*", "healthcheck", 1)
    common = certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return str(common[0].value) if common else "localhost"
