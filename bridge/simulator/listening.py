"""Serving an aiohttp app on loopback for a test, the demo or a benchmark: the one way the
simulator and the fake Google start and stop."""

from __future__ import annotations

from aiohttp import web

from .faults import Faults


async def listen(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Listen on host:port (0 picks a free port); returns the runner and the root URL."""
    # No access log: paths are harmless, but a log line per call drowns a benchmark.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        # "[::1]" is how a URL writes an IPv6 host; the socket wants it bare.
        await web.TCPSite(runner, host.strip("[]"), port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, f"http://{_url_host(host)}:{runner.addresses[0][1]}"


async def close(runner: web.AppRunner, faults: Faults) -> None:
    # Hanging requests would hold the shutdown for its whole timeout; let them drop now.
    faults.release_hangs()
    await runner.cleanup()


def _url_host(host: str) -> str:
    # A wildcard address is where we listen, not where a client can connect.
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
