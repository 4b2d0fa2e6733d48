"""A rate budget (token bucket) on an injectable clock: at most ``rate`` per second on
average, with at most one second's worth at once, so a backlog never becomes a burst."""

from __future__ import annotations


class Budget:
    def __init__(self, rate: float, now: float):
        self.rate = rate
        self._tokens = self._burst
        self._last = now

    @property
    def _burst(self) -> float:
        return max(1.0, self.rate)

    def available(self, now: float) -> int:
        self._tokens = min(self._burst, self._tokens + max(0.0, now - self._last) * self.rate)
        self._last = max(self._last, now)
        return int(self._tokens)

    def spend(self, n: int) -> None:
        self._tokens -= n
