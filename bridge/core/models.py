"""What the core knows about leases and bookings: plain values, no protobuf, no JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import zoneinfo
from dataclasses import dataclass, field

# How far ahead a slot may start. Actions Center offers availability up to a year ahead;
# twice that leaves room, while a slip of the caller's (the year 2999) is refused before
# anything reaches the upstream.
BOOKING_HORIZON = dt.timedelta(days=730)


@dataclass(frozen=True)
class Slot:
    """A slot as Actions Center names it (merchant/service/staff ids, UTC start)."""

    merchant_id: str
    service_id: str
    start: dt.datetime
    duration: dt.timedelta
    staff_id: str = ""
    room_id: str = ""
    availability_tag: str = ""
    party_size: int = 1  # Qmatic's numberOfReservations

    @property
    def end(self) -> dt.datetime:
        return self.start + self.duration


@dataclass(frozen=True)
class Target:
    """Where a slot lives upstream, after mapping."""

    tenant_id: str
    branch_id: str
    service_id: str
    resource_id: str | None
    time_zone: str

    def local(self, when: dt.datetime) -> dt.datetime:
        """The instant in the branch's own offset, as Qmatic shows its times."""
        return when.astimezone(zoneinfo.ZoneInfo(self.time_zone))


@dataclass(frozen=True)
class Client:
    given_name: str
    family_name: str
    email: str
    telephone: str = ""
    # Kept only to echo back; Qmatic has no address field.
    address: tuple[tuple[str, str], ...] = ()
    # Actions Center's stable user id (v2/v3); when set, the customer's identity upstream
    # derives from it rather than from the e-mail.
    user_id: str = ""

    def __repr__(self) -> str:  # personal data stays out of logs and tracebacks
        return "Client(<redacted>)"


class LeaseState(enum.Enum):
    HOLDING = "holding"  # recorded, upstream hold requested, outcome not yet known
    HELD = "held"
    CONSUMED = "consumed"  # turned into a booking
    RELEASED = "released"  # expired or given back


@dataclass(frozen=True)
class Lease:
    lease_id: str
    client_reference: str
    slot: Slot
    target: Target
    state: LeaseState
    created_at: dt.datetime
    requested_expiration: dt.datetime | None = None
    hold_id: str | None = None
    expires_at: dt.datetime | None = None


class BookingStatus(enum.Enum):
    CONFIRMING = "confirming"  # recorded, confirm sent, outcome not yet known
    CONFIRMED = "confirmed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class PendingChange:
    """A change sent upstream whose outcome is not yet known; reconciled on the next call."""

    op: str  # "cancel" | "reschedule"
    start: dt.datetime | None = None
    duration: dt.timedelta | None = None
    hold_id: str | None = None
    party_size: int = 1


@dataclass(frozen=True)
class Booking:
    booking_id: str
    slot: Slot
    target: Target
    client: Client
    personal_identifier: str
    appointment_id: str
    status: BookingStatus
    created_at: dt.datetime
    lease_id: str | None = None
    pending: PendingChange | None = field(default=None)
    # The caller's idempotency token (v2/v3 CreateBooking), scoped by front.
    idempotency_key: str | None = None
    # Cancelled at the branch or elsewhere, not through the bridge.
    cancelled_elsewhere: bool = False


@dataclass(frozen=True)
class Notification:
    """What Google must be told of a booking that changed outside Google (at the branch),
    as Actions Center knows the booking: its merchant and service ids, and only what
    changed. A field left None did not change."""

    booking_id: str
    merchant_id: str
    service_id: str
    status: BookingStatus | None = None
    start: dt.datetime | None = None
    duration: dt.timedelta | None = None
    party_size: int | None = None
    # When the bridge learnt of the change; the delay Google sees starts no later.
    noticed_at: dt.datetime | None = None

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(name for name in ("status", "start", "duration", "party_size") if getattr(self, name) is not None)

    def then(self, later: Notification) -> Notification:
        """One notification saying both: everything either changed, at its latest value."""
        return dataclasses.replace(
            self,
            status=later.status or self.status,
            start=later.start or self.start,
            duration=later.duration or self.duration,
            party_size=later.party_size or self.party_size,
        )


def changed_at_branch(before: Booking, after: Booking, noticed_at: dt.datetime) -> Notification | None:
    """The notification for a change made outside Google, or None if Google's view holds."""
    status = after.status if after.status is not before.status and after.status is BookingStatus.CANCELED else None
    start = after.slot.start if after.slot.start != before.slot.start else None
    duration = after.slot.duration if after.slot.duration != before.slot.duration else None
    party = after.slot.party_size if after.slot.party_size != before.slot.party_size else None
    if status is None and start is None and duration is None and party is None:
        return None
    return Notification(
        booking_id=after.booking_id,
        merchant_id=after.slot.merchant_id,
        service_id=after.slot.service_id,
        status=status,
        start=start,
        duration=duration,
        party_size=party,
        noticed_at=noticed_at,
    )
