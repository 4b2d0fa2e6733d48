"""Feed records in Google's JSON feed format (snake_case, as the feed specification
spells the fields): one merchant, one service, one service's availability for a day."""

from __future__ import annotations

from typing import Any

from ...google import AvailabilityWindow
from .plan import PlannedMerchant, PlannedService


def merchant(m: PlannedMerchant, default_category: str) -> dict[str, Any]:
    branch = m.branch
    record: dict[str, Any] = {
        "merchant_id": m.merchant_id,
        "name": branch.branch_name,
        "category": (m.mapping.category if m.mapping and m.mapping.category else default_category),
    }
    geo: dict[str, Any] = {}
    if branch.branch_location is not None:
        geo["latitude"], geo["longitude"] = branch.branch_location
    address = branch.branch_address
    if address is not None:
        geo["address"] = {
            "country": address.country,
            "locality": address.city,
            "postal_code": address.zip_code,
            "street_address": address.street,
        }
    record["geo"] = geo
    if m.mapping and m.mapping.telephone:
        record["telephone"] = m.mapping.telephone
    if m.mapping and m.mapping.url:
        record["url"] = m.mapping.url
    return record


def service(m: PlannedMerchant, s: PlannedService) -> dict[str, Any]:
    record: dict[str, Any] = {
        "merchant_id": m.merchant_id,
        "service_id": s.service_id,
        "localized_service_name": {"value": s.offering.service_name},
    }
    if s.details.description:
        record["localized_description"] = {"value": s.details.description}
    if s.details.price_micros is not None and s.details.currency_code:
        record["price"] = {"price_micros": s.details.price_micros, "currency_code": s.details.currency_code}
    return record


def availability(window: AvailabilityWindow) -> dict[str, Any]:
    slots = []
    for slot in window.slots:
        entry: dict[str, Any] = {
            "merchant_id": window.merchant_id,
            "service_id": window.service_id,
            "start_sec": int(slot.start.timestamp()),
            "duration_sec": int(slot.duration.total_seconds()),
            "spots_total": slot.spots_total,
            "spots_open": slot.spots_open,
        }
        if slot.staff_id:
            entry["resources"] = {"staff_id": slot.staff_id, **({"staff_name": slot.staff_name} if slot.staff_name else {})}
        slots.append(entry)
    return {"availability": slots}
