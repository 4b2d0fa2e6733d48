"""`booking-bridge healthcheck`, what the container image's HEALTHCHECK runs: it asks the
running server's gRPC health service, on its real port and through the same TLS Google
meets, and exits 0 only when the answer is SERVING."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pathlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from grpc_health.v1 import health_pb2

from bridge.app import Bridge
from bridge.clock import ManualClock
from bridge.server import BridgeServer
from bridge.simulator import Simulator

from .harness import ENV, bridge_config
from .pki import Authority, Issued


@dataclasses.dataclass(frozen=True)
class Probe:
    code: int
    stdout: str
    stderr: str


async def healthcheck(config: pathlib.Path, *extra: str) -> Probe:
    # A child process on the test's own event loop's terms: the server keeps answering
    # while the probe runs. Killed and reaped should it overrun.
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "healthcheck", "--config", str(config), "--timeout", "5", *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, **ENV})
    try:
        out, err = await asyncio.wait_for(child.communicate(), timeout=60)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    return Probe(child.returncode or 0, out.decode(), err.decode())


def probe_config(folder: pathlib.Path, port: int, tls: dict[str, str] | None) -> pathlib.Path:
    """A configuration as an operator would pass to serve and to healthcheck alike."""
    lines = [f'[server]\ngrpc_listen = "0.0.0.0:{port}"\n']
    if tls:
        lines.append("[server.tls]\n" + "".join(f'{key} = "{value}"\n' for key, value in tls.items()))
    lines.append('[upstream]\naccount = "demo"\ntenant_id = "t-1"\n')
    path = folder / "probe.toml"
    path.write_text("".join(lines))
    return path


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: Authority
    server: Issued  # named booking.example.com, not the loopback address the probe dials
    google: Issued
    stranger: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = Authority(tmp_path_factory.mktemp("probe-pki"), "probe CA")
    server = ca.issue("server", "booking.example.com", ExtendedKeyUsageOID.SERVER_AUTH,
                      [x509.DNSName("booking.example.com")])
    return Pki(ca, server, ca.client("google"), ca.client("stranger", cn="stranger.example"))


Start = Callable[[dict[str, str] | None], Awaitable[tuple[BridgeServer, pathlib.Path]]]


@pytest.fixture
async def start(sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path) -> AsyncIterator[Start]:
    servers: list[BridgeServer] = []
    bridges: list[Bridge] = []

    async def run(tls: dict[str, str] | None) -> tuple[BridgeServer, pathlib.Path]:
        config = bridge_config(sim, tmp_path / "bridge.sqlite3", server={"rest_listen": "", "tls": tls} if tls
                               else {"rest_listen": ""})
        bridges.append(Bridge.open(config, environ=ENV, clock=clock))
        server = BridgeServer(bridges[-1].core, config.server)
        servers.append(server)
        port = await server.start()
        return server, probe_config(tmp_path, port, tls)

    try:
        yield run
    finally:
        for server in servers:
            await server.stop(1.0)
        for bridge in bridges:
            await bridge.aclose()


def mutual(pki: Pki) -> dict[str, str]:
    return {"cert_file": str(pki.server.cert), "key_file": str(pki.server.key), "client_ca_file": str(pki.ca.roots)}


async def test_a_plain_server_that_serves_is_healthy(start: Start) -> None:
    _, config = await start(None)
    probe = await healthcheck(config)
    assert probe.code == 0, probe.stderr
    assert probe.stdout.strip().endswith(": SERVING")


async def test_over_tls_the_probe_trusts_the_configured_certificate_under_its_own_name(pki: Pki, start: Start) -> None:
    _, config = await start({"cert_file": str(pki.server.cert), "key_file": str(pki.server.key)})
    probe = await healthcheck(config)
    assert probe.code == 0, probe.stderr


async def test_under_mutual_tls_the_probe_needs_a_certificate_the_server_accepts(pki: Pki, start: Start) -> None:
    _, config = await start(mutual(pki))
    without = await healthcheck(config)
    assert without.code == 1
    assert [line for line in without.stderr.splitlines() if line.startswith("error:")] == [
        "error: [server.tls] client_ca_file is set: the probe needs --client-cert and --client-key"]
    assert (await healthcheck(config, "--client-cert", str(pki.google.cert), "--client-key", str(pki.google.key))).code == 0
    stranger = await healthcheck(config, "--client-cert", str(pki.stranger.cert), "--client-key", str(pki.stranger.key))
    assert stranger.code == 1 and "UNAUTHENTICATED" in stranger.stderr


async def test_a_server_shutting_down_or_gone_is_unhealthy(start: Start, tmp_path: pathlib.Path) -> None:
    server, config = await start(None)
    await server.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    probe = await healthcheck(config)
    assert probe.code == 1 and "NOT_SERVING" in probe.stderr
    await server.stop(0)
    gone = await healthcheck(config)
    assert gone.code == 1 and "UNAVAILABLE" in gone.stderr
    assert "Traceback" not in probe.stderr + gone.stderr


def test_a_configuration_that_does_not_load_is_unhealthy_not_an_error_code_docker_reserves(tmp_path: pathlib.Path) -> None:
    import subprocess

    (tmp_path / "bad.toml").write_text("[server\n")
    result = subprocess.run([sys.executable, "-m", "bridge", "healthcheck", "--config", str(tmp_path / "bad.toml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
