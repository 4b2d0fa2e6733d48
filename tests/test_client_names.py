"""Who may call under mutual TLS: a certificate from the trusted CA is not enough, it must
carry a name [server.tls] allowed_client_names lists (Google's, by default)."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bridge import config as config_mod
from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v0_pb2_grpc as pb_grpc
from bridge.app import Bridge
from bridge.clock import ManualClock
from bridge.reload import Reloader
from bridge.server import BridgeServer
from bridge.simulator import Simulator, seed

from .harness import ENV, at, bridge_config, lease_message
from .pki import GOOGLE_CLIENT_NAME, Authority, Issued

TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class Certs:
    ca: Authority
    server: Issued
    google_by_cn: Issued  # Google's name as the common name, no subject alternative name
    google_by_san: Issued  # Google's name as a DNS subject alternative name
    stranger: Issued  # from the trusted CA, under another name
    stranger_with_google_cn: Issued  # Google's CN, but a SAN naming someone else: the SAN decides
    other_ca_google: Issued  # Google's name from an unrelated CA


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("names")
    ca, other = Authority(folder, "trusted CA"), Authority(folder, "unrelated CA")
    return Certs(
        ca=ca,
        server=ca.server("server"),
        google_by_cn=ca.client("google-cn"),
        google_by_san=ca.client("google-san", cn="Google LLC", dns=["MapsBooking.BusinessLink-3.net"]),
        stranger=ca.client("stranger", cn="someone.example", dns=["someone.example"]),
        stranger_with_google_cn=ca.client("mixed", cn=GOOGLE_CLIENT_NAME, dns=["someone.example"]),
        other_ca_google=other.client("other-google"),
    )


Start = Callable[[Sequence[str] | None], Awaitable[int]]


@pytest.fixture
async def start(certs: Certs, sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path) -> AsyncIterator[Start]:
    """A bridge under mutual TLS with the given allowed_client_names (None: the default)."""
    async with AsyncExitStack() as stack:

        async def run(names: Sequence[str] | None) -> int:
            tls = {"cert_file": str(certs.server.cert), "key_file": str(certs.server.key),
                   "client_ca_file": str(certs.ca.roots)}
            if names is not None:
                tls["allowed_client_names"] = list(names)
            config = bridge_config(sim, tmp_path / "bridge.sqlite3", server={"tls": tls})
            bridge = Bridge.open(config, environ=ENV, clock=clock)
            stack.push_async_callback(bridge.aclose)
            server = BridgeServer(bridge.core, config.server)
            stack.push_async_callback(server.stop, 1.0)
            return await server.start()

        yield run


async def call(port: int, roots: pathlib.Path, client: Issued | None) -> tuple[grpc.StatusCode, grpc.StatusCode]:
    """(health check, CreateLease) status codes for a client presenting ``client``."""
    key, chain = client.pair() if client else (None, None)
    credentials = grpc.ssl_channel_credentials(roots.read_bytes(), private_key=key, certificate_chain=chain)
    codes = []
    async with grpc.aio.secure_channel(f"localhost:{port}", credentials) as channel:
        for attempt in (
            lambda: health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT),
            lambda: pb_grpc.BookingServiceStub(channel).CreateLease(
                pb.CreateLeaseRequest(lease=lease_message(at(1, 10))), timeout=TIMEOUT),
        ):
            try:
                await attempt()
                codes.append(grpc.StatusCode.OK)
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code())
    return codes[0], codes[1]


OK = (grpc.StatusCode.OK, grpc.StatusCode.OK)
UNAUTHENTICATED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAUTHENTICATED)
# Refused in the TLS handshake: the client sees no connection at all.
NO_CONNECTION = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE)


async def test_by_default_google_s_name_is_served_from_the_common_name_or_the_san(certs: Certs, start: Start) -> None:
    port = await start(None)
    assert await call(port, certs.ca.roots, certs.google_by_cn) == OK
    # Compared without regard to case, as DNS names are.
    assert await call(port, certs.ca.roots, certs.google_by_san) == OK


async def test_a_certificate_from_the_trusted_ca_under_another_name_is_unauthenticated(
    certs: Certs, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    port = await start(None)
    assert await call(port, certs.ca.roots, certs.stranger) == UNAUTHENTICATED
    refusals = [r for r in caplog.records if r.getMessage() == "client certificate name not allowed"]
    assert refusals and refusals[0].names == ["someone.example"]
    # A refused call still has its one call line, with the status it was refused with.
    lines = {(r.method, r.status) for r in caplog.records if r.getMessage() == "call"}
    assert ("ext.maps.booking.partner.v0.BookingService/CreateLease", "UNAUTHENTICATED") in lines
    assert ("grpc.health.v1.Health/Check", "UNAUTHENTICATED") in lines
    # A SAN is what names the client; Google's name in the CN beside it does not count.
    assert await call(port, certs.ca.roots, certs.stranger_with_google_cn) == UNAUTHENTICATED
    assert await call(port, certs.ca.roots, certs.google_by_cn) == OK  # and the server keeps serving


async def test_no_certificate_or_one_from_another_ca_is_refused_before_any_name_is_read(
    certs: Certs, start: Start
) -> None:
    port = await start(None)
    assert await call(port, certs.ca.roots, None) == NO_CONNECTION
    assert await call(port, certs.ca.roots, certs.other_ca_google) == NO_CONNECTION


async def test_the_list_names_who_may_call(certs: Certs, start: Start) -> None:
    port = await start(["someone.example"])
    assert await call(port, certs.ca.roots, certs.stranger) == OK
    assert await call(port, certs.ca.roots, certs.google_by_cn) == UNAUTHENTICATED


async def test_an_empty_list_lets_any_certificate_from_the_ca_in(certs: Certs, start: Start) -> None:
    port = await start([])
    assert await call(port, certs.ca.roots, certs.stranger) == OK
    assert await call(port, certs.ca.roots, certs.other_ca_google) == NO_CONNECTION


def test_check_refuses_a_list_that_is_not_one_of_names(tmp_path: pathlib.Path) -> None:
    with pytest.raises(config_mod.ConfigError) as err:
        config_mod.from_dict({"server": {"tls": {"cert_file": "c", "key_file": "k", "allowed_client_names": "x"}},
                              "upstream": {"account": "a", "tenant_id": "t"}})
    assert [p for p in err.value.problems if "allowed_client_names" in p]


async def test_a_reload_changes_who_may_call(certs: Certs, sim: Simulator, clock: ManualClock,
                                             tmp_path: pathlib.Path) -> None:
    file = tmp_path / "bridge.toml"

    def write(names: list[str]) -> None:
        file.write_text(
            '[server]\ngrpc_listen = "127.0.0.1:0"\n'
            f'[server.tls]\ncert_file = "{certs.server.cert}"\nkey_file = "{certs.server.key}"\n'
            f'client_ca_file = "{certs.ca.roots}"\nallowed_client_names = {names!r}\n'.replace("'", '"')
            + f'[upstream]\nbase_url = "{sim.base_url}"\ntoken_url = "{sim.token_url}"\n'
            f'account = "{seed.DEMO_ACCOUNT}"\ntenant_id = "{seed.DEMO_TENANT_ID}"\n'
            f'[store]\npath = "{tmp_path / "bridge.sqlite3"}"\n[booking]\ndefault_time_zone = "Europe/Stockholm"\n'
        )

    write([GOOGLE_CLIENT_NAME])
    config = config_mod.load(file)
    bridge = Bridge.open(config, environ=ENV, clock=clock)
    server = BridgeServer.from_config(bridge.core, config, ENV)
    try:
        port = await server.start()
        assert await call(port, certs.ca.roots, certs.stranger) == UNAUTHENTICATED
        write(["someone.example"])
        Reloader(config, server, bridge.core, environ=ENV).reload()
        assert await call(port, certs.ca.roots, certs.stranger) == OK
        assert await call(port, certs.ca.roots, certs.google_by_cn) == UNAUTHENTICATED
    finally:
        await server.stop(1.0)
        await bridge.aclose()
