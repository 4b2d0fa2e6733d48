"""The Prometheus text endpoint, ``GET /metrics`` on ``[server] metrics_listen``.

Served by aiohttp on the bridge's own event loop, so a scrape reads the same metric
objects the calls update, and the store-backed gauges with the same store, without a
thread of its own. It answers nothing else and needs no credentials: bind it to an
address only the monitoring network reaches.
"""

from __future__ import annotations

from aiohttp import web

from . import exitcodes
from .metrics import CONTENT_TYPE, Metrics

PATH = "/metrics"


def make_app(metrics: Metrics) -> web.Application:
    async def view(request: web.Request) -> web.Response:
        response = web.Response(body=await metrics.scrape())
        # Set whole: the exposition's content type carries its format version.
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    app = web.Application()
    app.router.add_get(PATH, view)
    return app


class MetricsEndpoint:
    def __init__(self, metrics: Metrics, listen: str):
        self._listen = listen
        self._runner = web.AppRunner(make_app(metrics), access_log=None)
        self.port = 0

    async def start(self) -> int:
        host, _, port = self._listen.rpartition(":")
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host.strip("[]"), int(port)).start()
        except OSError as exc:
            await self._runner.cleanup()
            raise exitcodes.StartupFailure(
                f"[server] metrics_listen: cannot listen on {self._listen}: {exc.strerror}", code=exitcodes.LISTEN
            ) from None
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()
