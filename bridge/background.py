"""Work that runs beside the servers in rounds — the inventory, health following the
upstream, erasing old personal data: one named task per kind, a round every so often, a
failed round logged and the next one tried, and stop cancelling and waiting, so nothing
of it outlives a stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("bridge.background")


class Background:
    def __init__(self, name: str, round_: Callable[[], Awaitable[Any]], every: float,
                 first: Callable[[], Awaitable[Any]] | None = None):
        self._name = name
        self._round = round_
        self._every = every
        self._first = first
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        if self._first is not None:
            await self._guarded(self._first)
        while True:
            await self._guarded(self._round)
            await asyncio.sleep(self._every)

    async def _guarded(self, step: Callable[[], Awaitable[Any]]) -> None:
        try:
            await step()
        except Exception:  # a loop that died would silently stop doing its work
            log.exception("background round failed", extra={"task": self._name})
