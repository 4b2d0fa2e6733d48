"""The one failure vocabulary the core speaks.

Every failure that crosses a layer is a :class:`BridgeError` carrying a :class:`Cause`.
The upstream client turns Qmatic answers into causes (through ``bridge.errortable``);
each front renders causes in its own dialect (through the same table). Nothing else
invents error categories.

Exception tree::

    BridgeError(cause, message, field=None)
     └── OutcomeUnknown        a state-changing upstream call may have arrived; the
                               caller must reconcile before doing anything else

    StoreUnavailable(message)  the database did not answer in time; deliberately not
                               a BridgeError, so no core flow takes it for a clean
                               refusal and undoes work (a write may have landed). Fronts
                               answer it UNAVAILABLE.

Causes are of two kinds: the Actions Center ``BookingFailure.Cause`` names (business
outcomes a v2/v3 front puts in ``booking_failure``) and a few request-level outcomes
(``INVALID_ARGUMENT``, ``NOT_FOUND``, ``UNAVAILABLE``, ``INTERNAL``) that every front
renders as a transport status.
"""

from __future__ import annotations

import enum

# Every front sends the message to the caller (gRPC details, a JSON error, a
# booking_failure description), and some messages quote what the caller sent. A few
# hundred characters say what is wrong; more only hurts: gRPC clients refuse status
# details of a few kilobytes as RESOURCE_EXHAUSTED, hiding the real answer.
MAX_MESSAGE = 300


class Cause(enum.Enum):
    # BookingFailure.Cause names (docs/actions-center-api.md §5).
    SLOT_UNAVAILABLE = "SLOT_UNAVAILABLE"
    SLOT_ALREADY_BOOKED_BY_USER = "SLOT_ALREADY_BOOKED_BY_USER"
    LEASE_EXPIRED = "LEASE_EXPIRED"
    OUTSIDE_CANCELLATION_WINDOW = "OUTSIDE_CANCELLATION_WINDOW"
    BOOKING_ALREADY_CANCELLED = "BOOKING_ALREADY_CANCELLED"
    BOOKING_NOT_CANCELLABLE = "BOOKING_NOT_CANCELLABLE"
    OVERLAPPING_RESERVATION = "OVERLAPPING_RESERVATION"
    USER_OVER_BOOKING_LIMIT = "USER_OVER_BOOKING_LIMIT"
    # Request-level outcomes.
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"
    # The upstream says the appointment is already confirmed: the core reconciles it;
    # it never reaches a front unless something is badly wrong.
    ALREADY_CONFIRMED = "ALREADY_CONFIRMED"

    @property
    def is_business_failure(self) -> bool:
        return self in _BUSINESS


_BUSINESS = frozenset(
    {
        Cause.SLOT_UNAVAILABLE,
        Cause.SLOT_ALREADY_BOOKED_BY_USER,
        Cause.LEASE_EXPIRED,
        Cause.OUTSIDE_CANCELLATION_WINDOW,
        Cause.BOOKING_ALREADY_CANCELLED,
        Cause.BOOKING_NOT_CANCELLABLE,
        Cause.OVERLAPPING_RESERVATION,
        Cause.USER_OVER_BOOKING_LIMIT,
    }
)


class BridgeError(Exception):
    """A failure in the bridge's vocabulary; ``field`` names the offending request field."""

    # What a log may say of it when the message quotes someone else's words (an upstream
    # refusal's own text may echo the customer); None: the message itself.
    log_text: str | None = None

    def __init__(self, cause: Cause, message: str, *, field: str | None = None):
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        super().__init__(message)
        self.cause = cause
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cause.name}, {self.message!r})"


class OutcomeUnknown(BridgeError):
    """A state-changing call may or may not have taken effect upstream."""

    def __init__(self, message: str):
        super().__init__(Cause.UNAVAILABLE, message)


class StoreUnavailable(Exception):
    """The store's database could not be reached or gave up (PostgreSQL); retry later."""

    def as_error(self) -> BridgeError:
        """How a front answers it, once the core is done with the call."""
        return BridgeError(Cause.UNAVAILABLE, str(self))


def invalid(field: str, problem: str) -> BridgeError:
    """INVALID_ARGUMENT naming the field, e.g. ``invalid("lease.merchant_id", "is required")``."""
    return BridgeError(Cause.INVALID_ARGUMENT, f"{field} {problem}", field=field)
