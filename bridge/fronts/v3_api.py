"""Actions Center's v3 booking API on the core, in v3 protobuf messages.

The REST front turns JSON into these messages and back; the v2 gRPC front translates its
messages into these. Business failures come back in ``booking_failure``; everything else
is raised as BridgeError for the transport to render.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from google.protobuf.message import DecodeError

from .._proto import booking_v3_pb2 as pb
from ..core import Booking, BookingCore, BookingStatus, Client, Slot
from ..failures import BridgeError, Cause, invalid
from . import _calllog
from . import _checks as check

_STATUS = {BookingStatus.CONFIRMED: pb.CONFIRMED, BookingStatus.CANCELED: pb.CANCELED}
_ADDRESS_FIELDS = frozenset(pb.PostalAddress.DESCRIPTOR.fields_by_name)
MAX_PARTY = 1000


class V3Api:
    def __init__(self, core: BookingCore, *, front: str, availability_budget: float):
        self._core = core
        # Idempotency tokens and lease references are the caller's names: keep each
        # front's apart from the others'.
        self._scope = front
        self._budget = availability_budget

    async def batch_availability_lookup(self, request: pb.BatchAvailabilityLookupRequest) -> pb.BatchAvailabilityLookupResponse:
        merchant = check.required("merchant_id", request.merchant_id)
        slots = [_slot_time(merchant, f"slot_time[{i}]", st) for i, st in enumerate(request.slot_time)]
        answers = await self._core.check_availability(slots, self._budget)
        return pb.BatchAvailabilityLookupResponse(
            slot_time_availability=[
                pb.SlotTimeAvailability(slot_time=st, available=ok) for st, ok in zip(request.slot_time, answers, strict=True)
            ]
        )

    async def check_availability(self, request: pb.CheckAvailabilityRequest) -> pb.CheckAvailabilityResponse:
        slot = _slot("slot", request.slot, present=request.HasField("slot"))
        with check.fields_named(_slot_names("slot")):
            [available] = await self._core.check_availability([slot], self._budget, strict=True)
        return pb.CheckAvailabilityResponse(slot=request.slot, count_available=int(available))

    async def create_lease(self, request: pb.CreateLeaseRequest) -> pb.CreateLeaseResponse:
        msg = request.lease
        slot = _slot("lease.slot", msg.slot, present=msg.HasField("slot"))
        reference = check.required("lease.user_reference", msg.user_reference)
        requested = _start("lease.lease_expiration_time_sec", msg.lease_expiration_time_sec) if msg.lease_expiration_time_sec else None
        names = {**_slot_names("lease.slot"), "client_reference": "lease.user_reference",
                 "lease_expiration_time": "lease.lease_expiration_time_sec"}
        try:
            with check.fields_named(names):
                lease = await self._core.create_lease(slot, f"{self._scope}:{reference}", requested)
        except BridgeError as exc:
            return pb.CreateLeaseResponse(booking_failure=business(exc))
        assert lease.expires_at is not None
        out = pb.Lease(lease_id=lease.lease_id, user_reference=msg.user_reference,
                       lease_expiration_time_sec=int(lease.expires_at.timestamp()))
        out.slot.CopyFrom(msg.slot)
        return pb.CreateLeaseResponse(lease=out)

    async def create_booking(self, request: pb.CreateBookingRequest) -> pb.CreateBookingResponse:
        token = check.required("idempotency_token", request.idempotency_token)
        if not request.HasField("user_information"):
            raise invalid("user_information", "is required")
        client = _client(request.user_information)
        lease_id = request.lease_ref.lease_id if request.HasField("lease_ref") else ""
        slot = None if lease_id else _slot("slot", request.slot, present=request.HasField("slot"))
        fingerprint = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()

        def render(booking: Booking) -> bytes:
            return pb.CreateBookingResponse(booking=render_booking(booking)).SerializeToString(deterministic=True)

        try:
            with check.fields_named(_slot_names("slot")):
                body = await self._core.create_booking_once(
                    f"{self._scope}:{token}", fingerprint, client, render, lease_id=lease_id or None, slot=slot
                )
        except BridgeError as exc:
            if exc.cause is Cause.NOT_FOUND and exc.field == "lease_id":
                # v2/v3 keep transport errors for malformed requests: a lease that is not
                # (or no longer) valid is the caller's business outcome.
                exc = BridgeError(Cause.LEASE_EXPIRED, exc.message, field="lease_ref.lease_id")
            return pb.CreateBookingResponse(booking_failure=business(exc))
        return pb.CreateBookingResponse.FromString(body)

    async def update_booking(self, request: pb.UpdateBookingRequest) -> pb.UpdateBookingResponse:
        msg = request.booking
        booking_id = check.required("booking.booking_id", msg.booking_id)
        slot = msg.slot
        moves = slot.start_sec or slot.duration_sec or slot.resources.party_size
        try:
            if msg.status == pb.CANCELED and not moves:
                booking = await self._core.cancel_booking(booking_id)
            elif msg.status in (pb.BOOKING_STATUS_UNSPECIFIED, pb.CONFIRMED) and moves:
                start = _start("booking.slot.start_sec", slot.start_sec) if slot.start_sec else None
                length = _length("booking.slot.duration_sec", slot.duration_sec) if slot.duration_sec else None
                party = _party("booking.slot.resources.party_size", slot.resources.party_size) or None
                with check.fields_named(_slot_names("booking.slot")):
                    booking = await self._core.reschedule_booking(booking_id, start, length, party)
            elif msg.status not in (pb.BOOKING_STATUS_UNSPECIFIED, pb.CONFIRMED, pb.CANCELED):
                raise invalid("booking.status", "can only be changed to CANCELED")
            else:
                raise invalid("booking", "must set status CANCELED, or a new slot start, duration or party size")
        except BridgeError as exc:
            return pb.UpdateBookingResponse(booking_failure=business(exc))
        return pb.UpdateBookingResponse(booking=render_booking(booking))

    async def get_booking_status(self, request: pb.GetBookingStatusRequest) -> pb.GetBookingStatusResponse:
        booking_id = check.required("booking_id", request.booking_id)
        booking = await self._core.booking_status(booking_id)
        return pb.GetBookingStatusResponse(
            booking_id=booking.booking_id,
            booking_status=_STATUS.get(booking.status, pb.BOOKING_STATUS_UNSPECIFIED),
            prepayment_status=pb.PREPAYMENT_NOT_PROVIDED,
        )

    async def list_bookings(self, request: pb.ListBookingsRequest) -> pb.ListBookingsResponse:
        user_id = check.required("user_id", request.user_id)
        bookings = await self._core.list_bookings(user_id)
        return pb.ListBookingsResponse(bookings=[render_booking(b) for b in bookings])

    async def healthy(self) -> bool:
        return await self._core.upstream_healthy()


def without_customer(body: bytes) -> bytes | None:
    """A stored CreateBooking answer, as ``create_booking`` renders it, with the customer
    left out: retention keeps replays answering, byte-stable from then on, without keeping
    the person. None when the bytes are not such an answer (the store then drops them)."""
    try:
        answer = pb.CreateBookingResponse.FromString(body)
    except DecodeError:
        return None
    if answer.HasField("booking"):
        answer.booking.ClearField("user_information")
    return answer.SerializeToString(deterministic=True)


def business(exc: BridgeError) -> pb.BookingFailure:
    """The failure as booking_failure, or the exception again when it is not a business one."""
    if not exc.cause.is_business_failure:
        raise exc
    _calllog.note(exc)  # answered OK, but the call's log line and metrics name the cause
    return pb.BookingFailure(cause=pb.BookingFailure.Cause.Value(exc.cause.name), description=exc.message)


def render_booking(booking: Booking) -> pb.Booking:
    slot, client = booking.slot, booking.client
    out = pb.Booking(
        booking_id=booking.booking_id,
        status=_STATUS.get(booking.status, pb.BOOKING_STATUS_UNSPECIFIED),
        slot=pb.Slot(
            merchant_id=slot.merchant_id,
            service_id=slot.service_id,
            start_sec=int(slot.start.timestamp()),
            duration_sec=int(slot.duration.total_seconds()),
            availability_tag=slot.availability_tag,
            resources=pb.ResourceIds(staff_id=slot.staff_id, room_id=slot.room_id, party_size=slot.party_size),
        ),
        user_information=pb.UserInformation(
            user_id=client.user_id,
            given_name=client.given_name,
            family_name=client.family_name,
            telephone=client.telephone,
            email=client.email,
        ),
        payment_information=pb.PaymentInformation(prepayment_status=pb.PREPAYMENT_NOT_PROVIDED),
    )
    address = {k: v for k, v in client.address if k in _ADDRESS_FIELDS}
    if address:
        out.user_information.address.CopyFrom(pb.PostalAddress(**address))
    return out


def _slot(field: str, msg: pb.Slot, *, present: bool) -> Slot:
    if not present:
        raise invalid(field, "is required")
    return Slot(
        merchant_id=check.required(f"{field}.merchant_id", msg.merchant_id),
        service_id=check.required(f"{field}.service_id", msg.service_id),
        start=_start(f"{field}.start_sec", msg.start_sec),
        duration=_length(f"{field}.duration_sec", msg.duration_sec),
        staff_id=check.bounded(f"{field}.resources.staff_id", msg.resources.staff_id, check.MAX_ID),
        room_id=check.bounded(f"{field}.resources.room_id", msg.resources.room_id, check.MAX_ID),
        availability_tag=check.bounded(f"{field}.availability_tag", msg.availability_tag, check.MAX_TAG),
        party_size=_party(f"{field}.resources.party_size", msg.resources.party_size) or 1,
    )


def _slot_time(merchant_id: str, field: str, msg: pb.SlotTime) -> Slot:
    return Slot(
        merchant_id=merchant_id,
        service_id=check.required(f"{field}.service_id", msg.service_id),
        start=_start(f"{field}.start_sec", msg.start_sec),
        duration=_length(f"{field}.duration_sec", msg.duration_sec),
        staff_id=check.bounded(f"{field}.resource_ids.staff_id", msg.resource_ids.staff_id, check.MAX_ID),
        room_id=check.bounded(f"{field}.resource_ids.room_id", msg.resource_ids.room_id, check.MAX_ID),
        party_size=_party(f"{field}.resource_ids.party_size", msg.resource_ids.party_size) or 1,
    )


def _client(msg: pb.UserInformation) -> Client:
    prefix = "user_information"
    return Client(
        user_id=check.required(f"{prefix}.user_id", msg.user_id),
        given_name=check.required(f"{prefix}.given_name", msg.given_name, check.MAX_NAME),
        family_name=check.required(f"{prefix}.family_name", msg.family_name, check.MAX_NAME),
        email=check.email(f"{prefix}.email", msg.email),
        telephone=check.telephone(f"{prefix}.telephone", msg.telephone),
        address=tuple(
            (f.name, check.bounded(f"{prefix}.address.{f.name}", value, check.MAX_NAME))
            for f, value in msg.address.ListFields()
        ),
    )


def _start(field: str, seconds: int) -> dt.datetime:
    if seconds == 0:
        raise invalid(field, "is required")
    return check.epoch(field, seconds)


def _length(field: str, seconds: int) -> dt.timedelta:
    if seconds == 0:
        raise invalid(field, "is required")
    return check.seconds(field, seconds)


def _party(field: str, size: int) -> int:
    if not 0 <= size <= MAX_PARTY:
        raise invalid(field, f"must be between 1 and {MAX_PARTY}")
    return size


def _slot_names(prefix: str) -> dict[str, str]:
    """The core's neutral field names, as a v3 Slot under ``prefix`` calls them."""
    return {
        "merchant_id": f"{prefix}.merchant_id",
        "service_id": f"{prefix}.service_id",
        "staff_id": f"{prefix}.resources.staff_id",
        "start_time": f"{prefix}.start_sec",
        "party_size": f"{prefix}.resources.party_size",
    }
