"""The scripted flows, one cassette each.

Where Actions Center has an operation they go through the real core (lease, booking,
cancel, reschedule), so a cassette holds exactly the upstream calls the bridge makes for
it; the rest (catalogue, release, customer update) call the upstream client directly.
Each flow ends having given back what it took. Where the upstream's answer is one the
contract (docs/upstream-contract.md) only assumes, the flow checks it and notes
a divergence in the cassette rather than failing: a divergence is what a recording is for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from ..failures import BridgeError, Cause
from ..upstream import AppointmentStatus
from ._session import Session
from ._slots import LEAD, first_day

# Qmatic documents that an unconfirmed reservation lapses after 15 minutes.
HOLD_TTL = dt.timedelta(minutes=15)
# Off every slot grid a tenant is likely to use, so the upstream must refuse the time.
OFF_GRID = dt.timedelta(minutes=7)
# When the offering lists no resources, how many holds of one slot to try before
# concluding that the slot is not exhausted by holds.
MAX_CONFLICT_HOLDS = 10


async def catalogue(s: Session) -> None:
    offerings = await s.upstream.services(s.tenant)
    groups = await s.upstream.groups(s.tenant)
    branches = await s.upstream.branches(s.tenant, s.target.service_id)
    day = first_day(s.clock.now() + LEAD, s.target)
    s.inputs["day"] = day.isoformat()
    await s.upstream.timeslots(
        s.tenant,
        service_id=s.target.service_id,
        branch_id=s.target.branch_id,
        day=day,
        resource_id=s.target.resource_id,
    )
    if not any((o.branch_id, o.service_id) == (s.target.branch_id, s.target.service_id) for o in offerings):
        s.diverge("GET /services does not list the offering the scenarios book")
    if s.target.service_id not in {service.id for service in groups.services}:
        s.diverge("GET /services/groups does not list the service in its 'services'")
    if s.target.branch_id not in {b.branch_id for b in branches}:
        s.diverge("GET /services/{serviceId} does not list the branch that offers it")


async def hold_confirm_cancel(s: Session) -> None:
    [slot] = await s.free_slots()
    lease = await s.lease(slot, "hold-confirm-cancel")
    booking = await s.book(lease)
    await s.cancel(booking)


async def hold_release(s: Session) -> None:
    [slot] = await s.free_slots()
    hold = await s.hold(slot)
    await s.release(hold.id)
    try:
        after = await s.upstream.get_appointment(s.tenant, hold.id)
    except BridgeError as exc:
        s.expect_refusal(exc, "GET /appointments/{id} of a released hold", 404, "NOT_FOUND", Cause.NOT_FOUND)
        return
    s.diverge(f"GET /appointments/{{id}} of a released hold answered it, with status {after.status.value}")
    # The core's reconciliation must read a hold that is gone as anything but RESERVED.
    if after.status is AppointmentStatus.RESERVED:
        s.diverge("GET /appointments/{id} still shows a released hold as RESERVED")


async def hold_expiry_confirm(s: Session) -> None:
    [slot] = await s.free_slots()
    lease = await s.lease(slot, "hold-expiry-confirm")
    s.inputs["waited_seconds"] = s.expiry_wait
    await s.wait_out_hold()
    try:
        booking = await s.book(lease)
    except BridgeError as exc:
        s.expect_refusal(exc, "confirm of an expired hold", 410, "RESERVATION_EXPIRED", Cause.LEASE_EXPIRED)
        return
    if s.expiry_wait >= HOLD_TTL.total_seconds():
        s.diverge(
            f"the upstream confirmed a hold {s.expiry_wait:.0f} s old; the contract says holds lapse after 15 minutes"
        )
    await s.cancel(booking)


async def reschedule(s: Session) -> None:
    first, second = await s.free_slots(2)
    booking = await s.book(await s.lease(first, "reschedule"))
    moved = await s.reschedule(booking, second)
    await s.cancel(moved)


async def customer_update(s: Session) -> None:
    [slot] = await s.free_slots()
    booking = await s.book(await s.lease(slot, "customer-update"))
    await s.upstream.update_customer(s.tenant, booking.appointment_id, s.customer.updated(booking.personal_identifier))
    appointment = await s.upstream.get_appointment(s.tenant, booking.appointment_id)
    if appointment.status is not AppointmentStatus.CONFIRMED:
        s.diverge(f"GET /appointments/{{id}} after a customer update shows {appointment.status.value}, not CONFIRMED")
    found = await s.upstream.search(s.tenant, booking.personal_identifier)
    if booking.appointment_id not in {a.id for a in found}:
        s.diverge("POST /appointments/search by personalIdentifier does not find the updated appointment")
    await s.cancel(booking)


async def slot_conflict(s: Session) -> None:
    [slot] = await s.free_slots()
    resources = len(s.choice.offering.resource_ids)
    attempts = resources + 1 if resources else MAX_CONFLICT_HOLDS
    holds = []
    for attempt in range(1, attempts + 1):
        try:
            holds.append(await s.lease(slot, f"slot-conflict-{attempt}"))
        except BridgeError as exc:
            if not holds:
                raise  # the first hold of a free slot must be granted
            s.expect_refusal(exc, "hold of a taken slot", 409, "TIMESLOT_UNAVAILABLE", Cause.SLOT_UNAVAILABLE)
            break
    else:
        s.diverge(f"{attempts} holds of one slot were all granted; expected the slot to be taken before that")
    s.inputs["granted_holds"] = len(holds)
    for lease in holds:
        assert lease.hold_id is not None
        await s.release(lease.hold_id)


async def validation_error(s: Session) -> None:
    [free] = await s.free_slots()
    slot = s.slot(free.start + OFF_GRID, free.end + OFF_GRID)
    try:
        lease = await s.lease(slot, "validation-error")
    except BridgeError as exc:
        s.expect_refusal(exc, "hold of a time that is not a slot", 400, "VALIDATION_ERROR", Cause.INVALID_ARGUMENT)
        return
    s.diverge("the upstream held a time that is not one of its slots")
    assert lease.hold_id is not None
    await s.release(lease.hold_id)


Scenario = Callable[[Session], Awaitable[None]]

SCENARIOS: dict[str, Scenario] = {
    "catalogue": catalogue,
    "hold_confirm_cancel": hold_confirm_cancel,
    "hold_release": hold_release,
    "hold_expiry_confirm": hold_expiry_confirm,
    "reschedule": reschedule,
    "customer_update": customer_update,
    "slot_conflict": slot_conflict,
    "validation_error": validation_error,
}
