"""Syntax checks on request bodies and query strings; meaning is checked by State.

Every failure is a 400 VALIDATION_ERROR that names the offending field, never a 500.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import invalid

_PERSONAL_ID = re.compile(r"[A-Za-z0-9]{10,48}")
_PHONE = re.compile(r"[0-9 +\-]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class HoldRequest:
    service_id: str
    branch_id: str
    resource_id: str | None
    start: dt.datetime
    end: dt.datetime
    number: int
    notes: str | None


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:  # also covers bytes that are not UTF-8
        raise invalid("body", "malformed JSON") from None
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    return body


def hold_request(body: dict[str, Any]) -> HoldRequest:
    service_id = text(body.get("serviceId"), "serviceId")
    branch_id = text(body.get("branchId"), "branchId")
    resource_id = optional_text(body.get("requestedResourceId"), "requestedResourceId")
    slot = body.get("timeSlot")
    if not isinstance(slot, dict):
        raise invalid("timeSlot", "required object with startTime and endTime")
    start = instant(slot.get("startTime"), "timeSlot.startTime")
    end = instant(slot.get("endTime"), "timeSlot.endTime")
    number = count(body.get("numberOfReservations"), "numberOfReservations")
    notes = body.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise invalid("notes", "must be a string")
    return HoldRequest(service_id, branch_id, resource_id, start, end, number, notes)


def instant(value: Any, field: str) -> dt.datetime:
    if not isinstance(value, str):
        raise invalid(field, "required ISO-8601 date-time with UTC offset")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise invalid(field, "not an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        raise invalid(field, "must carry a UTC offset")
    return parsed


def day(value: str | None) -> dt.date:
    if value is None:
        raise invalid("date", "required (YYYY-MM-DD)")
    return _date(value, "date")


def count(value: Any, field: str) -> int:
    # bool is an int in Python, but `true` is not a count in JSON.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(field, "required positive integer")
    if value < 1:
        raise invalid(field, "must be at least 1")
    return value


def query_count(value: str | None, field: str) -> int:
    if value is None:
        return 1
    try:
        number = int(value)
    except ValueError:
        raise invalid(field, "must be a positive integer") from None
    return count(number, field)


def text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(field, "required")
    return value


def optional_text(value: Any, field: str) -> str | None:
    # An empty string is how many clients say "no preference"; it is not worth a 400.
    return None if value is None or value == "" else text(value, field)


def customer(obj: Any, prefix: str = "") -> dict[str, str | None]:
    """The customer fields of a confirm or customer update; ``prefix`` names the wrapper."""
    if not isinstance(obj, dict):
        raise invalid(prefix.rstrip(".") or "body", "required object")

    def field(name: str) -> str:
        return prefix + name

    personal_id = obj.get("personalIdentifier")
    if not isinstance(personal_id, str):
        raise invalid(field("personalIdentifier"), "required")
    if not _PERSONAL_ID.fullmatch(personal_id):
        raise invalid(field("personalIdentifier"), "10 to 48 characters, A-Z a-z 0-9 only")
    result: dict[str, str | None] = {"personalIdentifier": personal_id}
    for name in ("firstName", "lastName", "email"):
        result[name] = _bounded(obj.get(name), field(name), required=True)
    phone = _bounded(obj.get("phoneNumber"), field("phoneNumber"), required=False)
    if phone is not None and not _PHONE.fullmatch(phone):
        raise invalid(field("phoneNumber"), "digits, space, '+' and '-' only")
    result["phoneNumber"] = phone
    birth = obj.get("dateOfBirth")
    result["dateOfBirth"] = None if birth is None else _date(birth, field("dateOfBirth")).isoformat()
    questions = obj.get("informationQuestions")
    if questions is not None and not isinstance(questions, list):
        raise invalid(field("informationQuestions"), "must be an array")
    return result


def _bounded(value: Any, field: str, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise invalid(field, "required")
        return None
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    if required and not value:
        raise invalid(field, "required")
    if len(value) > 255:
        raise invalid(field, "at most 255 characters")
    return value


def _date(value: Any, field: str) -> dt.date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise invalid(field, "must be YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid(field, "not a calendar date") from None

