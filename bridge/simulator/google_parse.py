"""Syntax checks of the fake Google's request bodies, as strict as proto JSON parsing.

Google refuses unknown field names, so the fake does too: a misspelt key in the bridge
fails a test rather than being silently ignored. Every failure is a 400 naming the field.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from .google_errors import invalid

_DURATION = re.compile(r"(\d+)(?:\.(\d{1,9}))?s")
_INT64 = re.compile(r"-?\d+")

SLOT_KEYS = frozenset({"startTime", "duration", "spotsTotal", "spotsOpen", "availabilityTag", "resources"})
RESOURCE_KEYS = frozenset({"staffId", "staffName", "partySize"})
ENTRY_KEYS = frozenset(
    {"merchantId", "serviceId", "startTimeRestrict", "endTimeRestrict", "durationRestrict", "resourcesRestrict", "availability"}
)


@dataclass(frozen=True)
class PublishedSlot:
    """One slot as the fake holds it after a replace."""

    start: dt.datetime
    duration: dt.timedelta
    spots_total: int
    spots_open: int
    staff_id: str = ""
    staff_name: str = ""
    party_size: int | None = None
    tag: str = ""


@dataclass(frozen=True)
class Restriction:
    """The part of a (merchant, service)'s inventory one replace entry clears."""

    merchant_id: str
    service_id: str
    start: dt.datetime
    end: dt.datetime
    duration: dt.timedelta | None
    staff_id: str | None

    def covers(self, slot: PublishedSlot) -> bool:
        return (
            self.start <= slot.start < self.end
            and (self.duration is None or slot.duration == self.duration)
            and (self.staff_id is None or slot.staff_id == self.staff_id)
        )


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid("body", "malformed JSON") from None
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    return body


def text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(field, "required non-empty string")
    return value


def instant(value: Any, field: str) -> dt.datetime:
    if not isinstance(value, str):
        raise invalid(field, "required RFC 3339 timestamp")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise invalid(field, f"not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise invalid(field, "timestamp needs Z or an offset")
    return parsed.astimezone(dt.timezone.utc)


def duration(value: Any, field: str) -> dt.timedelta:
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise invalid(field, "required duration such as \"1800s\"")
    fraction = (match.group(2) or "").ljust(9, "0")
    result = dt.timedelta(seconds=int(match.group(1)), microseconds=int(fraction) // 1000)
    if result <= dt.timedelta(0):
        raise invalid(field, "must be positive")
    return result


def int64(value: Any, field: str, *, minimum: int) -> int:
    # Proto JSON writes int64 as a string; a number is accepted as well.
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INT64.fullmatch(value):
        number = int(value)
    else:
        raise invalid(field, "required integer")
    if number < minimum:
        raise invalid(field, f"must be at least {minimum}")
    return number


def restriction(entry: Any, field: str) -> Restriction:
    if not isinstance(entry, dict):
        raise invalid(field, "must be an object")
    _known(entry, ENTRY_KEYS, field)
    start = instant(entry.get("startTimeRestrict"), f"{field}.startTimeRestrict")
    end = instant(entry.get("endTimeRestrict"), f"{field}.endTimeRestrict")
    if end <= start:
        raise invalid(f"{field}.endTimeRestrict", "must be after startTimeRestrict")
    staff_id = None
    if "resourcesRestrict" in entry:
        restrict = entry["resourcesRestrict"]
        if not isinstance(restrict, dict):
            raise invalid(f"{field}.resourcesRestrict", "must be an object")
        _known(restrict, RESOURCE_KEYS, f"{field}.resourcesRestrict")
        staff_id = text(restrict.get("staffId"), f"{field}.resourcesRestrict.staffId")
    limit = None
    if "durationRestrict" in entry:
        limit = duration(entry["durationRestrict"], f"{field}.durationRestrict")
    return Restriction(
        merchant_id=text(entry.get("merchantId"), f"{field}.merchantId"),
        service_id=text(entry.get("serviceId"), f"{field}.serviceId"),
        start=start,
        end=end,
        duration=limit,
        staff_id=staff_id,
    )


def slots(entry: dict[str, Any], restrict: Restriction, field: str) -> list[PublishedSlot]:
    listed = entry.get("availability", [])
    if not isinstance(listed, list):
        raise invalid(f"{field}.availability", "must be an array")
    return [_slot(value, restrict, f"{field}.availability[{i}]") for i, value in enumerate(listed)]


def _slot(value: Any, restrict: Restriction, field: str) -> PublishedSlot:
    if not isinstance(value, dict):
        raise invalid(field, "must be an object")
    _known(value, SLOT_KEYS, field)
    start = instant(value.get("startTime"), f"{field}.startTime")
    if not restrict.start <= start < restrict.end:
        # It would be published outside the range this entry clears, so a later replace
        # of the same range would leave it behind.
        raise invalid(f"{field}.startTime", "outside startTimeRestrict..endTimeRestrict")
    total = int64(value.get("spotsTotal"), f"{field}.spotsTotal", minimum=0)
    open_ = int64(value.get("spotsOpen"), f"{field}.spotsOpen", minimum=0)
    if open_ > total:
        raise invalid(f"{field}.spotsOpen", "must not exceed spotsTotal")
    resources = value.get("resources", {})
    if not isinstance(resources, dict):
        raise invalid(f"{field}.resources", "must be an object")
    _known(resources, RESOURCE_KEYS, f"{field}.resources")
    tag = value.get("availabilityTag", "")
    if not isinstance(tag, str):
        raise invalid(f"{field}.availabilityTag", "must be a string")
    party = resources.get("partySize")
    return PublishedSlot(
        start=start,
        duration=duration(value.get("duration"), f"{field}.duration"),
        spots_total=total,
        spots_open=open_,
        staff_id=_optional_text(resources.get("staffId"), f"{field}.resources.staffId"),
        staff_name=_optional_text(resources.get("staffName"), f"{field}.resources.staffName"),
        party_size=None if party is None else int64(party, f"{field}.resources.partySize", minimum=1),
        tag=tag,
    )


def _optional_text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    return value


def _known(value: dict[str, Any], allowed: frozenset[str], field: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise invalid(field, f"unknown name {unknown[0]!r}")
