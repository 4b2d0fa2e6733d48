"""The gRPC port over TLS, as Google calls it: mutual TLS with a client certificate.

Every certificate is made here, per session, by a throwaway CA; a second, unrelated CA
issues a client certificate the bridge must refuse."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bridge import config as config_mod
from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v0_pb2_grpc as pb_grpc
from bridge.app import Bridge
from bridge.clock import ManualClock
from bridge.server import BridgeServer, resolved_server_config
from bridge.simulator import Simulator

from .harness import ENV, at, bridge_config, lease_message

GOOGLE_CLIENT_CN = "mapsbooking.businesslink-3.net"
TIMEOUT = 5.0


# --- a throwaway PKI -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Issued:
    cert: pathlib.Path
    key: pathlib.Path

    def pair(self) -> tuple[bytes, bytes]:
        return self.key.read_bytes(), self.cert.read_bytes()


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: pathlib.Path  # roots of the bridge's own CA (issues the server and Google's client cert)
    server: Issued
    client: Issued
    other_ca: pathlib.Path  # an unrelated CA
    other_client: Issued  # a client certificate from the unrelated CA


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def _write_key(path: pathlib.Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _write_cert(path: pathlib.Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _ca(folder: pathlib.Path, cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, pathlib.Path]:
    key = _key()
    cert = (
        _builder(cn, _name(cn), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{cn}.ca.pem"
    _write_cert(path, cert)
    return cert, key, path


def _leaf(folder: pathlib.Path, name: str, cn: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
          usage: x509.ObjectIdentifier, sans: list[x509.GeneralName] | None = None) -> Issued:
    key = _key()
    builder = (
        _builder(cn, ca.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    issued = Issued(cert=folder / f"{name}.pem", key=folder / f"{name}.key")
    _write_cert(issued.cert, cert)
    _write_key(issued.key, key)
    return issued


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, ca_key, ca_path = _ca(folder, "booking-bridge test CA")
    other, other_key, other_path = _ca(folder, "unrelated test CA")
    server = _leaf(folder, "server", "localhost", ca, ca_key, ExtendedKeyUsageOID.SERVER_AUTH,
                   [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client = _leaf(folder, "client", GOOGLE_CLIENT_CN, ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH)
    other_client = _leaf(folder, "other-client", GOOGLE_CLIENT_CN, other, other_key, ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(ca=ca_path, server=server, client=client, other_ca=other_path, other_client=other_client)


# --- a bridge over TLS, and clients ----------------------------------------------------------

StartBridge = Callable[[config_mod.TlsConfig], Awaitable[int]]


@pytest.fixture
async def start_bridge(sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path) -> AsyncIterator[StartBridge]:
    """Starts a bridge on 127.0.0.1:0 with the given [server.tls]; returns its port."""
    async with AsyncExitStack() as stack:

        async def start(tls: config_mod.TlsConfig) -> int:
            config = bridge_config(sim, tmp_path / "bridge.sqlite3")
            config = dataclasses.replace(config, server=dataclasses.replace(config.server, tls=tls))
            bridge = Bridge.open(config, environ=ENV, clock=clock)
            stack.push_async_callback(bridge.aclose)
            server = BridgeServer(bridge.core, config.server)
            stack.push_async_callback(server.stop, 1.0)
            return await server.start()

        yield start


def mutual(pki: Pki) -> config_mod.TlsConfig:
    return config_mod.TlsConfig(cert_file=str(pki.server.cert), key_file=str(pki.server.key),
                                client_ca_file=str(pki.ca))


def server_only(pki: Pki) -> config_mod.TlsConfig:
    return config_mod.TlsConfig(cert_file=str(pki.server.cert), key_file=str(pki.server.key))


@asynccontextmanager
async def secure_channel(port: int, roots: pathlib.Path, client: Issued | None = None) -> AsyncIterator[grpc.aio.Channel]:
    key, chain = client.pair() if client else (None, None)
    credentials = grpc.ssl_channel_credentials(root_certificates=roots.read_bytes(), private_key=key,
                                               certificate_chain=chain)
    channel = grpc.aio.secure_channel(f"localhost:{port}", credentials)
    try:
        yield channel
    finally:
        await channel.close()


async def check_health(channel: grpc.aio.Channel) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""),
                                                               timeout=TIMEOUT)
    return response.status


async def create_lease(channel: grpc.aio.Channel) -> pb.Lease:
    response = await pb_grpc.BookingServiceStub(channel).CreateLease(
        pb.CreateLeaseRequest(lease=lease_message(at(1, 10))), timeout=TIMEOUT
    )
    return response.lease


async def assert_refused(port: int, roots: pathlib.Path, client: Issued | None) -> None:
    async with secure_channel(port, roots, client) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await check_health(channel)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await create_lease(channel)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


# --- the tests ---------------------------------------------------------------------------------


async def test_a_client_with_the_trusted_certificate_is_served(pki: Pki, start_bridge: StartBridge) -> None:
    port = await start_bridge(mutual(pki))
    async with secure_channel(port, pki.ca, pki.client) as channel:
        assert await check_health(channel) == health_pb2.HealthCheckResponse.SERVING
        lease = await create_lease(channel)
    assert lease.lease_id
    assert lease.client_reference == "ref-1"


async def test_a_client_without_a_certificate_is_refused_and_the_server_keeps_serving(
    pki: Pki, start_bridge: StartBridge
) -> None:
    port = await start_bridge(mutual(pki))
    await assert_refused(port, pki.ca, None)
    async with secure_channel(port, pki.ca, pki.client) as channel:
        assert await check_health(channel) == health_pb2.HealthCheckResponse.SERVING
        assert (await create_lease(channel)).lease_id


async def test_a_client_certificate_from_an_unrelated_ca_is_refused(pki: Pki, start_bridge: StartBridge) -> None:
    port = await start_bridge(mutual(pki))
    await assert_refused(port, pki.ca, pki.other_client)
    async with secure_channel(port, pki.ca, pki.client) as channel:
        assert await check_health(channel) == health_pb2.HealthCheckResponse.SERVING


async def test_without_client_ca_file_a_client_needs_no_certificate(pki: Pki, start_bridge: StartBridge) -> None:
    port = await start_bridge(server_only(pki))
    async with secure_channel(port, pki.ca) as channel:
        assert await check_health(channel) == health_pb2.HealthCheckResponse.SERVING
        assert (await create_lease(channel)).lease_id


async def test_a_client_that_does_not_trust_the_server_refuses_it(pki: Pki, start_bridge: StartBridge) -> None:
    port = await start_bridge(mutual(pki))
    await assert_refused(port, pki.other_ca, pki.client)


async def test_tls_paths_are_relative_to_the_config_file_as_check_assumes(
    pki: Pki, sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `booking-bridge check` resolves [server.tls] paths against the config file's folder
    # (as config.example.toml documents); `serve` must open the same files, whatever the cwd.
    folder = tmp_path / "etc"
    (folder / "certs").mkdir(parents=True)
    for source, name in [(pki.server.cert, "server.pem"), (pki.server.key, "server.key"), (pki.ca, "roots.pem")]:
        (folder / "certs" / name).write_bytes(source.read_bytes())
    config = bridge_config(sim, tmp_path / "bridge.sqlite3")
    tls = config_mod.TlsConfig(cert_file="certs/server.pem", key_file="certs/server.key",
                               client_ca_file="certs/roots.pem")
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, tls=tls),
                                 source=folder / "bridge.toml")
    monkeypatch.chdir(tmp_path)
    assert config_mod.check_environment(config, ENV) == []

    bridge = Bridge.open(config, environ=ENV, clock=clock)
    try:
        server = BridgeServer(bridge.core, resolved_server_config(config))
        try:
            port = await server.start()
            async with secure_channel(port, pki.ca, pki.client) as channel:
                assert await check_health(channel) == health_pb2.HealthCheckResponse.SERVING
            await assert_refused(port, pki.ca, None)
        finally:
            await server.stop(1.0)
    finally:
        await bridge.aclose()
