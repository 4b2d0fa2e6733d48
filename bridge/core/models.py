"""What the core knows about leases and bookings: plain values, no protobuf, no JSON."""

from __future__ import annotations

import datetime as dt
import enum
import zoneinfo
from dataclasses import dataclass, field


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
