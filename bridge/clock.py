"""Wall-clock time as a dependency, so expiry can be tested by moving a clock, not sleeping."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware, in UTC."""


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)


class ManualClock:
    """A clock that moves only when told to; shared by the simulator and the bridge in tests."""

    def __init__(self, start: dt.datetime | None = None):
        self._now = start or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> dt.datetime:
        self._now += dt.timedelta(**delta)
        return self._now
