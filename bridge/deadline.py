"""The caller's deadline, carried in a context variable from the front to the upstream client.

A front opens a scope with the time its caller allows; the upstream client asks how much
is left to size its timeouts and decide whether another retry still fits. asyncio copies
context variables into tasks, so the deadline follows the work without being a parameter
of every core function.
"""

from __future__ import annotations

import contextvars
import time

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


class scope:
    """Run the block with ``seconds`` allowed (None: no caller deadline; an outer one stays).

    A class, not a generator context manager: every call opens one, and a generator's
    machinery costs more than the scope's own work.
    """

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float | None):
        self._seconds = seconds
        self._token: contextvars.Token[float | None] | None = None

    def __enter__(self) -> None:
        if self._seconds is None:
            return
        candidate = time.monotonic() + max(0.0, self._seconds)
        outer = _deadline.get()
        self._token = _deadline.set(candidate if outer is None else min(outer, candidate))

    def __exit__(self, *_: object) -> None:
        if self._token is not None:
            _deadline.reset(self._token)


def remaining() -> float | None:
    """Seconds left before the caller gives up, or None when nobody set a deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return deadline - time.monotonic()
