"""SIGHUP reloads the TLS certificates, the mapping files and the REST credentials of a
running `booking-bridge serve` without dropping a call; what does not load is kept, with
one log line saying why."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import pathlib
import ssl
import sys
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge._proto import booking_v0_pb2_grpc as pb_grpc
from bridge.clock import SystemClock
from bridge.simulator import Simulator, seed

from .harness import ENV, lease_message
from .pki import Authority, Issued
from .serve_child import PATIENCE, STEP, ServeChild, free_port, served_serial

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGHUP")

REST_USER = "google"
FIRST_PASSWORD = "rest-first-Qw7-rotates"
SECOND_PASSWORD = "rest-second-Zp4-rotates"


@dataclasses.dataclass
class Deployment:
    """The files a serve child reads, in its own folder, and the child."""

    folder: pathlib.Path
    ca: Authority
    child: ServeChild
    rest_port: int

    @property
    def certs(self) -> pathlib.Path:
        return self.folder / "certs"

    def mapping(self, text: str) -> None:
        (self.folder / "mappings" / "merchants.toml").write_text(text)

    def install(self, server: Issued) -> None:
        """Put ``server``'s certificate and key where the configuration names them."""
        (self.certs / "server.pem").write_bytes(server.cert.read_bytes())
        (self.certs / "server.key").write_bytes(server.key.read_bytes())

    def rest_password(self, password: str) -> None:
        env = self.folder / "rest.env"
        env.write_text(f"# the REST front's Basic password; SIGHUP reads it again\nBRIDGE_REST_PASSWORD={password}\n")
        env.chmod(0o600)

    async def rest_status(self, password: str) -> int:
        context = ssl.create_default_context(cafile=str(self.ca.roots))
        token = base64.b64encode(f"{REST_USER}:{password}".encode()).decode()
        async with httpx.AsyncClient(verify=context, timeout=10) as client:
            answer = await client.get(f"https://localhost:{self.rest_port}/v3/HealthCheck",
                                      headers={"Authorization": f"Basic {token}"})
        return answer.status_code


def mapped(merchant: str) -> str:
    return f'[merchants."{merchant}"]\nbranch_id = "{seed.STOCKHOLM}"\n'


@pytest.fixture
async def live_sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(SystemClock())  # the child runs on the real clock
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def deployment(live_sim: Simulator, tmp_path: pathlib.Path) -> AsyncIterator[Deployment]:
    ca = Authority(tmp_path, "reload CA")
    for folder in ("certs", "mappings"):
        (tmp_path / folder).mkdir()
    (tmp_path / "certs" / "ca.pem").write_bytes(ca.roots.read_bytes())
    grpc_port, rest_port = free_port(), free_port()
    config = tmp_path / "bridge.toml"
    config.write_text(
        f'[server]\ngrpc_listen = "127.0.0.1:{grpc_port}"\nrest_listen = "127.0.0.1:{rest_port}"\n'
        "shutdown_grace_seconds = 5.0\n"
        '[server.tls]\ncert_file = "certs/server.pem"\nkey_file = "certs/server.key"\nclient_ca_file = "certs/ca.pem"\n'
        f'[server.rest_auth]\nusername = "{REST_USER}"\npassword_env = "BRIDGE_REST_PASSWORD"\nenv_file = "rest.env"\n'
        f'[upstream]\nbase_url = "{live_sim.base_url}"\ntoken_url = "{live_sim.token_url}"\n'
        f'account = "{seed.DEMO_ACCOUNT}"\ntenant_id = "{seed.DEMO_TENANT_ID}"\n'
        '[store]\npath = "bridge.sqlite3"\n'
        '[booking]\ndefault_time_zone = "Europe/Stockholm"\nmappings_dir = "mappings"\n'
    )
    env = {name: value for name, value in ENV.items() if not name.startswith("BRIDGE_REST_PASSWORD")}
    child = ServeChild(config, tmp_path / "serve.log", env, grpc_port, ca, ca.client("google"))
    deployment = Deployment(tmp_path, ca, child, rest_port)
    deployment.install(ca.server("first-server"))
    deployment.mapping(mapped("salon"))
    deployment.rest_password(FIRST_PASSWORD)
    try:
        await child.start()
        yield deployment
    finally:
        await child.close()


def tomorrow_at(hour: int) -> dt.datetime:
    zone = seed.zone(seed.STOCKHOLM)
    day = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zone).astimezone(dt.timezone.utc)


async def lease(stub: pb_grpc.BookingServiceStub, merchant: str, reference: str, hour: int = 10) -> pb.Lease:
    request = pb.CreateLeaseRequest(lease=lease_message(tomorrow_at(hour), merchant=merchant, reference=reference))
    return (await stub.CreateLease(request, timeout=10)).lease


async def refused(stub: pb_grpc.BookingServiceStub, merchant: str, reference: str) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await lease(stub, merchant, reference, hour=11)
    return err.value.code()


