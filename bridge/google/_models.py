"""What the bridge tells Google, as plain values: no JSON, no URLs (see ``_wire``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# The order Google's updateMask lists fields in, whichever order they were set in, so
# the same change always makes the same request.
MASK_ORDER = ("status", "startTime", "duration", "partySize")


@dataclass(frozen=True)
class BookingUpdate:
    """A change to one booking Google already knows; only the fields that are set are sent."""

    booking_id: str
    merchant_id: str
    service_id: str
    status: str | None = None
    start: datetime | None = None
    duration: timedelta | None = None
    party_size: int | None = None

    def __post_init__(self) -> None:
        _ids(booking_id=self.booking_id, merchant_id=self.merchant_id, service_id=self.service_id)
        if self.status is not None and not self.status:
            raise ValueError("status must not be empty")
        if self.start is not None:
            _aware(self.start, "start")
        if self.duration is not None:
            _positive(self.duration, "duration")
        if self.party_size is not None and self.party_size < 1:
            raise ValueError("party_size must be at least 1")
        if not self.mask:
            # An empty updateMask would be a request that changes nothing.
            raise ValueError("a BookingUpdate must set at least one of status, start, duration, party_size")

    @property
    def mask(self) -> tuple[str, ...]:
        set_ = {
            "status": self.status is not None,
            "startTime": self.start is not None,
            "duration": self.duration is not None,
            "partySize": self.party_size is not None,
        }
        return tuple(name for name in MASK_ORDER if set_[name])


@dataclass(frozen=True)
class OpenSlot:
    """One bookable start time; ``staff_id`` empty means no particular staff member."""

    start: datetime
    duration: timedelta
    spots_total: int
    spots_open: int
    staff_id: str = ""
    staff_name: str = ""
    party_size: int | None = None

    def __post_init__(self) -> None:
        _aware(self.start, "start")
        _positive(self.duration, "duration")
        if not 0 <= self.spots_open <= self.spots_total:
            raise ValueError("spots_open must be between 0 and spots_total")
        if self.party_size is not None and self.party_size < 1:
            raise ValueError("party_size must be at least 1")
        if self.staff_name and not self.staff_id:
            raise ValueError("staff_name needs a staff_id")


@dataclass(frozen=True)
class AvailabilityWindow:
    """Everything published for (merchant, service[, staff]) in [start, end) becomes ``slots``.

    An empty ``slots`` withdraws every slot of the window.
    """

    merchant_id: str
    service_id: str
    start: datetime
    end: datetime
    slots: tuple[OpenSlot, ...]
    staff_id: str = ""

    def __post_init__(self) -> None:
        _ids(merchant_id=self.merchant_id, service_id=self.service_id)
        _aware(self.start, "start")
        _aware(self.end, "end")
        if self.end <= self.start:
            raise ValueError("a window must end after it starts")
        # A list is accepted for convenience; the value stays hashable and unchangeable.
        object.__setattr__(self, "slots", tuple(self.slots))
        for slot in self.slots:
            # Google deletes only inside the window: a slot outside it would pile up
            # beside the copy published by the previous replace.
            if not self.start <= slot.start < self.end:
                raise ValueError(f"slot at {slot.start.isoformat()} lies outside the window")
            if self.staff_id and slot.staff_id != self.staff_id:
                raise ValueError("every slot of a staff member's window must name that staff member")


def _ids(**ids: str) -> None:
    for name, value in ids.items():
        if not value:
            raise ValueError(f"{name} must not be empty")


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _positive(value: timedelta, name: str) -> None:
    if value <= timedelta(0):
        raise ValueError(f"{name} must be positive")
