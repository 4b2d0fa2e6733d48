"""The upstream's nouns, and the only code that knows Qmatic's JSON keys.

Most of the shapes here are ASSUMED (docs/upstream-contract.md §4): when a
recording against a real tenant disagrees, this file is what changes. Parsers accept
missing optional keys and unknown extra keys; they refuse only what the bridge cannot
work without (an id, a time), with ``BridgeError(INTERNAL)``.
"""

from __future__ import annotations

import datetime
import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..failures import BridgeError, Cause


class AppointmentStatus(enum.Enum):
    RESERVED = "RESERVED"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"
    FINALIZED = "FINALIZED"
    # A tenant may know states the contract does not; the core must decide, not crash.
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: object) -> AppointmentStatus:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True)
class Appointment:
    id: str
    status: AppointmentStatus
    start: datetime.datetime  # aware, UTC
    end: datetime.datetime  # aware, UTC
    branch_id: str | None = None
    service_id: str | None = None
    resource_id: str | None = None
    number_of_reservations: int = 1


@dataclass(frozen=True)
class Customer:
    # Every field is personal data: kept out of repr so it cannot leak through logs or
    # tracebacks that print the object.
    personal_identifier: str = field(repr=False)
    first_name: str = field(repr=False)
    last_name: str = field(repr=False)
    email: str = field(repr=False)
    phone: str | None = field(default=None, repr=False)
    date_of_birth: datetime.date | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Address:
    street: str = ""
    zip_code: str = ""
    city: str = ""
    country: str = ""


@dataclass(frozen=True)
class Offering:
    """One (branch, service) pair from the catalogue."""

    branch_id: str
    branch_name: str
    service_id: str
    service_name: str
    max_reservations: int
    online_bookable: bool
    resource_ids: tuple[str, ...]
    resource_required: bool
    branch_address: Address | None = None
    # (latitude, longitude)
    branch_location: tuple[float, float] | None = None
    # resource id → its name, for the resources in ``resource_ids`` that have one
    resource_names: Mapping[str, str] = field(default_factory=dict, compare=False)
    # What a booking must bring that Actions Center cannot supply.
    required_information_questions: int = 0
    screening_questions: int = 0
    date_of_birth_required: bool = False


@dataclass(frozen=True)
class ServiceSummary:
    """One service as ``GET /services/groups`` lists it."""

    id: str
    name: str
    index: int | None = None
    online_bookable: bool = True


@dataclass(frozen=True)
class ServiceGroup:
    id: str
    name: str
    services: tuple[ServiceSummary, ...] = ()


@dataclass(frozen=True)
class ServiceGroups:
    """The answer of ``GET /services/groups``: every service, and the groups they sit in."""

    services: tuple[ServiceSummary, ...]
    groups: tuple[ServiceGroup, ...]


@dataclass(frozen=True)
class ServiceBranch:
    """A branch offering one service, as ``GET /services/{serviceId}`` lists it."""

    branch_id: str
    branch_name: str
    resource_ids: tuple[str, ...]
    resource_required: bool


class Malformed(BridgeError):
    """The upstream answered 2xx with a body the bridge cannot read."""

    def __init__(self, what: str):
        super().__init__(Cause.INTERNAL, f"upstream answered with a malformed {what}")


# --- outgoing -------------------------------------------------------------------------


