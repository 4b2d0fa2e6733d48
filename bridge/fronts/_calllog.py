"""One structured log line per call, the same for every front: method, status, latency,
the call's request id and, when it failed, its cause and a safe reason.

Only these fields: requests carry customer data and answers carry ids worth nothing in a
log, so neither is logged. The line is written by each transport's outermost layer (the
gRPC interceptor, the REST middleware), so every call has one, refused or not; the
handlers inside only :func:`note` why a call failed.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
from dataclasses import dataclass

from .. import logs
from ..failures import BridgeError, Cause

log = logging.getLogger("bridge.calls")

MAX_REASON = 160
# What might be a value the caller sent, should a message ever quote one: protobuf's
# parse errors quote the offending text in double quotes; e-mail addresses; phone-like
# runs of nine digits or more. Ids are quoted in single quotes and stay.
_QUOTED = re.compile(r'"[^"]*"?')
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+")
_PHONE = re.compile(r"\+?\d(?:[ .()-]?\d){8,}")


@dataclass
class Outcome:
    """Why the call being served failed, as the handler inside knew it."""

    # A Cause name (INVALID_ARGUMENT, SLOT_UNAVAILABLE, …) or, for a failure outside the
    # handlers (a refused login, an unknown path), the transport's own status name.
    cause: str | None = None
    reason: str | None = None
    # The business cause, when the call ended in a booking failure.
    booking_failure: Cause | None = None


_outcome: contextvars.ContextVar[Outcome | None] = contextvars.ContextVar("call_outcome", default=None)


class watched:
    """The outcome of the call served inside, filled in by :func:`note` (a class: entered
    once per call, where a generator context manager cost more than the work)."""

    __slots__ = ("_token",)

    def __enter__(self) -> Outcome:
        outcome = Outcome()
        self._token = _outcome.set(outcome)
        return outcome

    def __exit__(self, *_: object) -> None:
        _outcome.reset(self._token)


def note(exc: BridgeError) -> None:
    """Record on the call being served that it failed with ``exc`` (also a business
    failure answered with OK and a booking_failure)."""
    outcome = _outcome.get()
    if outcome is not None:
        outcome.cause, outcome.reason = exc.cause.name, safe_reason(exc)
        outcome.booking_failure = exc.cause if exc.cause.is_business_failure else None


def safe_reason(exc: BridgeError) -> str:
    """The failure in the bridge's own words, bounded, with anything that could be the
    customer's masked. An upstream refusal is logged without the upstream's own text
    (``log_text``), which may echo what was sent."""
    return safe_text(exc.log_text if exc.log_text is not None else exc.message)


def safe_text(text: str, limit: int = MAX_REASON) -> str:
    """``text`` on one line, at most ``limit`` characters, quoted values, e-mail addresses
    and phone-like numbers masked."""
    text = _QUOTED.sub('"…"', text)
    text = _EMAIL.sub("<e-mail>", text)
    text = _PHONE.sub("<number>", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def call(
    method: str,
    status: str | int,
    started: float,
    *,
    request_id: str | None = None,
    outcome: Outcome | None = None,
    level: int = logging.INFO,
    **more: object,
) -> None:
    """``started`` is a time.perf_counter() reading taken when the call arrived; ``more``
    are further fields, which the caller has made safe."""
    fields: dict[str, object] = {
        "method": method,
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if request_id is not None:
        fields["request_id"] = request_id
    if outcome is not None and outcome.cause is not None:
        fields["cause"], fields["reason"] = outcome.cause, outcome.reason
    fields.update(more)
    logs.emit(log, level, "call", fields)
