"""When an upstream call may be tried again, and for how long.

Reads change nothing, so any transport failure or busy answer is worth another try.
A state-changing call is repeated only when the failure proves the request never left
(reference §6): repeating one that may have arrived could book twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    wait_exponential,
    wait_random,
)

from .. import deadline
from ._exchange import DEADLINE_MARGIN, Answered
from ._token import TokenUnavailable

T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
NEVER_LEFT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# Without a caller deadline, a Retry-After longer than this is not waited for.
MAX_WAIT_WITHOUT_DEADLINE = 10.0
# A retry is pointless if the attempt after the wait would have less than this.
MIN_ATTEMPT = 0.05

# 0.05 s, 0.1 s, 0.2 s ... up to 1 s, plus jitter so callers do not retry in step.
_backoff = wait_exponential(multiplier=0.05, max=1.0) + wait_random(0, 0.05)


class RetryableAnswer(Exception):
    """A read got a busy answer (429, 502–504) that is worth another try."""

    def __init__(self, response: Answered):
        super().__init__(f"upstream answered {response.status_code}")
        self.response = response
        self.retry_after = _retry_after(response)


def never_left(exc: BaseException) -> bool:
    return isinstance(exc, NEVER_LEFT)


def retryable(exc: BaseException, *, idempotent: bool) -> bool:
    # No token means nothing reached the API; RetryableAnswer is only raised for reads.
    if isinstance(exc, (TokenUnavailable, RetryableAnswer)):
        return True
    if isinstance(exc, httpx.TransportError):
        return idempotent or never_left(exc)
    return False


async def call(
    fn: Callable[..., Awaitable[T]], *args: Any,
    max_attempts: int, idempotent: bool, sleep: Callable[[float], Awaitable[None]],
) -> T:
    """``fn(*args)`` under the retry policy. Nearly every call succeeds on its first try,
    so that try runs bare; only a retryable failure builds the retry loop, which then
    sees that failure as its own first attempt (same waits, same count)."""
    try:
        return await fn(*args)
    except Exception as exc:
        if not retryable(exc, idempotent=idempotent):
            raise
        first: Exception | None = exc

    async def attempt(*again: Any) -> T:
        nonlocal first
        if first is not None:
            failed, first = first, None
            raise failed
        return await fn(*again)

    retrying = policy(max_attempts=max_attempts, idempotent=idempotent, sleep=sleep)
    return await retrying(attempt, *args)


def policy(*, max_attempts: int, idempotent: bool, sleep: Callable[[float], Awaitable[None]]) -> AsyncRetrying:
    """A fresh retry loop for one call; it re-raises the last failure when it gives up."""
    return AsyncRetrying(
        retry=retry_if_exception(lambda exc: retryable(exc, idempotent=idempotent)),
        stop=stop_any(stop_after_attempt(max_attempts), _out_of_time),
        wait=_wait,
        sleep=sleep,
        reraise=True,
    )


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RetryableAnswer) and exc.retry_after is not None:
        return exc.retry_after
    return _backoff(state)


def _out_of_time(state: RetryCallState) -> bool:
    # tenacity computes the wait before asking to stop, so the coming sleep is known.
    pause = state.upcoming_sleep
    left = deadline.remaining()
    if left is None:
        return pause > MAX_WAIT_WITHOUT_DEADLINE
    return left - pause - DEADLINE_MARGIN < MIN_ATTEMPT


def _retry_after(response: Answered) -> float | None:
    # Only the delta-seconds form; an HTTP-date falls back to our own backoff.
    value = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if seconds == seconds else None
