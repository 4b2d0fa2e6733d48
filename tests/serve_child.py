"""`booking-bridge serve` as a child process under mutual TLS, for the tests that signal it:
started, sent SIGHUP, its JSON log read back, and always killed and reaped at the end."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import sys
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from . import logcheck
from .pki import Authority, Issued

# Bounded polls: how long to wait for the child to do something, never asserted on.
PATIENCE = 30.0
STEP = 0.02


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeChild:
    def __init__(self, config: pathlib.Path, log: pathlib.Path, env: dict[str, str], grpc_port: int,
                 ca: Authority, client: Issued):
        self.config, self.log, self.env, self.grpc_port = config, log, env, grpc_port
        self.ca, self.client = ca, client
        self.process: subprocess.Popen[bytes] | None = None
        self.channels: list[grpc.aio.Channel] = []
        logcheck.watch(log)  # the child's lines are held to the same no-secrets rules

    async def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "--config", str(self.config)],
                                            env={**os.environ, **self.env}, stdout=log, stderr=log)
        health = health_pb2_grpc.HealthStub(self.channel())
        answer = await health.Check(health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=PATIENCE)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING

    def channel(self) -> grpc.aio.Channel:
        """A new gRPC channel (so a new connection and TLS handshake) presenting Google's certificate."""
        key, chain = self.client.pair()
        credentials = grpc.ssl_channel_credentials(self.ca.roots.read_bytes(), private_key=key, certificate_chain=chain)
        channel = grpc.aio.secure_channel(f"localhost:{self.grpc_port}", credentials)
        self.channels.append(channel)
        return channel

    def reload_lines(self) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("logger") == "bridge.reload"]

    async def reload(self) -> dict[str, Any]:
        """SIGHUP, then the one line the reload logs."""
        assert self.process is not None
        before = len(self.reload_lines())
        self.process.send_signal(signal.SIGHUP)
        for _ in range(int(PATIENCE / STEP)):
            lines = self.reload_lines()
            if len(lines) > before:
                assert len(lines) == before + 1, lines[before:]
                return lines[-1]
            await asyncio.sleep(STEP)
        raise AssertionError("the child logged nothing about the reload")

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=10)


def served_serial(port: int, roots: pathlib.Path, client: Issued | None = None, alpn: str | None = None) -> int:
    """The serial number of the certificate a new TLS connection to ``port`` is shown."""
    from .pki import serial_of

    context = ssl.create_default_context(cafile=str(roots))
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    if alpn:
        context.set_alpn_protocols([alpn])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return serial_of(der)
