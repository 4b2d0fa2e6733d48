"""The fake Google's handlers: the token endpoint, booking notifications, availability replace.

Accepted calls are recorded (``Notification``, ``Replacement``) and replaces are applied
to a small inventory, so a test can check both what was sent and what it left published.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..clock import Clock
from . import google_parse as parse
from .google_auth import GoogleTokens
from .google_errors import ApiError, invalid

MASKABLE = ("status", "startTime", "duration", "partySize")
# Sent with every notification whatever the mask says.
ALWAYS = frozenset({"name", "merchantId", "serviceId"})
_STATUS = re.compile(r"[A-Z][A-Z_]*")


@dataclass(frozen=True)
class Notification:
    booking_id: str
    mask: tuple[str, ...]
    body: dict[str, Any]
    at: dt.datetime


@dataclass(frozen=True)
class Replacement:
    entries: tuple[dict[str, Any], ...]
    at: dt.datetime

    @property
    def slot_count(self) -> int:
        return sum(len(entry.get("availability", [])) for entry in self.entries)


class Inventory:
    """What the replaces so far have left published, per (merchant, service)."""

    def __init__(self) -> None:
        self._slots: dict[tuple[str, str], list[parse.PublishedSlot]] = {}

    def replace(self, restrict: parse.Restriction, slots: list[parse.PublishedSlot]) -> None:
        key = (restrict.merchant_id, restrict.service_id)
        kept = [s for s in self._slots.get(key, []) if not restrict.covers(s)]
        self._slots[key] = kept + slots

    def published(self, merchant_id: str, service_id: str) -> list[parse.PublishedSlot]:
        return sorted(self._slots.get((merchant_id, service_id), []), key=lambda s: (s.start, s.staff_id))


class GoogleApi:
    def __init__(
        self,
        *,
        clock: Clock,
        tokens: GoogleTokens,
        partner_id: str,
        token_uri: Callable[[], str],
        known_bookings: Callable[[], set[str] | None],
        max_slots_per_call: int,
    ):
        self._clock = clock
        self._tokens = tokens
        self._partner = partner_id
        self._token_uri = token_uri
        self._known_bookings = known_bookings
        self._max_slots = max_slots_per_call
        self.notifications: list[Notification] = []
        self.replacements: list[Replacement] = []
        self.inventory = Inventory()

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        answer = self._tokens.issue(form, self._token_uri())
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    async def notify(self, request: web.Request) -> web.Response:
        self._check_partner(request)
        booking_id = request.match_info["booking"]
        mask = _mask(request.query.get("updateMask"))
        body = parse.json_object(await request.read())
        expected_name = f"partners/{self._partner}/bookings/{booking_id}"
        if body.get("name") != expected_name:
            raise invalid("name", f"must be {expected_name!r}, the booking the path names")
        parse.text(body.get("merchantId"), "merchantId")
        parse.text(body.get("serviceId"), "serviceId")
        for field in mask:
            if field not in body:
                raise invalid(field, "named in updateMask but missing from the body")
        extra = sorted(set(body) - ALWAYS - set(mask))
        if extra:
            raise invalid(extra[0], "set in the body but not named in updateMask")
        _check_fields(body)
        known = self._known_bookings()
        if known is not None and booking_id not in known:
            raise ApiError(404, f"booking {expected_name} not found")
        self.notifications.append(Notification(booking_id, mask, body, self._clock.now()))
        # Google answers with the booking; the bridge reads nothing from it.
        return web.json_response(body)

    async def replace(self, request: web.Request) -> web.Response:
        self._check_partner(request)
        body = parse.json_object(await request.read())
        if set(body) - {"extendedServiceAvailability"}:
            raise invalid(sorted(set(body) - {"extendedServiceAvailability"})[0], "unknown name")
        entries = body.get("extendedServiceAvailability")
        if not isinstance(entries, list) or not entries:
            raise invalid("extendedServiceAvailability", "required non-empty array")
        # Every entry is checked before any is applied: a refused call changes nothing.
        parsed = []
        for i, entry in enumerate(entries):
            field = f"extendedServiceAvailability[{i}]"
            restrict = parse.restriction(entry, field)
            parsed.append((restrict, parse.slots(entry, restrict, field)))
        count = sum(len(slots) for _, slots in parsed)
        if count > self._max_slots:
            raise invalid("extendedServiceAvailability", f"{count} slots in one call; at most {self._max_slots}")
        for restrict, slots in parsed:
            self.inventory.replace(restrict, slots)
        self.replacements.append(Replacement(tuple(entries), self._clock.now()))
        return web.json_response({"extendedServiceAvailability": entries})

    def _check_partner(self, request: web.Request) -> None:
        if request.match_info["partner"] != self._partner:
            raise ApiError(403, f"the caller may not act for partner {request.match_info['partner']}")


def _mask(value: str | None) -> tuple[str, ...]:
    if not value:
        raise invalid("updateMask", "required; name the fields this notification changes")
    mask = tuple(value.split(","))
    for field in mask:
        if field not in MASKABLE:
            raise invalid("updateMask", f"{field!r} is not a field a notification may change")
    if len(set(mask)) != len(mask):
        raise invalid("updateMask", "names a field twice")
    return mask


def _check_fields(body: dict[str, Any]) -> None:
    if "status" in body and not _STATUS.fullmatch(parse.text(body["status"], "status")):
        raise invalid("status", "must be a BookingStatus name such as CANCELED")
    if "startTime" in body:
        parse.instant(body["startTime"], "startTime")
    if "duration" in body:
        parse.duration(body["duration"], "duration")
    if "partySize" in body:
        parse.int64(body["partySize"], "partySize", minimum=1)
