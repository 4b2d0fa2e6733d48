"""The only code that knows the Maps Booking API's paths and JSON (v1alpha).

Proto JSON conventions: camelCase keys, times as RFC 3339 in UTC, durations as
seconds with an ``s`` suffix, and int64 fields as strings (Google accepts numbers
too, but a string is never misread).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from ._models import AvailabilityWindow, BookingUpdate, OpenSlot

# Where the ids go, for logs: ids are left out of log lines.
NOTIFICATION_PATH = "/v1alpha/notification/partners/{partner}/bookings/{booking}"
REPLACE_PATH = "/v1alpha/inventory/partners/{partner}/availability:replace"

# Google's error text goes into our exception messages; one short line.
MAX_GOOGLE_TEXT = 300


def notification_url(base_url: str, partner_id: str, update: BookingUpdate) -> str:
    path = NOTIFICATION_PATH.format(partner=_segment(partner_id), booking=_segment(update.booking_id))
    # The mask names are fixed identifiers, and a literal comma is how Google writes
    # a FieldMask in a query string.
    return f"{base_url}{path}?updateMask={','.join(update.mask)}"


def notification_body(partner_id: str, update: BookingUpdate) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"partners/{partner_id}/bookings/{update.booking_id}",
        "merchantId": update.merchant_id,
        "serviceId": update.service_id,
    }
    if update.status is not None:
        body["status"] = update.status
    if update.start is not None:
        body["startTime"] = rfc3339(update.start)
    if update.duration is not None:
        body["duration"] = seconds(update.duration)
    if update.party_size is not None:
        body["partySize"] = str(update.party_size)
    return body


def replace_url(base_url: str, partner_id: str) -> str:
    return base_url + REPLACE_PATH.format(partner=_segment(partner_id))


def replace_body(windows: Sequence[AvailabilityWindow]) -> dict[str, Any]:
    return {"extendedServiceAvailability": [_entry(w) for w in windows]}


def _entry(window: AvailabilityWindow) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "merchantId": window.merchant_id,
        "serviceId": window.service_id,
        "startTimeRestrict": rfc3339(window.start),
        "endTimeRestrict": rfc3339(window.end),
    }
    if window.staff_id:
        entry["resourcesRestrict"] = {"staffId": window.staff_id}
    entry["availability"] = [_slot(s) for s in window.slots]
    return entry


def _slot(slot: OpenSlot) -> dict[str, Any]:
    out: dict[str, Any] = {
        "startTime": rfc3339(slot.start),
        "duration": seconds(slot.duration),
        "spotsTotal": str(slot.spots_total),
        "spotsOpen": str(slot.spots_open),
    }
    resources: dict[str, Any] = {}
    if slot.staff_id:
        resources["staffId"] = slot.staff_id
    if slot.staff_name:
        resources["staffName"] = slot.staff_name
    if slot.party_size is not None:
        resources["partySize"] = str(slot.party_size)
    if resources:
        out["resources"] = resources
    return out


def rfc3339(moment: datetime) -> str:
    utc = moment.astimezone(timezone.utc)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def seconds(span: timedelta) -> str:
    whole, micro = divmod(span // timedelta(microseconds=1), 1_000_000)
    return f"{whole}s" if not micro else f"{whole}.{micro:06d}".rstrip("0") + "s"


def google_error(response: httpx.Response) -> tuple[str, str]:
    """``(status name, message)`` of ``{"error": {"code", "message", "status"}}``; empty
    strings for whatever the answer lacks (a proxy's HTML page, say)."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    status, message = error.get("status"), error.get("message")
    return (
        one_line(status) if isinstance(status, str) else "",
        one_line(message) if isinstance(message, str) else "",
    )


def one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_GOOGLE_TEXT else text[: MAX_GOOGLE_TEXT - 1] + "…"


def _segment(value: str) -> str:
    # An id holding "/" or "?" must stay one path segment, not reach another resource.
    return quote(value, safe="")
