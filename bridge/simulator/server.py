"""Running the simulator inside the caller's event loop, and the ``simulate`` command's body."""

from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp import web

from ..clock import Clock, SystemClock
from . import seed
from .app import make_app
from .faults import Faults
from .listening import close, listen
from .middleware import API_PREFIX, TOKEN_PATH, RecordedRequest
from .state import State
from .tokens import Tokens


class Simulator:
    def __init__(
        self,
        clock: Clock | None = None,
        *,
        cancellation_cutoff: dt.timedelta = dt.timedelta(hours=2),
        hold_ttl: dt.timedelta = dt.timedelta(minutes=15),
        latency: float = 0.0,
    ):
        """``latency``: seconds every answer waits, as a remote tenant's network would."""
        self.clock: Clock = clock or SystemClock()
        self.state = State(self.clock, hold_ttl=hold_ttl, cancellation_cutoff=cancellation_cutoff)
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self._tokens = Tokens(self.clock)
        self._latency = latency
        self._runner: web.AppRunner | None = None
        self._root: str | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 picks a free port); returns the root URL."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        app = make_app(self.state, self._tokens, self.faults, self.requests)
        if self._latency > 0:
            app.middlewares.insert(0, _delayed(self._latency))
        self._runner, self._root = await listen(app, host, port)
        return self._root

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await close(runner, self.faults)

    @property
    def root_url(self) -> str:
        if self._root is None:
            raise RuntimeError("simulator not started")
        return self._root

    @property
    def base_url(self) -> str:
        return self.root_url + API_PREFIX

    @property
    def token_url(self) -> str:
        return self.root_url + TOKEN_PATH

    def live_tokens(self) -> list[str]:
        """The bearer tokens that would be accepted now (tests check none reaches a log)."""
        return self._tokens.live()

    def revoke_tokens(self) -> None:
        self._tokens.revoke_all()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _delayed(seconds: float):
    @web.middleware
    async def delay(request: web.Request, handler):
        await asyncio.sleep(seconds)
        return await handler(request)

    return delay


async def serve(host: str, port: int, clock: Clock | None = None, *, latency: float = 0.0) -> None:
    """Run a simulator until cancelled; prints where it is and the demo credentials."""
    sim = Simulator(clock, latency=latency)
    await sim.start(host, port)
    try:
        print(
            f"Qmatic simulator: base URL {sim.base_url}  token URL {sim.token_url}  "
            f"account {seed.DEMO_ACCOUNT}  tenant {seed.DEMO_TENANT_ID}  "
            f"client id {seed.DEMO_CLIENT_ID}  client secret {seed.DEMO_CLIENT_SECRET}",
            flush=True,
        )
        await asyncio.Event().wait()
    finally:
        await sim.stop()
