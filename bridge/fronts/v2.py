"""The v2 gRPC front: ext.maps.booking.partner.v2.BookingService.

v2 differs from v3 in encoding, not in meaning, so each request is translated into its v3
message, served by the same V3Api, and the answer translated back. The differences:
times are Timestamp/Duration, PostalAddress keeps v0's field names and numbers,
BookingStatus is numbered differently, and UpdateBooking may carry an update_mask.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from .._proto import booking_v2_pb2 as v2
from .._proto import booking_v3_pb2 as v3
from ..errortable import V2_STATUS
from ..failures import invalid
from . import _checks as check
from .grpc_support import rpc
from .v3_api import V3Api

SERVICE = "ext.maps.booking.partner.v2.BookingService"

# v2 PostalAddress field ↔ v3 PostalAddress field; post_office_box_number has no v3 home.
_ADDRESS = {
    "address_country": "country",
    "address_locality": "locality",
    "address_region": "region",
    "postal_code": "postal_code",
    "street_address": "street_address",
}
_TIME_FIELDS = {"start_sec": "start_time", "duration_sec": "duration"}
_RESCHEDULE_PATHS = frozenset({"slot.start_time", "slot.duration", "slot.resources.party_size"})


class V2BookingService:
    def __init__(self, api: V3Api, *, default_deadline: float = 10.0):
        self._api = api
        self.default_deadline = default_deadline

    @staticmethod
    def field_name(v3_name: str) -> str:
        """Fields in errors, as a v2 caller sent them: a v2 Slot has Timestamp/Duration."""
        base, _, last = v3_name.rpartition(".")
        if base.endswith("slot") and last in _TIME_FIELDS:
            return f"{base}.{_TIME_FIELDS[last]}"
        if last == "lease_expiration_time_sec":
            return f"{base}.lease_expiration_time"
        return v3_name

    @rpc(SERVICE, V2_STATUS)
    async def CreateLease(self, request: v2.CreateLeaseRequest, context: grpc.aio.ServicerContext) -> v2.CreateLeaseResponse:
        msg = request.lease
        lease = v3.Lease(user_reference=msg.user_reference)
        if msg.HasField("lease_expiration_time"):
            lease.lease_expiration_time_sec = msg.lease_expiration_time.seconds
        if msg.HasField("slot"):
            lease.slot.CopyFrom(_slot_to_v3(msg.slot))
        answer = await self._api.create_lease(v3.CreateLeaseRequest(lease=lease))
        out = v2.CreateLeaseResponse(booking_failure=_failure(answer.booking_failure) if answer.HasField("booking_failure") else None)
        if answer.HasField("lease"):
            out.lease.lease_id = answer.lease.lease_id
            out.lease.user_reference = answer.lease.user_reference
            out.lease.slot.CopyFrom(msg.slot)
            out.lease.lease_expiration_time.FromSeconds(answer.lease.lease_expiration_time_sec)
        return out

    @rpc(SERVICE, V2_STATUS)
    async def CheckAvailability(self, request: v2.CheckAvailabilityRequest, context: grpc.aio.ServicerContext) -> v2.CheckAvailabilityResponse:
        ask = v3.CheckAvailabilityRequest()
        if request.HasField("slot"):
            ask.slot.CopyFrom(_slot_to_v3(request.slot))
        answer = await self._api.check_availability(ask)
        return v2.CheckAvailabilityResponse(slot=request.slot, count_available=answer.count_available)

    @rpc(SERVICE, V2_STATUS)
    async def BatchAvailabilityLookup(
        self, request: v2.BatchAvailabilityLookupRequest, context: grpc.aio.ServicerContext
    ) -> v2.BatchAvailabilityLookupResponse:
        # SlotTime is wire-identical in v2 and v3 (v2's Resources extends v3's ResourceIds).
        ask = v3.BatchAvailabilityLookupRequest.FromString(request.SerializeToString())
        answer = await self._api.batch_availability_lookup(ask)
        return v2.BatchAvailabilityLookupResponse(
            slot_time_availability=[
                v2.SlotTimeAvailability(slot_time=st, available=a.available)
                for st, a in zip(request.slot_time, answer.slot_time_availability, strict=True)
            ]
        )

    @rpc(SERVICE, V2_STATUS)
    async def CreateBooking(self, request: v2.CreateBookingRequest, context: grpc.aio.ServicerContext) -> v2.CreateBookingResponse:
        ask = v3.CreateBookingRequest(
            idempotency_token=request.idempotency_token,
            additional_request=request.additional_request,
        )
        if request.HasField("slot"):
            ask.slot.CopyFrom(_slot_to_v3(request.slot))
        if request.HasField("lease_ref"):
            ask.lease_ref.lease_id = request.lease_ref.lease_id
        if request.HasField("user_information"):
            ask.user_information.CopyFrom(_user_to_v3(request.user_information))
        answer = await self._api.create_booking(ask)
        if answer.HasField("booking_failure"):
            return v2.CreateBookingResponse(booking_failure=_failure(answer.booking_failure))
        return v2.CreateBookingResponse(booking=_booking_to_v2(answer.booking))

    @rpc(SERVICE, V2_STATUS)
    async def UpdateBooking(self, request: v2.UpdateBookingRequest, context: grpc.aio.ServicerContext) -> v2.UpdateBookingResponse:
        msg = request.booking
        change = v3.Booking(booking_id=msg.booking_id)
        paths = set(request.update_mask.paths)
        unsupported = paths - _RESCHEDULE_PATHS - {"status"}
        if unsupported:
            raise invalid("update_mask", f"cannot change {check.some(sorted(unsupported))}")
        # Without a mask, whatever is set is what changes (as in v3).
        if "status" in paths or (not paths and msg.status):
            change.status = _STATUS_TO_V3.get(msg.status, v3.BOOKING_STATUS_UNSPECIFIED)
        if "slot.start_time" in paths or (not paths and msg.slot.HasField("start_time")):
            change.slot.start_sec = msg.slot.start_time.seconds
        if "slot.duration" in paths or (not paths and msg.slot.HasField("duration")):
            change.slot.duration_sec = msg.slot.duration.seconds
        if "slot.resources.party_size" in paths or (not paths and msg.slot.resources.party_size):
            change.slot.resources.party_size = msg.slot.resources.party_size
        answer = await self._api.update_booking(v3.UpdateBookingRequest(booking=change))
        if answer.HasField("booking_failure"):
            return v2.UpdateBookingResponse(booking_failure=_failure(answer.booking_failure))
        return v2.UpdateBookingResponse(booking=_booking_to_v2(answer.booking))

    @rpc(SERVICE, V2_STATUS)
    async def GetBookingStatus(self, request: v2.GetBookingStatusRequest, context: grpc.aio.ServicerContext) -> v2.GetBookingStatusResponse:
        answer = await self._api.get_booking_status(v3.GetBookingStatusRequest(booking_id=request.booking_id))
        return v2.GetBookingStatusResponse(
            booking_id=answer.booking_id,
            booking_status=_STATUS_TO_V2.get(answer.booking_status, v2.BOOKING_STATUS_UNSPECIFIED),
            prepayment_status=answer.prepayment_status,
        )

    @rpc(SERVICE, V2_STATUS)
    async def ListBookings(self, request: v2.ListBookingsRequest, context: grpc.aio.ServicerContext) -> v2.ListBookingsResponse:
        answer = await self._api.list_bookings(v3.ListBookingsRequest(user_id=request.user_id))
        return v2.ListBookingsResponse(bookings=[_booking_to_v2(b) for b in answer.bookings])


_STATUS_TO_V3 = {v2.BookingStatus.Value(name): v3.BookingStatus.Value(name) for name in v2.BookingStatus.keys()}
_STATUS_TO_V2 = {v3.BookingStatus.Value(name): v2.BookingStatus.Value(name) for name in v2.BookingStatus.keys()}


def _slot_to_v3(slot: v2.Slot) -> v3.Slot:
    out = v3.Slot(merchant_id=slot.merchant_id, service_id=slot.service_id, availability_tag=slot.availability_tag)
    if slot.HasField("start_time"):
        out.start_sec = slot.start_time.seconds
    if slot.HasField("duration"):
        out.duration_sec = slot.duration.seconds
    out.resources.CopyFrom(v3.ResourceIds.FromString(slot.resources.SerializeToString()))
    return out


def _slot_to_v2(slot: v3.Slot) -> v2.Slot:
    out = v2.Slot(merchant_id=slot.merchant_id, service_id=slot.service_id, availability_tag=slot.availability_tag)
    out.start_time.CopyFrom(timestamp_pb2.Timestamp(seconds=slot.start_sec))
    out.duration.FromSeconds(slot.duration_sec)
    out.resources.CopyFrom(v2.Resources.FromString(slot.resources.SerializeToString()))
    return out


def _user_to_v3(user: v2.UserInformation) -> v3.UserInformation:
    return _user(user, v3.UserInformation(), _ADDRESS)


def _user_to_v2(user: v3.UserInformation) -> v2.UserInformation:
    return _user(user, v2.UserInformation(), {v3_name: name for name, v3_name in _ADDRESS.items()})


def _user(user: Any, out: Any, address_names: dict[str, str]) -> Any:
    # UserInformation has the same field numbers in v2 and v3, except inside the address.
    out.MergeFromString(user.SerializeToString())
    out.ClearField("address")
    for name, other in address_names.items():
        if getattr(user.address, name):
            setattr(out.address, other, getattr(user.address, name))
    return out


def _booking_to_v2(booking: v3.Booking) -> v2.Booking:
    return v2.Booking(
        booking_id=booking.booking_id,
        slot=_slot_to_v2(booking.slot),
        user_information=_user_to_v2(booking.user_information),
        status=_STATUS_TO_V2.get(booking.status, v2.BOOKING_STATUS_UNSPECIFIED),
        payment_information=v2.PaymentInformation(prepayment_status=booking.payment_information.prepayment_status),
    )


def _failure(failure: v3.BookingFailure) -> v2.BookingFailure:
    # Same fields, same numbers, same cause values.
    return v2.BookingFailure.FromString(failure.SerializeToString())
