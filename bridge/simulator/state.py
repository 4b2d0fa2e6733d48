"""The tenant's appointments and the rules that change them.

Every operation here is synchronous: it runs between two awaits of the event loop, so a
check and the change it guards happen with no other request in between. That is what
makes twenty concurrent holds on one slot yield exactly one winner, without a lock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from ..clock import Clock
from . import errors, seed
from .errors import invalid
from .grid import UTC, SlotGrid
from .parse import HoldRequest

RESERVED = "RESERVED"
CONFIRMED = "CONFIRMED"
CANCELLED = "CANCELLED"
FINALIZED = "FINALIZED"  # the visit happened (or was marked a no-show) at the branch

Slot = tuple[dt.datetime, dt.datetime]


@dataclass
class Appointment:
    id: str
    status: str
    branch_id: str
    service_id: str
    resource_id: str
    start: dt.datetime  # UTC
    end: dt.datetime  # UTC
    number_of_reservations: int
    created_at: dt.datetime
    expires_at: dt.datetime  # only meaningful while RESERVED
    customer: dict[str, str | None] | None = None
    notes: str | None = None

    def is_expired_hold(self, now: dt.datetime) -> bool:
        return self.status == RESERVED and now >= self.expires_at

    def blocks(self, now: dt.datetime) -> bool:
        return self.status in (CONFIRMED, FINALIZED) or (self.status == RESERVED and now < self.expires_at)


class State:
    def __init__(self, clock: Clock, *, hold_ttl: dt.timedelta, cancellation_cutoff: dt.timedelta):
        self.clock = clock
        self.hold_ttl = hold_ttl
        self.cancellation_cutoff = cancellation_cutoff
        self.grid = SlotGrid(clock.now())
        self.appointments: dict[str, Appointment] = {}

    # -- catalogue checks --------------------------------------------------------------

    def offering(self, service_id: str, branch_id: str, resource_id: str | None) -> tuple[str, ...]:
        """The resources that may take the booking, or a 400 naming the bad field."""
        if service_id not in seed.SERVICES:
            raise invalid("serviceId", "unknown service")
        if branch_id not in seed.BRANCHES:
            raise invalid("branchId", "unknown branch")
        resources = seed.resources_for(branch_id, service_id)
        if not resources:
            raise invalid("branchId", "service not offered at this branch")
        if resource_id is None:
            return resources
        if resource_id not in resources:
            raise invalid("requestedResourceId", "resource does not serve this service here")
        return (resource_id,)

    def check_party(self, service_id: str, number: int) -> None:
        maximum = seed.SERVICES[service_id].max_reservations
        if number > maximum:
            raise errors.too_many(maximum)

    # -- slots -------------------------------------------------------------------------

    def free_slots(
        self, service_id: str, branch_id: str, day: dt.date, resources: tuple[str, ...]
    ) -> list[Slot]:
        now = self.clock.now()
        busy = [a for a in self.appointments.values() if a.resource_id in resources and a.blocks(now)]
        return [
            (start, end)
            for start, end in self.grid.grid(branch_id, service_id, day)
            if start > now and any(_free(r, start, end, busy) for r in resources)
        ]

    def hold(self, req: HoldRequest) -> Appointment:
        resources = self.offering(req.service_id, req.branch_id, req.resource_id)
        self.check_party(req.service_id, req.number)
        if not self.grid.is_slot(req.branch_id, req.service_id, req.start, req.end):
            raise invalid("timeSlot", "not a time slot of this service in the bookable week")
        now = self.clock.now()
        start, end = req.start.astimezone(UTC), req.end.astimezone(UTC)
        if start <= now:
            raise invalid("timeSlot.startTime", "must be in the future")
        busy = [a for a in self.appointments.values() if a.resource_id in resources and a.blocks(now)]
        resource = next((r for r in resources if _free(r, start, end, busy)), None)
        if resource is None:
            raise errors.slot_taken()
        hold = Appointment(
            id=str(uuid.uuid4()),
            status=RESERVED,
            branch_id=req.branch_id,
            service_id=req.service_id,
            resource_id=resource,
            start=start,
            end=end,
            number_of_reservations=req.number,
            created_at=now,
            expires_at=now + self.hold_ttl,
            notes=req.notes,
        )
        self.appointments[hold.id] = hold
        return hold

    # -- holds -------------------------------------------------------------------------

    def confirm(self, appointment_id: str, customer: dict[str, str | None]) -> Appointment:
        appt = self._live_hold(appointment_id, "reservation")
        appt.status = CONFIRMED
        appt.customer = customer
        return appt

    def release(self, appointment_id: str) -> None:
        appt = self._find(appointment_id, "reservation")
        if appt.status == CONFIRMED:
            raise errors.already_confirmed()
        if appt.status != RESERVED or appt.is_expired_hold(self.clock.now()):
            raise errors.not_found("reservation")
        del self.appointments[appointment_id]

    # -- appointments ------------------------------------------------------------------

    def get(self, appointment_id: str) -> Appointment:
        appt = self._find(appointment_id)
        if appt.is_expired_hold(self.clock.now()):
            raise errors.not_found()
        return appt

    def cancel(self, appointment_id: str) -> None:
        appt = self._booked(appointment_id)
        if appt.start - self.clock.now() < self.cancellation_cutoff:
            raise errors.too_late()
        appt.status = CANCELLED

    def cancel_at_branch(self, appointment_id: str) -> None:
        """Staff cancel at the counter: no cut-off applies. KeyError for an unknown id."""
        appt = self.appointments[appointment_id]
        if appt.status == RESERVED:
            raise ValueError("a hold is released, not cancelled")
        appt.status = CANCELLED

    def finalize_at_branch(self, appointment_id: str) -> None:
        """Staff close the visit. KeyError for an unknown id."""
        appt = self.appointments[appointment_id]
        if appt.status != CONFIRMED:
            raise ValueError("only a confirmed appointment is finalized")
        appt.status = FINALIZED

    def move_at_branch(self, appointment_id: str, start: dt.datetime, end: dt.datetime | None = None) -> None:
        """Staff move the visit (or change its length), whatever the grid says. KeyError
        for an unknown id."""
        appt = self.appointments[appointment_id]
        if appt.status != CONFIRMED:
            raise ValueError("only a confirmed appointment is moved")
        appt.start, appt.end = start, end or start + (appt.end - appt.start)

    def resize_at_branch(self, appointment_id: str, number_of_reservations: int) -> None:
        """Staff change how many people come. KeyError for an unknown id."""
        appt = self.appointments[appointment_id]
        if appt.status != CONFIRMED:
            raise ValueError("only a confirmed appointment is resized")
        appt.number_of_reservations = number_of_reservations

    def update_customer(self, appointment_id: str, customer: dict[str, str | None]) -> None:
        self._booked(appointment_id).customer = customer

    def reschedule(self, appointment_id: str, reservation_id: str) -> Appointment:
        appt = self._booked(appointment_id)
        hold = self._live_hold(reservation_id, "reservation")
        if hold.service_id != appt.service_id:
            raise invalid("reservationId", "reservation is for a different service")
        # The appointment moves onto the hold's slot, resource, branch and party size (a
        # party-size change is a reschedule onto a hold of the new size); the hold is spent.
        appt.branch_id, appt.resource_id = hold.branch_id, hold.resource_id
        appt.start, appt.end = hold.start, hold.end
        appt.number_of_reservations = hold.number_of_reservations
        del self.appointments[hold.id]
        return appt

    def search(self, personal_identifier: str) -> list[Appointment]:
        found = [
            a
            for a in self.appointments.values()
            if a.status in (CONFIRMED, CANCELLED, FINALIZED)
            and a.customer is not None
            and a.customer.get("personalIdentifier") == personal_identifier
        ]
        return sorted(found, key=lambda a: (a.start, a.id))

    # -- lookups -----------------------------------------------------------------------

    def _find(self, appointment_id: str, what: str = "appointment") -> Appointment:
        appt = self.appointments.get(appointment_id)
        if appt is None:
            raise errors.not_found(what)
        return appt

    def _live_hold(self, appointment_id: str, what: str) -> Appointment:
        """A hold that can still be confirmed or rescheduled onto."""
        appt = self._find(appointment_id, what)
        if appt.status == CONFIRMED:
            raise errors.already_confirmed()
        if appt.status != RESERVED:
            raise errors.not_found(what)
        if appt.is_expired_hold(self.clock.now()):
            raise errors.expired()
        return appt

    def _booked(self, appointment_id: str) -> Appointment:
        """A confirmed appointment; a hold is not one yet, so it is not found."""
        appt = self._find(appointment_id)
        if appt.status == CANCELLED:
            raise errors.already_cancelled()
        if appt.status == FINALIZED:
            raise errors.finalized()
        if appt.status != CONFIRMED:
            raise errors.not_found()
        return appt


def _free(resource_id: str, start: dt.datetime, end: dt.datetime, busy: list[Appointment]) -> bool:
    return not any(a.resource_id == resource_id and a.start < end and start < a.end for a in busy)
