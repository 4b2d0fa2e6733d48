"""The caller's deadline, carried in a context variable from the front to the upstream client.

A front opens a scope with the time its caller allows; the upstream client asks how much
is left to size its timeouts and decide whether another retry still fits. asyncio copies
context variables into tasks, so the deadline follows the work without being a parameter
of every core function.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


@contextlib.contextmanager
def scope(seconds: float | None) -> Iterator[None]:
    """Run the block with ``seconds`` allowed (None: no caller deadline; an outer one stays)."""
    if seconds is None:
        yield
        return
    candidate = time.monotonic() + max(0.0, seconds)
    outer = _deadline.get()
    token = _deadline.set(candidate if outer is None else min(outer, candidate))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the caller gives up, or None when nobody set a deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return deadline - time.monotonic()
