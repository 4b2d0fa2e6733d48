"""The simulator helper and the servers under load, each a process of its own.

Configurations: ``floor`` (bench/floor.py), ``sqlite`` (one `booking-bridge serve` on a
SQLite file), ``pg`` (one on a fresh PostgreSQL database), ``pg2`` (two replicas sharing
one fresh database; the load spreads its workers over both). Each load gets fresh ones:
an empty store, cold caches, a simulator with no appointments.
"""

from __future__ import annotations

import json
import pathlib
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bridge.simulator import seed

from . import procs
from .pg import Postgres

CONFIGS = ("floor", "sqlite", "pg", "pg2")
LABELS = {"floor": "floor", "sqlite": "bridge SQLite", "pg": "bridge PG", "pg2": "bridge PG ×2"}
REST_USER, REST_PASSWORD = "google", "bench-rest-password"
ENV = {
    "QMATIC_CLIENT_ID": seed.DEMO_CLIENT_ID,
    "QMATIC_CLIENT_SECRET": seed.DEMO_CLIENT_SECRET,
    "BRIDGE_IDENTITY_KEY": "bench-identity-key-0123456789",
    "BRIDGE_REST_PASSWORD": REST_PASSWORD,
}


@dataclass
class SimHost:
    child: procs.Child
    base_url: str
    token_url: str
    control_url: str

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.control_url + path, timeout=60) as answer:
            return json.loads(answer.read())

    def counts(self) -> dict[str, Any]:
        return self._get("/counts")

    def appointments(self) -> list[list[Any]]:
        return self._get("/appointments")


async def start_sim(folder: pathlib.Path, branches: int, days: int, latency_ms: float) -> SimHost:
    child = procs.Child("simulator", procs.python("bench.simhost", "--branches", str(branches), "--days", str(days),
                                                  "--latency-ms", str(latency_ms)),
                        folder / "simulator.log", announces=True)
    try:
        where = await child.announcement()
    except BaseException:
        child.stop()
        raise
    return SimHost(child, where["base_url"], where["token_url"], where["control_url"])


@dataclass
class Servers:
    """The processes serving one configuration, and where the load reaches them."""

    config: str
    children: list[procs.Child] = field(default_factory=list)
    grpc_ports: list[int] = field(default_factory=list)
    rest_ports: list[int] = field(default_factory=list)
    database: Postgres | None = None

    @property
    def pids(self) -> list[int]:
        return [c.pid for c in self.children]

    def cpu_seconds(self) -> float:
        return sum(procs.cpu_seconds(pid) for pid in self.pids)

    def database_cpu_seconds(self) -> float:
        return self.database.cpu_seconds() if self.database is not None else 0.0

    def peak_rss_mib(self) -> float:
        """The largest of the processes' peaks (each replica is a machine's worth)."""
        return max(procs.peak_rss_mib(pid) for pid in self.pids)

    def stop(self) -> list[int]:
        return [c.stop() for c in self.children]


async def start(config: str, sim: SimHost, folder: pathlib.Path, pg: Postgres | None) -> Servers:
    servers = Servers(config)
    try:
        if config == "floor":
            child = procs.Child("floor", procs.python("bench.floor", "--base-url", sim.base_url,
                                                      "--token-url", sim.token_url),
                                folder / "floor.log", announces=True)
            servers.children.append(child)
            ports = await child.announcement()
            servers.grpc_ports.append(ports["grpc_port"])
            servers.rest_ports.append(ports["rest_port"])
            return servers
        store = 'path = "bridge.sqlite3"'
        if config in ("pg", "pg2"):
            assert pg is not None
            servers.database = pg
            store = f'url = "{pg.new_database()}"'
        replicas = 2 if config == "pg2" else 1
        configs = []
        for i in range(replicas):
            grpc_port, rest_port = procs.free_port(), procs.free_port()
            path = folder / f"bridge-{i}.toml"
            path.write_text(bridge_toml(sim, grpc_port, rest_port, store))
            configs.append((path, grpc_port, rest_port))
        if config in ("pg", "pg2"):
            procs.run("store migrate", procs.python("bridge", "store", "migrate", "--config", str(configs[0][0])),
                      folder / "migrate.log", env=ENV)
        for i, (path, grpc_port, rest_port) in enumerate(configs):
            child = procs.Child(f"bridge {config} #{i}", procs.python("bridge", "serve", "--config", str(path)),
                                folder / f"serve-{i}.log", env=ENV, cwd=folder)
            servers.children.append(child)
            servers.grpc_ports.append(grpc_port)
            servers.rest_ports.append(rest_port)
        for child, grpc_port, rest_port in zip(servers.children, servers.grpc_ports, servers.rest_ports):
            await procs.wait_for_port(grpc_port, child)
            await serving(child, grpc_port)
            await procs.wait_for_port(rest_port, child)
        return servers
    except BaseException:
        servers.stop()
        raise


def bridge_toml(sim: SimHost, grpc_port: int, rest_port: int, store: str) -> str:
    # As deployed, but: loopback without TLS; no background upstream probe, which would add
    # calls to the counts; a short grace so stopping is quick. Logs at the default INFO.
    return (
        f'[server]\ngrpc_listen = "127.0.0.1:{grpc_port}"\nrest_listen = "127.0.0.1:{rest_port}"\n'
        f'shutdown_grace_seconds = 2.0\nhealth_follows_upstream = false\n'
        f'[server.rest_auth]\nusername = "{REST_USER}"\npassword_env = "BRIDGE_REST_PASSWORD"\n'
        f'[upstream]\nbase_url = "{sim.base_url}"\ntoken_url = "{sim.token_url}"\n'
        f'account = "{seed.DEMO_ACCOUNT}"\ntenant_id = "{seed.DEMO_TENANT_ID}"\n'
        f'[store]\n{store}\n'
        f'[booking]\ndefault_time_zone = "Europe/Stockholm"\n'
    )


async def serving(child: procs.Child, port: int, timeout: float = 30.0) -> None:
    """Until the child's gRPC health says SERVING (or it died)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        try:
            answer = await health.Check(health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise RuntimeError(f"{child.name} not serving ({exc.code().name}): {child.tail()}") from None
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        raise RuntimeError(f"{child.name} answers health {answer.status}")
