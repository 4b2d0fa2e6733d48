"""Actions Center ids → Qmatic tenant/branch/service/resource GUIDs.

Identity by default: ``merchant_id`` is the branch GUID, ``service_id`` the service GUID,
``staff_id`` the resource GUID, all under the configured tenant. TOML files in the
mappings folder override per merchant::

    [merchants."hair-by-anna"]
    branch_id = "8c5d…"                     # required
    tenant_id = "…"                         # optional, default [upstream] tenant_id
    time_zone = "Europe/Stockholm"          # optional, default [booking] default_time_zone
    services = { "cut" = "2f1e…" }          # optional; when given, the only services
    staff = { "anna" = "77aa…" }            # optional; when given, the only staff
    category = "hair_salon"                 # feeds: Google place type ([feeds] default_category)
    telephone = "+46 8 123 45 67"           # feeds: optional
    url = "https://…"                       # feeds: optional

    [merchants."hair-by-anna".service_details."cut"]   # feeds: optional, per service
    price_micros = 350000000
    currency_code = "SEK"
    description = "Cut and style."

Whether an identity-mapped id exists is the upstream catalogue's business (the core
checks it); this module only answers what is configured.
"""

from __future__ import annotations

import pathlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

from .config import valid_time_zone
from .core.models import Target
from .failures import invalid


@dataclass(frozen=True)
class ServiceDetails:
    """What the services feed says of a service beyond its name."""

    price_micros: int | None = None
    currency_code: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class MerchantMapping:
    branch_id: str
    tenant_id: str | None = None
    time_zone: str | None = None
    services: Mapping[str, str] | None = None
    staff: Mapping[str, str] | None = None
    category: str | None = None
    telephone: str | None = None
    url: str | None = None
    service_details: Mapping[str, ServiceDetails] = field(default_factory=dict)


@dataclass(frozen=True)
class Mapper:
    default_tenant: str
    default_time_zone: str = "UTC"
    merchants: Mapping[str, MerchantMapping] = field(default_factory=dict)

    def resolve(self, merchant_id: str, service_id: str, staff_id: str = "") -> Target:
        """Raises INVALID_ARGUMENT naming the field for ids the mapping rules out."""
        m = self.merchants.get(merchant_id)
        if m is None:
            return Target(
                tenant_id=self.default_tenant,
                branch_id=merchant_id,
                service_id=service_id,
                resource_id=staff_id or None,
                time_zone=self.default_time_zone,
            )
        if m.services is not None and service_id not in m.services:
            raise invalid("service_id", f"{service_id!r} is not a service of merchant {merchant_id!r}")
        if staff_id and m.staff is not None and staff_id not in m.staff:
            raise invalid("staff_id", f"{staff_id!r} is not staff of merchant {merchant_id!r}")
        return Target(
            tenant_id=m.tenant_id or self.default_tenant,
            branch_id=m.branch_id,
            service_id=service_id if m.services is None else m.services[service_id],
            resource_id=(staff_id if m.staff is None else m.staff[staff_id]) if staff_id else None,
            time_zone=m.time_zone or self.default_time_zone,
        )


def load_dir(path: pathlib.Path) -> tuple[dict[str, MerchantMapping], list[str]]:
    """Every ``*.toml`` below ``path``; returns the merchants and one line per problem."""
    merchants: dict[str, MerchantMapping] = {}
    problems: list[str] = []
    if not path.is_dir():
        return merchants, [f"mappings: folder {path} does not exist"]
    for file in sorted(path.glob("*.toml")):
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{file}: not valid TOML: {exc}")
            continue
        unknown = set(raw) - {"merchants"}
        if unknown:
            problems.append(f"{file}: unknown top-level key(s) {sorted(unknown)}; expected [merchants.\"ID\"]")
        for merchant_id, table in dict(raw.get("merchants", {})).items():
            where = f"{file}: merchants.{merchant_id!r}"
            if merchant_id in merchants:
                problems.append(f"{where}: mapped twice")
                continue
            parsed = _merchant(where, table, problems)
            if parsed is not None:
                merchants[merchant_id] = parsed
    return merchants, problems


def _merchant(where: str, table: object, problems: list[str]) -> MerchantMapping | None:
    if not isinstance(table, dict):
        problems.append(f"{where}: must be a table")
        return None
    before = len(problems)
    unknown = set(table) - {"branch_id", "tenant_id", "time_zone", "services", "staff", "category", "telephone",
                            "url", "service_details"}
    if unknown:
        problems.append(f"{where}: unknown key(s) {sorted(unknown)}")
    branch = table.get("branch_id")
    if not isinstance(branch, str) or not branch:
        problems.append(f"{where}: branch_id is required")
    for key in ("tenant_id", "time_zone", "category", "telephone", "url"):
        if key in table and (not isinstance(table[key], str) or not table[key]):
            problems.append(f"{where}: {key} must be a non-empty string")
    tz = table.get("time_zone")
    if isinstance(tz, str) and tz and not valid_time_zone(tz):
        problems.append(f"{where}: time_zone {tz!r} is not an IANA time zone")
    for key in ("services", "staff"):
        value = table.get(key)
        if value is not None and not (
            isinstance(value, dict) and all(isinstance(v, str) and v for v in value.values())
        ):
            problems.append(f"{where}: {key} must map Actions Center ids to upstream GUID strings")
    details = _service_details(where, table.get("service_details"), problems)
    if len(problems) > before:
        return None
    return MerchantMapping(
        branch_id=branch,
        tenant_id=table.get("tenant_id"),
        time_zone=tz,
        services=table.get("services"),
        staff=table.get("staff"),
        category=table.get("category"),
        telephone=table.get("telephone"),
        url=table.get("url"),
        service_details=details,
    )


def _service_details(where: str, value: object, problems: list[str]) -> dict[str, ServiceDetails]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        problems.append(f"{where}: service_details must hold one table per service id")
        return {}
    details = {}
    for service_id, table in value.items():
        here = f"{where}: service_details.{service_id!r}"
        unknown = set(table) - {"price_micros", "currency_code", "description"}
        if unknown:
            problems.append(f"{here}: unknown key(s) {sorted(unknown)}")
        price, currency = table.get("price_micros"), table.get("currency_code")
        if price is not None and (not isinstance(price, int) or isinstance(price, bool) or price < 0):
            problems.append(f"{here}: price_micros must be a whole number of millionths, 0 or more")
        if currency is not None and not (isinstance(currency, str) and len(currency) == 3 and currency.isupper()):
            problems.append(f"{here}: currency_code must be an ISO 4217 code such as \"SEK\"")
        if (price is None) != (currency is None):
            problems.append(f"{here}: set price_micros and currency_code together")
        description = table.get("description")
        if description is not None and not isinstance(description, str):
            problems.append(f"{here}: description must be a string")
        details[service_id] = ServiceDetails(price_micros=price, currency_code=currency, description=description)
    return details

