"""What `mappings check` finds: each mapping held against the live catalogue.

Severity follows what reaches Google. Errors: an id the upstream does not know, a
service a mapping names that Actions Center cannot book, a branch whose hours would be
read in the wrong time zone, a category the feeds upload needs. Warnings: what the
bridge and the feeds already step around (an unbookable service no `services` table
names, identity-mapped branches while mapping files exist) and what may be deliberate
(a time zone the branch's country does not keep).

The time zone rule: a merchant without `time_zone` keeps [booking] default_time_zone.
That is wrong when the default is UTC (the value nobody set), unless the branch's
country keeps UTC's time anyway, and wrong when the default is no time the branch's
country keeps. Where the country keeps several and the default is one of them, it is
the operator's choice and is trusted; the country comes from the branch's address.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..mapping import Mapper, MerchantMapping
from ..upstream import Offering
from . import zones
from .bookable import why_not

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    severity: str
    subject: str  # "merchant 'stockholm-central'", "identity-mapped merchants"
    field: str  # the mapping key to change, 'services."cut"'
    message: str

    def line(self) -> str:
        return f"{self.severity}: {self.subject}: {self.field}: {self.message}"


@dataclass(frozen=True)
class Row:
    merchant: str
    branch: str
    ok: str  # services Actions Center can book here
    with_findings: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(f.severity == ERROR for f in self.findings)


@dataclass(frozen=True)
class Rules:
    default_category: str = ""
    # With the merchants feed uploaded, a merchant without a category reaches Google with an
    # empty one, which Google's merchants feed does not accept.
    feeds_upload: bool = False


def check(mapper: Mapper, catalogues: Mapping[str, list[Offering] | str], rules: Rules) -> Report:
    """``catalogues``: tenant → its offerings, or the line saying why they could not be read."""
    report = Report()
    seen: dict[tuple[str, str], str] = {}
    for merchant_id, mapping in sorted(mapper.merchants.items()):
        tenant = mapping.tenant_id or mapper.default_tenant
        key = (tenant, mapping.branch_id)
        _mapped(report, mapper, merchant_id, mapping, catalogues.get(tenant, []), rules, seen.get(key))
        seen.setdefault(key, merchant_id)
    default = catalogues.get(mapper.default_tenant, [])
    if not isinstance(default, str):
        mapped = {branch for tenant, branch in seen if tenant == mapper.default_tenant}
        _identity(report, mapper, [o for o in default if o.branch_id not in mapped], rules, live=not mapper.merchants)
    return report


def _mapped(report: Report, mapper: Mapper, merchant_id: str, m: MerchantMapping, catalogue: list[Offering] | str,
            rules: Rules, also: str | None) -> None:
    subject = f"merchant {merchant_id!r}"

    def say(severity: str, key: str, message: str) -> None:
        report.findings.append(Finding(severity, subject, key, message))

    if isinstance(catalogue, str):
        say(ERROR, "tenant_id", f"its catalogue could not be read: {catalogue}")
        report.rows.append(Row(merchant_id, "(not read)", "-", "-"))
        return
    here = [o for o in catalogue if o.branch_id == m.branch_id]
    if not here:
        say(ERROR, "branch_id", f"{m.branch_id} is not in the catalogue: no branch with this GUID offers a service")
        report.rows.append(Row(merchant_id, "(unknown)", "-", "-"))
        return
    branch = here[0].branch_name
    if also is not None:
        say(WARNING, "branch_id", f"{branch!r} is mapped as merchant {also!r} too: Google would list the place twice")
    offered = {o.service_id: o for o in here}
    ok = troubled = 0
    if m.services is not None:
        names = m.services
        for service_id, guid in sorted(m.services.items()):
            offering = offered.get(guid)
            if offering is None:
                say(ERROR, f"services.{_key(service_id)}",
                    f"{guid} is not offered at {branch!r}{_elsewhere(catalogue, guid)}")
            elif why := why_not(offering):
                say(ERROR, f"services.{_key(service_id)}",
                    f"{offering.service_name!r} cannot be booked through Actions Center: {why}")
            else:
                ok += 1
                continue
            troubled += 1
        serving = [offered[g] for g in m.services.values() if g in offered]
    else:
        names = {g: g for g in offered}
        for offering in here:
            if why := why_not(offering):
                say(WARNING, "services", f"{offering.service_name!r} ({offering.service_id}) cannot be booked through "
                    f"Actions Center: {why}; name the services to offer in a services table")
                troubled += 1
            else:
                ok += 1
        serving = here
    for staff_id, guid in sorted((m.staff or {}).items()):
        if not any(guid in o.resource_ids for o in serving):
            say(ERROR, f"staff.{_key(staff_id)}", f"{guid} serves none of the merchant's services at {branch!r}"
                f"{_resource_elsewhere(catalogue, here, guid)}")
    for service_id in sorted(set(m.service_details) - set(names)):
        say(WARNING, f"service_details.{_key(service_id)}", "names no service of this merchant")
    zone = _time_zone(m.time_zone, mapper.default_time_zone, here[0])
    if zone is not None:
        say(*zone)
    if not m.category and not rules.default_category:
        say(_category_severity(rules), "category", "not set, and [feeds] default_category is empty: the merchants "
            "feed needs a Google place type")
    report.rows.append(Row(merchant_id, branch, str(ok), str(troubled)))


def _identity(report: Report, mapper: Mapper, offerings: list[Offering], rules: Rules, *, live: bool) -> None:
    """Branches no mapping file names: they answer to their GUIDs, with every service."""
    if not offerings:
        return
    branches: dict[str, list[Offering]] = {}
    for offering in offerings:
        branches.setdefault(offering.branch_id, []).append(offering)
    if not live:
        names = ", ".join(sorted(here[0].branch_name or branch_id for branch_id, here in branches.items()))
        report.notes.append(f"{len(branches)} branch(es) are in no mapping file and map by identity: {names}")
    unbookable: dict[tuple[str, str], list[Offering]] = {}
    for offering in offerings:
        if why := why_not(offering):
            unbookable.setdefault((offering.service_id, why), []).append(offering)
    for (service_id, why), where in sorted(unbookable.items()):
        report.findings.append(Finding(
            WARNING, "identity-mapped merchants", f"service {service_id}",
            f"{where[0].service_name!r} at {len(where)} branch(es) cannot be booked through Actions Center: {why}"))
    for branch_id, here in sorted(branches.items(), key=lambda item: (item[1][0].branch_name, item[0])):
        zone = _time_zone(None, mapper.default_time_zone, here[0])
        if zone is not None:
            severity, key, message = zone
            report.findings.append(Finding(
                severity if live else WARNING, f"identity-mapped merchant {branch_id!r} ({here[0].branch_name})",
                "time_zone", message + "; or map the branch in a file with its time_zone"))
        troubled = sum(1 for o in here if why_not(o))
        report.rows.append(Row(branch_id, here[0].branch_name, str(len(here) - troubled), str(troubled)))
    if not rules.default_category:
        report.findings.append(Finding(
            _category_severity(rules) if live else WARNING, "identity-mapped merchants", "category",
            "[feeds] default_category is empty, and no mapping file names a category for them"))


def _time_zone(explicit: str | None, default: str, offering: Offering) -> tuple[str, str, str] | None:
    country = offering.branch_address.country if offering.branch_address else ""
    found = zones.country_zones(country) if country else ()
    where = f"{country} ({_listed(found)})"
    if explicit:
        if found and not any(zones.same_time(explicit, z) for z in found):
            return WARNING, "time_zone", f"{explicit!r} is not a time kept in the branch's country, {where}"
        return None
    if found and all(zones.same_time(default, z) for z in found):
        return None
    if zones.is_utc(default):
        one = zones.one_time(found)
        hint = (f"{one}, the time kept in {country}" if one else f"{country} keeps more than one time: {_listed(found)}"
                if found else "the catalogue names no country for this branch")
        return ERROR, "time_zone", f"not set, and [booking] default_time_zone is {default!r}: set the branch's ({hint})"
    if found and not any(zones.same_time(default, z) for z in found):
        return ERROR, "time_zone", (f"not set, so [booking] default_time_zone {default!r} applies, but the branch is "
                                    f"in {where}")
    return None


def _category_severity(rules: Rules) -> str:
    return ERROR if rules.feeds_upload else WARNING


def _elsewhere(catalogue: list[Offering], guid: str) -> str:
    branches = sorted({o.branch_name for o in catalogue if o.service_id == guid})
    if not branches:
        return " (no branch of the tenant offers a service with this GUID)"
    return f" (it is offered at {', '.join(map(repr, branches))})"


def _resource_elsewhere(catalogue: list[Offering], here: list[Offering], guid: str) -> str:
    services = sorted({o.service_name for o in here if guid in o.resource_ids})
    if services:
        return f" (only {', '.join(map(repr, services))}, which the merchant does not offer)"
    branches = sorted({o.branch_name for o in catalogue if guid in o.resource_ids})
    if branches:
        return f" (it is a resource at {', '.join(map(repr, branches))})"
    return " (no service of the tenant lists a resource with this GUID)"


def _listed(found: tuple[str, ...]) -> str:
    return ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")


def _key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)