def holds(sim: Simulator) -> int:
    return sum(r.method == "POST" and r.path == "/reservations" for r in sim.requests)


async def test_a_changed_mapping_file_is_used_after_sighup(deployment: Deployment, live_sim: Simulator) -> None:
    stub = pb_grpc.BookingServiceStub(deployment.child.channel())
    assert (await lease(stub, "salon", "m-1")).lease_id
    assert await refused(stub, "new-salon", "m-2") == grpc.StatusCode.INVALID_ARGUMENT

    deployment.mapping(mapped("new-salon"))
    line = await deployment.child.reload()
    assert line["level"] == "INFO" and "mappings" in line["reloaded"]

    before = holds(live_sim)
    assert (await lease(stub, "new-salon", "m-3", hour=12)).lease_id
    assert holds(live_sim) == before + 1  # held at the branch the new file names
    # The new files are the whole mapping: the merchant the old file named is gone.
    assert await refused(stub, "salon", "m-4") == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_broken_mapping_file_keeps_the_old_mapping_and_says_why_once(deployment: Deployment) -> None:
    stub = pb_grpc.BookingServiceStub(deployment.child.channel())
    deployment.mapping('[merchants."new-salon"\nbranch_id = \n')
    line = await deployment.child.reload()  # asserts it is the only line the reload wrote
    assert line["level"] == "WARNING"
    assert line["kept"] == ["mappings"] and "not valid TOML" in line["reason"]
    assert "merchants.toml" in line["reason"]
    assert (await lease(stub, "salon", "b-1")).lease_id


async def test_a_new_certificate_reaches_new_connections_while_a_call_in_flight_completes(
    deployment: Deployment, live_sim: Simulator
) -> None:
    first = served_serial(deployment.child.grpc_port, deployment.ca.roots, deployment.child.client, alpn="h2")
    stub = pb_grpc.BookingServiceStub(deployment.child.channel())
    assert (await lease(stub, "salon", "t-0", hour=9)).lease_id  # the connection is up
    live_sim.faults.add(method="POST", path=r"^/reservations$", action="pause")
    in_flight = asyncio.ensure_future(lease(stub, "salon", "t-1"))
    try:
        for _ in range(int(PATIENCE / STEP)):  # until the hold has reached the upstream (it takes the fault)
            if len(live_sim.faults) == 0:
                break
            await asyncio.sleep(STEP)
        assert len(live_sim.faults) == 0, "the call never reached the upstream"

        second = deployment.ca.server("second-server")
        deployment.install(second)
        line = await deployment.child.reload()
        assert "tls" in line["reloaded"]

        assert served_serial(deployment.child.grpc_port, deployment.ca.roots, deployment.child.client,
                             alpn="h2") == second.serial != first
        assert served_serial(deployment.rest_port, deployment.ca.roots) == second.serial
        assert not in_flight.done()
    finally:
        live_sim.faults.release_hangs()
    assert (await in_flight).lease_id  # answered on the connection it started on
    assert await deployment.rest_status(FIRST_PASSWORD) == 200  # REST carries on over the new certificate


async def test_a_certificate_that_does_not_match_its_key_is_not_taken(deployment: Deployment) -> None:
    port, roots, client = deployment.child.grpc_port, deployment.ca.roots, deployment.child.client
    served = served_serial(port, roots, client, alpn="h2")
    other = deployment.ca.server("other-server")
    (deployment.certs / "server.pem").write_bytes(deployment.ca.server("unmatched").cert.read_bytes())
    (deployment.certs / "server.key").write_bytes(other.key.read_bytes())
    line = await deployment.child.reload()
    assert line["kept"] == ["tls"] and "key_file" in line["reason"]
    assert served_serial(port, roots, client, alpn="h2") == served
    assert served_serial(deployment.rest_port, roots) == served


async def test_rest_credentials_rotate_through_the_env_file(deployment: Deployment) -> None:
    assert await deployment.rest_status(FIRST_PASSWORD) == 200
    assert await deployment.rest_status(SECOND_PASSWORD) == 401

    deployment.rest_password(SECOND_PASSWORD)
    line = await deployment.child.reload()
    assert "rest_credentials" in line["reloaded"]
    assert await deployment.rest_status(SECOND_PASSWORD) == 200
    assert await deployment.rest_status(FIRST_PASSWORD) == 401

    (deployment.folder / "rest.env").write_text("")  # the variable gone: Google would be locked out
    line = await deployment.child.reload()
    assert line["kept"] == ["rest_credentials"] and "BRIDGE_REST_PASSWORD" in line["reason"]
    assert await deployment.rest_status(SECOND_PASSWORD) == 200
    log = deployment.child.log.read_text()
    assert FIRST_PASSWORD not in log and SECOND_PASSWORD not in log
