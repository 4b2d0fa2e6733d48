"""One id per incoming call, so its log line and every upstream request it caused can be
found together.

The id is the caller's ``x-request-id`` when that is short and plain, else the trace id of
a well-formed W3C ``traceparent``, else a fresh one. It lives in a context variable: set
by the front's outermost layer for the call, it is seen by everything the call awaits,
and asyncio copies it into any task the call starts.
"""

from __future__ import annotations

import contextvars
import random
import re
from collections.abc import Callable

# Bounded and plain, because it is written into every line of the call: no spaces,
# quotes, '@' or control characters, nothing that could forge or break a JSON line.
MAX_LENGTH = 128
_PLAIN = re.compile(r"[A-Za-z0-9._:/+=-]{1,%d}" % MAX_LENGTH)
# version-traceid-parentid-flags (W3C Trace Context); version ff and all-zero ids are invalid.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def new() -> str:
    """A fresh id, shaped like a W3C trace id (32 lower-case hex digits).

    From ``random``, not ``secrets``: an id only has to be unique, a caller may choose its
    own anyway, and the system call behind ``secrets`` cost more than the rest of the choice."""
    return f"{random.getrandbits(128):032x}"


def choose(header: Callable[[str], str | None]) -> str:
    """The id for a call whose headers (or gRPC metadata) ``header`` looks up by
    lower-case name."""
    given = (header("x-request-id") or "").strip()
    if _PLAIN.fullmatch(given):
        return given
    trace = trace_id(header("traceparent") or "")
    return trace or new()


def trace_id(traceparent: str) -> str | None:
    match = _TRACEPARENT.fullmatch(traceparent.strip())
    if match is None:
        return None
    version, trace, parent, _ = match.groups()
    if version == "ff" or (version == "00" and len(traceparent.strip()) != 55):
        return None
    if trace == "0" * 32 or parent == "0" * 16:
        return None
    return trace


def current() -> str | None:
    """The id of the call being served, or None outside any call (background work)."""
    return _current.get()


class bound:
    """The block runs as the call ``request_id`` (a class: entered once per call, where a
    generator context manager cost more than the binding)."""

    __slots__ = ("_request_id", "_token")

    def __init__(self, request_id: str):
        self._request_id = request_id

    def __enter__(self) -> str:
        self._token = _current.set(self._request_id)
        return self._request_id

    def __exit__(self, *_: object) -> None:
        _current.reset(self._token)
