"""What the feeds publish: which merchants, each with which services, as Actions Center
names them. Mapped merchants when mapping files name any, else every branch (identity);
of each, the services the catalogue offers there that Actions Center can book, and with
a `services` mapping only those."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ...core.catalogue import unbookable
from ...mapping import Mapper, MerchantMapping, ServiceDetails
from ...upstream import Offering


@dataclass(frozen=True)
class PlannedService:
    service_id: str  # as Actions Center knows it
    offering: Offering
    details: ServiceDetails


@dataclass(frozen=True)
class PlannedMerchant:
    merchant_id: str  # as Actions Center knows it
    branch: Offering  # any offering of the branch: its name, address and location
    mapping: MerchantMapping | None
    time_zone: str
    services: tuple[PlannedService, ...]


def plan(mapper: Mapper, offerings: Iterable[Offering]) -> list[PlannedMerchant]:
    by_branch: dict[str, list[Offering]] = {}
    for offering in offerings:
        by_branch.setdefault(offering.branch_id, []).append(offering)
    if mapper.merchants:
        named = [(mid, m) for mid, m in sorted(mapper.merchants.items())]
    else:
        named = [(branch_id, None) for branch_id in sorted(by_branch)]
    merchants = []
    for merchant_id, mapping in named:
        branch_id = mapping.branch_id if mapping else merchant_id
        here = by_branch.get(branch_id, [])
        if not here:
            continue  # `mappings check` reports an unknown branch; nothing to publish
        services = tuple(_services(mapping, here))
        if services:
            merchants.append(PlannedMerchant(
                merchant_id=merchant_id,
                branch=here[0],
                mapping=mapping,
                time_zone=(mapping.time_zone if mapping and mapping.time_zone else mapper.default_time_zone),
                services=services,
            ))
    return merchants


def _services(mapping: MerchantMapping | None, here: list[Offering]) -> Iterable[PlannedService]:
    offered = {o.service_id: o for o in here if not unbookable(o)}
    if mapping is not None and mapping.services is not None:
        pairs = sorted(mapping.services.items())
    else:
        pairs = [(guid, guid) for guid in sorted(offered)]
    for service_id, guid in pairs:
        if guid in offered:
            details = mapping.service_details.get(service_id, ServiceDetails()) if mapping else ServiceDetails()
            yield PlannedService(service_id=service_id, offering=offered[guid], details=details)
