"""What a scenario works with: the bridge being recorded, and its clean-up.

Every hold and booking a scenario makes goes through here, so whatever is still open when
a scenario ends — normally nothing, after a failure perhaps something — is given back and
the operator's tenant is left as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable
from typing import Any

from ..core import Booking, BookingCore, Lease, Slot, Target
from ..failures import BridgeError, Cause, OutcomeUnknown
from ..upstream import Appointment, AppointmentStatus, QmaticClient
from ._clock import HeldBackClock, Wait
from ._inputs import Choice, FakeCustomer
from ._record import RecordingTransport
from ._slots import LEAD, Pair, free_slots

Say = Callable[[str], None]


class Session:
    def __init__(
        self,
        *,
        name: str,
        core: BookingCore,
        upstream: QmaticClient,
        scout: QmaticClient,
        choice: Choice,
        clock: HeldBackClock,
        customer: FakeCustomer,
        transport: RecordingTransport,
        wait_for_expiry: Wait,
        expiry_wait: float,
        say: Say,
        avoid: set[Pair],
    ):
        self.name = name
        self.core = core
        self.upstream = upstream
        self.choice = choice
        self.clock = clock
        self.customer = customer
        self.expiry_wait = expiry_wait
        self.say = say
        self.slots: list[Slot] = []
        self.inputs: dict[str, Any] = {}
        self.divergences: list[str] = []
        self._scout = scout
        self._transport = transport
        self._wait = wait_for_expiry
        self._avoid = avoid
        self._holds: list[str] = []
        self._unsure: list[str] = []  # appointments whose confirm had no answer
        self._bookings: dict[str, str] = {}  # booking id -> appointment id

    @property
    def tenant(self) -> str:
        return self.choice.target.tenant_id

    @property
    def target(self) -> Target:
        return self.choice.target

    # --- slots --------------------------------------------------------------------------

    async def free_slots(self, count: int = 1) -> list[Slot]:
        pairs = await free_slots(
            self._scout, self.target, after=self.clock.now() + LEAD, count=count, avoid=self._avoid
        )
        self._avoid.update(pairs)
        return [self.slot(start, end) for start, end in pairs]

    def slot(self, start: dt.datetime, end: dt.datetime) -> Slot:
        return Slot(
            merchant_id=self.choice.merchant_id, service_id=self.choice.service_id, start=start, duration=end - start
        )

    def _use(self, slot: Slot) -> None:
        # The cassette lists the slots asked for, in order, so a replay can ask for them too.
        if slot not in self.slots:
            self.slots.append(slot)

    # --- through the core ---------------------------------------------------------------

    async def lease(self, slot: Slot, reference: str) -> Lease:
        self._use(slot)
        lease = await self.core.create_lease(slot, f"cassette-{reference}")
        if lease.hold_id:
            self._holds.append(lease.hold_id)
        return lease

    async def book(self, lease: Lease) -> Booking:
        try:
            booking = await self.core.create_booking(lease.lease_id, self.customer.client())
        except OutcomeUnknown:
            # Held or booked: only the upstream knows; the clean-up asks it.
            if lease.hold_id:
                self._forget_hold(lease.hold_id)
                self._unsure.append(lease.hold_id)
            raise
        except BridgeError as exc:
            if exc.cause is Cause.LEASE_EXPIRED:
                self._forget_hold(lease.hold_id)  # gone upstream, or given back by the core
            raise
        self._forget_hold(lease.hold_id)
        self._bookings[booking.booking_id] = booking.appointment_id
        return booking

    async def cancel(self, booking: Booking) -> Booking:
        cancelled = await self.core.cancel_booking(booking.booking_id)
        self._bookings.pop(booking.booking_id, None)
        return cancelled

    async def reschedule(self, booking: Booking, slot: Slot) -> Booking:
        self._use(slot)
        return await self.core.reschedule_booking(booking.booking_id, slot.start, slot.duration)

    # --- straight to the upstream client (no core operation for these) ------------------

    async def hold(self, slot: Slot) -> Appointment:
        self._use(slot)
        zone = self.target.time_zone
        appointment = await self.upstream.hold(
            self.tenant,
            service_id=self.target.service_id,
            branch_id=self.target.branch_id,
            start=_local(slot.start, zone),
            end=_local(slot.end, zone),
            resource_id=self.target.resource_id,
        )
        self._holds.append(appointment.id)
        return appointment

    async def release(self, hold_id: str) -> None:
        await self.upstream.release(self.tenant, hold_id)
        self._forget_hold(hold_id)

    # --- time, expectations -------------------------------------------------------------

    async def wait_out_hold(self) -> None:
        self.say(f"{self.name}: waiting {self.expiry_wait:.0f} s for the upstream hold to expire")
        await self.clock.stand_still(self._wait, self.expiry_wait)

    def last_answer(self) -> tuple[int, str]:
        """Status and errorCode of the latest upstream answer."""
        if not self._transport.exchanges:
            return 0, ""
        last = self._transport.exchanges[-1]
        try:
            body = json.loads(last.response_body)
        except ValueError:
            body = None
        code = body.get("errorCode") if isinstance(body, dict) else None
        return last.status, code if isinstance(code, str) else ""

    def expect_answer(self, what: str, status: int, code: str) -> None:
        """Note it when the upstream answered other than the contract (§5) says."""
        got_status, got_code = self.last_answer()
        if (got_status, got_code) != (status, code):
            said = f"{got_status} {got_code}".strip() if got_code else f"{got_status} (no errorCode)"
            self.diverge(f"{what}: the contract expects {status} {code}, the upstream answered {said}")

    def expect_refusal(self, exc: BridgeError, what: str, status: int, code: str, cause: Cause) -> None:
        """A refusal the scenario provoked: note where it differs from the contract and from
        the cause the bridge should read in it. Trouble that is not an answer is re-raised."""
        if isinstance(exc, OutcomeUnknown) or exc.cause is Cause.UNAVAILABLE:
            raise exc
        self.expect_answer(what, status, code)
        if exc.cause is not cause:
            self.diverge(f"{what}: the bridge reads the answer as {exc.cause.name}, not {cause.name}")

    def diverge(self, note: str) -> None:
        self.divergences.append(note)

    # --- clean-up -----------------------------------------------------------------------

    async def clean_up(self) -> list[str]:
        """Give back whatever is still open; one line per thing that may be left behind."""
        left: list[str] = []
        for booking_id, appointment_id in list(self._bookings.items()):
            try:
                await self.core.cancel_booking(booking_id)
                del self._bookings[booking_id]
            except Exception as exc:  # noqa: BLE001 - every failure must be reported, none may stop the rest
                left.append(f"appointment {appointment_id} may still be booked ({describe(exc)})")
        for appointment_id in self._unsure:
            try:
                await self._give_back(appointment_id)
            except Exception as exc:  # noqa: BLE001
                left.append(f"appointment {appointment_id} may still be held or booked ({describe(exc)})")
        for hold_id in list(self._holds):
            try:
                await self.release(hold_id)
            except BridgeError as exc:
                if exc.cause not in (Cause.NOT_FOUND, Cause.LEASE_EXPIRED):
                    left.append(f"hold {hold_id} may still be held until it lapses ({describe(exc)})")
            except Exception as exc:  # noqa: BLE001
                left.append(f"hold {hold_id} may still be held until it lapses ({describe(exc)})")
        return left

    async def _give_back(self, appointment_id: str) -> None:
        """Cancel or release an appointment, whichever the upstream says it now is."""
        try:
            appointment = await self.upstream.get_appointment(self.tenant, appointment_id)
        except BridgeError as exc:
            if exc.cause is Cause.NOT_FOUND:
                return
            raise
        if appointment.status is AppointmentStatus.CONFIRMED:
            await self.upstream.cancel(self.tenant, appointment_id)
        elif appointment.status is AppointmentStatus.RESERVED:
            await self.upstream.release(self.tenant, appointment_id)

    def _forget_hold(self, hold_id: str | None) -> None:
        if hold_id in self._holds:
            self._holds.remove(hold_id)


def describe(exc: BaseException) -> str:
    if isinstance(exc, BridgeError):
        return f"{exc.cause.name}: {exc.message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _local(when: dt.datetime, zone: str) -> dt.datetime:
    """The instant in the branch's offset, as the core sends it (a hold made here must look
    like one the core makes)."""
    return when.astimezone(zoneinfo.ZoneInfo(zone))
