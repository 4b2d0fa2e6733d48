"""The one error table: upstream answer → cause → each front's rendering.

Rows are data. The upstream rows follow docs/upstream-contract.md §5, which is
ASSUMED (Qmatic documents no errors), so operators extend them from configuration with
``[[upstream.errors]]`` rows for codes a real tenant answers with; their rows are tried
before the defaults. The first matching row wins.

A row matches on the upstream operation (``hold``, ``confirm``, ``release``, ``cancel``,
``reschedule``, ``customer``, ``read``; ``*`` for any), the HTTP status (an exact number,
or ``"4xx"``/``"5xx"``) and the body's ``errorCode`` (``*`` for any, ``""`` for none).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .failures import Cause


@dataclass(frozen=True)
class UpstreamRule:
    status: str  # "409", "4xx", "5xx"
    cause: Cause
    code: str = "*"
    operation: str = "*"

    def matches(self, operation: str, status: int, code: str) -> bool:
        if self.operation not in ("*", operation):
            return False
        if self.status.endswith("xx"):
            if str(status)[0] != self.status[0]:
                return False
        elif self.status != str(status):
            return False
        return self.code == "*" or self.code == code


def _rule(status: str, cause: Cause, code: str = "*", operation: str = "*") -> UpstreamRule:
    return UpstreamRule(status=status, cause=cause, code=code, operation=operation)


DEFAULT_UPSTREAM_RULES: tuple[UpstreamRule, ...] = (
    # A 404 on confirm means the hold is gone: for the caller that is an expired lease.
    _rule("404", Cause.LEASE_EXPIRED, operation="confirm"),
    _rule("409", Cause.SLOT_UNAVAILABLE, "TIMESLOT_UNAVAILABLE"),
    _rule("409", Cause.ALREADY_CONFIRMED, "ALREADY_CONFIRMED"),
    _rule("409", Cause.BOOKING_ALREADY_CANCELLED, "ALREADY_CANCELLED"),
    _rule("410", Cause.LEASE_EXPIRED),
    _rule("422", Cause.OUTSIDE_CANCELLATION_WINDOW, "CANCELLATION_NOT_ALLOWED"),
    _rule("422", Cause.INVALID_ARGUMENT, "MAX_RESERVATIONS_EXCEEDED"),
    # Any other refusal of a cancel (a finalized visit, a policy we have no name for) is
    # still a refusal the caller can act on.
    _rule("409", Cause.BOOKING_NOT_CANCELLABLE, operation="cancel"),
    _rule("422", Cause.BOOKING_NOT_CANCELLABLE, operation="cancel"),
    _rule("400", Cause.INVALID_ARGUMENT),
    _rule("404", Cause.NOT_FOUND),
    # A token without the scope is our configuration, not the caller's request.
    _rule("403", Cause.INTERNAL),
    # An unknown 409 on a hold is most likely a taken slot; elsewhere it is a conflict we
    # cannot name, so it is not guessed at.
    _rule("409", Cause.SLOT_UNAVAILABLE, operation="hold"),
    _rule("409", Cause.SLOT_UNAVAILABLE, operation="reschedule"),
    _rule("401", Cause.UNAVAILABLE),
    _rule("429", Cause.UNAVAILABLE),
    _rule("5xx", Cause.UNAVAILABLE),
    _rule("4xx", Cause.INTERNAL),
)


class ErrorTable:
    def __init__(self, extra: Iterable[UpstreamRule] = ()):
        self._rules = tuple(extra) + DEFAULT_UPSTREAM_RULES

    def cause_for(self, operation: str, status: int, code: str) -> Cause:
        for rule in self._rules:
            if rule.matches(operation, status, code):
                return rule.cause
        return Cause.INTERNAL


def rule_from_mapping(row: Mapping[str, object]) -> UpstreamRule:
    """Build a rule from an operator's TOML row; raises ValueError naming the bad key."""
    unknown = set(row) - {"status", "code", "operation", "cause"}
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)}")
    status = str(row.get("status", ""))
    if not (status.isdigit() and len(status) == 3) and status not in ("4xx", "5xx"):
        raise ValueError(f"status must be a 3-digit HTTP status or 4xx/5xx, got {status!r}")
    cause_name = str(row.get("cause", ""))
    try:
        cause = Cause[cause_name]
    except KeyError:
        raise ValueError(f"cause {cause_name!r} is not one of {[c.name for c in Cause]}") from None
    operation = str(row.get("operation", "*"))
    if operation not in OPERATIONS:
        raise ValueError(f"operation {operation!r} is not one of {sorted(OPERATIONS)}")
    return UpstreamRule(status=status, cause=cause, code=str(row.get("code", "*")), operation=operation)


OPERATIONS = frozenset({"*", "hold", "confirm", "release", "cancel", "reschedule", "customer", "read"})


# v0 gRPC: every failure is a canonical status code (docs/actions-center-api.md §1.6
# and §6). Values are the names of grpc.StatusCode members so this table stays free of
# the grpc import.
V0_STATUS: Mapping[Cause, str] = {
    Cause.SLOT_UNAVAILABLE: "RESOURCE_EXHAUSTED",
    Cause.SLOT_ALREADY_BOOKED_BY_USER: "ALREADY_EXISTS",
    Cause.OVERLAPPING_RESERVATION: "ALREADY_EXISTS",
    Cause.LEASE_EXPIRED: "NOT_FOUND",
    # v0 reports business-rule refusals such as "too late to cancel" as INVALID_ARGUMENT.
    Cause.OUTSIDE_CANCELLATION_WINDOW: "INVALID_ARGUMENT",
    Cause.BOOKING_ALREADY_CANCELLED: "INVALID_ARGUMENT",
    Cause.BOOKING_NOT_CANCELLABLE: "INVALID_ARGUMENT",
    Cause.USER_OVER_BOOKING_LIMIT: "RESOURCE_EXHAUSTED",
    Cause.INVALID_ARGUMENT: "INVALID_ARGUMENT",
    Cause.NOT_FOUND: "NOT_FOUND",
    Cause.UNAVAILABLE: "UNAVAILABLE",
    Cause.INTERNAL: "INTERNAL",
    Cause.ALREADY_CONFIRMED: "INTERNAL",
}


# v2 gRPC and v3 REST put business causes in the response's booking_failure (HTTP 200,
# gRPC OK) under the same name wherever the response has that field. A business cause
# from a method without one (availability, status, listing) conflicts with the state of
# the resource: FAILED_PRECONDITION / 409.
_REQUEST_LEVEL = {
    Cause.INVALID_ARGUMENT: ("INVALID_ARGUMENT", 400),
    Cause.NOT_FOUND: ("NOT_FOUND", 404),
    Cause.UNAVAILABLE: ("UNAVAILABLE", 503),
    Cause.INTERNAL: ("INTERNAL", 500),
    Cause.ALREADY_CONFIRMED: ("INTERNAL", 500),
}
V2_STATUS: Mapping[Cause, str] = {c: _REQUEST_LEVEL.get(c, ("FAILED_PRECONDITION", 0))[0] for c in Cause}
V3_HTTP: Mapping[Cause, int] = {c: _REQUEST_LEVEL.get(c, ("", 409))[1] for c in Cause}

# Per-method exceptions to V3_HTTP: Google lists "cancelling a booking that never
# existed" among the 400s.
V3_HTTP_BY_METHOD: Mapping[tuple[str, Cause], int] = {("UpdateBooking", Cause.NOT_FOUND): 400}