def wire_time(value: datetime.datetime) -> str:
    """The caller chose the branch's offset; send it as given, never a naive time."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no UTC offset")
    return value.isoformat()


def hold_body(
    *,
    service_id: str,
    branch_id: str,
    start: datetime.datetime,
    end: datetime.datetime,
    count: int,
    resource_id: str | None,
    notes: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "serviceId": service_id,
        "branchId": branch_id,
        "timeSlot": {"startTime": wire_time(start), "endTime": wire_time(end)},
        "numberOfReservations": count,
    }
    if resource_id is not None:
        body["requestedResourceId"] = resource_id
    if notes is not None:
        body["notes"] = notes
    return body


def customer_json(customer: Customer) -> dict[str, Any]:
    body: dict[str, Any] = {
        "personalIdentifier": customer.personal_identifier,
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "email": customer.email,
    }
    if customer.phone is not None:
        body["phoneNumber"] = customer.phone
    if customer.date_of_birth is not None:
        body["dateOfBirth"] = customer.date_of_birth.isoformat()
    return body


def search_body(personal_identifier: str) -> dict[str, Any]:
    return {"customer": {"personalIdentifier": personal_identifier}}


def reschedule_body(reservation_id: str) -> dict[str, Any]:
    return {"reservationId": reservation_id}


# --- incoming -------------------------------------------------------------------------


def parse_appointment(data: object) -> Appointment:
    if not isinstance(data, Mapping):
        raise Malformed("appointment (not a JSON object)")
    appointment_id = data.get("appointmentId")
    if not isinstance(appointment_id, str) or not appointment_id:
        raise Malformed("appointment (no appointmentId)")
    start, end = _slot(data.get("timeSlot"), "appointment")
    count = data.get("numberOfReservations", 1)
    if not isinstance(count, int) or isinstance(count, bool):
        raise Malformed("appointment (numberOfReservations is not a number)")
    # The contract names no resource key on an appointment; take either likely spelling.
    resource_id = _id(data.get("resource")) or _str(data.get("requestedResourceId"))
    return Appointment(
        id=appointment_id,
        status=AppointmentStatus.parse(data.get("status")),
        start=start,
        end=end,
        branch_id=_id(data.get("branch")),
        service_id=_id(data.get("service")),
        resource_id=resource_id,
        number_of_reservations=count,
    )


def parse_appointments(data: object) -> list[Appointment]:
    if not isinstance(data, list):
        raise Malformed("appointment list (not a JSON array)")
    return [parse_appointment(item) for item in data]


def parse_timeslots(data: object) -> list[tuple[datetime.datetime, datetime.datetime]]:
    if not isinstance(data, list):
        raise Malformed("timeslot list (not a JSON array)")
    return [_slot(item, "timeslot") for item in data]


def parse_offerings(data: object) -> list[Offering]:
    if not isinstance(data, list):
        raise Malformed("service list (not a JSON array)")
    return [_offering(item) for item in data]


def parse_groups(data: object) -> ServiceGroups:
    if not isinstance(data, Mapping):
        raise Malformed("service groups answer (not a JSON object)")
    groups = data.get("serviceGroups") or []
    if not isinstance(groups, list):
        raise Malformed("service groups answer (serviceGroups is not an array)")
    return ServiceGroups(
        services=_summaries(data.get("services"), "services"),
        groups=tuple(_group(item) for item in groups),
    )


def parse_service_branches(data: object) -> list[ServiceBranch]:
    if not isinstance(data, list):
        raise Malformed("service branch list (not a JSON array)")
    return [_service_branch(item) for item in data]


def _group(data: object) -> ServiceGroup:
    if not isinstance(data, Mapping):
        raise Malformed("service group (not a JSON object)")
    group_id = _str(data.get("id"))
    if not group_id:
        raise Malformed("service group (no id)")
    return ServiceGroup(
        id=group_id,
        name=_str(data.get("name")) or "",
        services=_summaries(data.get("services"), "service group services"),
    )


def _summaries(data: object, what: str) -> tuple[ServiceSummary, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise Malformed(f"{what} (not a JSON array)")
    return tuple(_summary(item) for item in data)


def _summary(data: object) -> ServiceSummary:
    if not isinstance(data, Mapping):
        raise Malformed("service (not a JSON object)")
    service_id = _str(data.get("id"))
    if not service_id:
        raise Malformed("service (no id)")
    index = data.get("index")
    return ServiceSummary(
        id=service_id,
        name=_str(data.get("name")) or "",
        index=index if isinstance(index, int) and not isinstance(index, bool) else None,
        # Absent means the tenant did not restrict it, as for an offering.
        online_bookable=bool(data.get("onlineBookable", True)),
    )


def _service_branch(data: object) -> ServiceBranch:
    if not isinstance(data, Mapping):
        raise Malformed("service branch (not a JSON object)")
    branch = _mapping(data.get("branch"))
    branch_id = _str(branch.get("id"))
    if not branch_id:
        raise Malformed("service branch (no branch.id)")
    resource_ids, required = _resources(data.get("resourceSelection"), "service branch")
    return ServiceBranch(
        branch_id=branch_id,
        branch_name=_str(branch.get("name")) or "",
        resource_ids=resource_ids,
        resource_required=required,
    )


def _resources(data: object, what: str) -> tuple[tuple[str, ...], bool]:
    selection = _mapping(data)
    resources = selection.get("availableResources") or []
    if not isinstance(resources, list):
        raise Malformed(f"{what} (availableResources is not an array)")
    return tuple(rid for rid in (_id(r) for r in resources) if rid), bool(selection.get("required", False))


def _offering(data: object) -> Offering:
    if not isinstance(data, Mapping):
        raise Malformed("service entry (not a JSON object)")
    branch = _mapping(data.get("branch"))
    service = _mapping(data.get("service"))
    branch_id, service_id = _str(branch.get("id")), _str(service.get("id"))
    if not branch_id or not service_id:
        raise Malformed("service entry (no branch.id or service.id)")
    config = _mapping(service.get("config"))
    selection = _mapping(data.get("resourceSelection"))
    resources = selection.get("availableResources") or []
    if not isinstance(resources, list):
        raise Malformed("service entry (availableResources is not an array)")
    max_reservations = config.get("maxNumberOfReservations", 1)
    if not isinstance(max_reservations, int) or isinstance(max_reservations, bool):
        raise Malformed("service entry (maxNumberOfReservations is not a number)")
    questions = data.get("informationQuestions") or []
    screening = data.get("screeningQuestions") or []
    return Offering(
        branch_id=branch_id,
        branch_name=_str(branch.get("name")) or "",
        service_id=service_id,
        service_name=_str(service.get("name")) or "",
        max_reservations=max_reservations,
        # Absent means the tenant did not restrict it; Qmatic's default is bookable.
        online_bookable=bool(config.get("onlineBookable", True)),
        resource_ids=tuple(rid for rid in (_id(r) for r in resources) if rid),
        resource_required=bool(selection.get("required", False)),
        branch_address=_address(branch.get("address")),
        branch_location=_location(branch.get("location")),
        resource_names={r["id"]: r["name"] for r in resources
                        if isinstance(r, Mapping) and _str(r.get("id")) and _str(r.get("name"))},
        required_information_questions=sum(
            1 for q in (questions if isinstance(questions, list) else []) if isinstance(q, Mapping) and q.get("required")
        ),
        screening_questions=len(screening) if isinstance(screening, list) else 0,
        # ASSUMED key: Qmatic documents that a tenant may require the date of birth, not where it says so.
        date_of_birth_required=bool(config.get("dateOfBirthRequired", False)),
    )


def _address(data: object) -> Address | None:
    if not isinstance(data, Mapping):
        return None
    return Address(
        street=_str(data.get("streetName")) or "",
        zip_code=_str(data.get("zipCode")) or "",
        city=_str(data.get("city")) or "",
        country=_str(data.get("country")) or "",
    )


def _location(data: object) -> tuple[float, float] | None:
    if not isinstance(data, Mapping):
        return None
    lat, lon = data.get("latitude"), data.get("longitude")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon)):
        return None
    return float(lat), float(lon)


def _slot(data: object, what: str) -> tuple[datetime.datetime, datetime.datetime]:
    if not isinstance(data, Mapping):
        raise Malformed(f"{what} (no timeSlot)")
    return _time(data.get("startTime"), what), _time(data.get("endTime"), what)


def _time(value: object, what: str) -> datetime.datetime:
    if not isinstance(value, str):
        raise Malformed(f"{what} (missing time)")
    try:
        return _utc(value)
    except _NoOffset:
        raise Malformed(f"{what} (time {value!r} has no UTC offset)") from None
    except ValueError:
        raise Malformed(f"{what} (unparsable time {value!r})") from None


class _NoOffset(Exception):
    pass


@functools.lru_cache(maxsize=8192)
def _utc(value: str) -> datetime.datetime:
    """An ISO 8601 time with its UTC offset, in UTC. Cached (what fails is not): the times
    of a timeslots answer repeat (a slot's end is the next one's start, and a branch's
    services share one grid), and parsing them was most of reading one."""
    parsed = datetime.datetime.fromisoformat(value)
    # A time without an offset is ambiguous; guessing a zone would shift bookings.
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _NoOffset
    return parsed.astimezone(datetime.timezone.utc)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _id(value: object) -> str | None:
    return _str(value.get("id")) if isinstance(value, Mapping) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
