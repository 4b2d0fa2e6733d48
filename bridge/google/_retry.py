"""Which failures are worth another try, and how long to wait before it.

Both of Google's calls are idempotent (a notification sets fields, a replace sets a
range), so unlike the Qmatic client's state-changing calls they may be resent after any
failure, even one that may have reached Google. 4xx answers are final, except 408 and
429 (retried here) and 401 (one token refresh, in the client).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    wait_exponential,
    wait_random,
)

from .. import deadline
from ._exchange import DEADLINE_MARGIN

# A retry is pointless when the attempt after the wait would have less time than this.
MIN_ATTEMPT = 0.05


def retryable_status(status: int) -> bool:
    return status in (408, 429) or 500 <= status <= 599


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: ``first`` doubling up to ``longest``, plus up to ``first``
    of jitter so many bridges do not retry in step. A ``Retry-After`` of seconds is
    obeyed instead, up to ``longest_retry_after``. Tests set ``first=0``."""

    first: float = 0.5
    longest: float = 8.0
    longest_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if min(self.first, self.longest, self.longest_retry_after) < 0:
            raise ValueError("backoff waits must not be negative")


class Busy(Exception):
    """An answer that may pass (408, 429, 5xx); ``said`` describes it for the final error."""

    def __init__(self, said: str, response: httpx.Response):
        super().__init__(said)
        self.said = said
        self.status = response.status_code
        self.retry_after = _retry_after(response)


def policy(*, max_attempts: int, backoff: Backoff, sleep: Callable[[float], Awaitable[None]]) -> AsyncRetrying:
    """A fresh retry loop for one call; when it gives up it re-raises the last failure."""
    exponential = wait_exponential(multiplier=backoff.first, max=backoff.longest) + wait_random(0, backoff.first)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Busy) and exc.retry_after is not None:
            return min(exc.retry_after, backoff.longest_retry_after)
        return exponential(state)

    return AsyncRetrying(
        # TimeoutException is a TransportError: timeouts are retried too.
        retry=retry_if_exception_type((Busy, httpx.TransportError)),
        stop=stop_any(stop_after_attempt(max_attempts), _out_of_time),
        wait=wait,
        sleep=sleep,
        reraise=True,
    )


def _out_of_time(state: RetryCallState) -> bool:
    left = deadline.remaining()
    if left is None:
        return False
    # tenacity decides the wait before asking whether to stop, so it is known here.
    return left - state.upcoming_sleep - DEADLINE_MARGIN < MIN_ATTEMPT


def _retry_after(response: httpx.Response) -> float | None:
    # Only delta-seconds; an HTTP-date falls back to our own backoff.
    try:
        seconds = float(response.headers.get("Retry-After", "").strip())
    except ValueError:
        return None
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
