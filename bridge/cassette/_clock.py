"""The recording bridge's clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from ..clock import Clock

Wait = Callable[[float], Awaitable[None]]


class HeldBackClock:
    """The bridge's clock, which can be made to lag the upstream's.

    Waiting out a hold with it held back records what the upstream answers to a confirm
    of an expired hold — the case of an upstream whose clock runs ahead of ours, which
    the bridge's own lease check would otherwise never let through.
    """

    def __init__(self, base: Clock):
        self._base = base
        self._behind = dt.timedelta(0)

    def now(self) -> dt.datetime:
        return self._base.now() - self._behind

    async def stand_still(self, wait: Wait, seconds: float) -> None:
        started = self._base.now()
        await wait(seconds)
        self._behind += self._base.now() - started
