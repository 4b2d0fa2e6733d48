"""A mapping file for an operator to edit, written from the tenant's catalogue.

Everything the catalogue knows is filled in; what it cannot know (the Google category,
a time zone the country does not settle) is a commented line saying what to set.
Services Actions Center cannot book stay in the file, commented out with the reason, so
the operator sees what was left out and why instead of wondering where it went.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from ..upstream import Offering
from . import zones
from .bookable import why_not
from .slugs import Ids

# Trailing comments start in this column, so the values read as a table.
_COMMENT_COLUMN = 52

HEADER = """\
# Written by `booking-bridge mappings discover` from the catalogue of [upstream] tenant_id.
# Review it before serving: the ids in quotes on the left are what Actions Center will know
# each merchant, service and staff member by (rename them now, not once Google has them);
# the GUIDs are Qmatic's. Commented-out services cannot be booked through Actions Center
# (a booking from Google brings a name, an e-mail and a phone number, nothing more).
# Then: booking-bridge mappings check --config FILE
"""


@dataclass(frozen=True)
class Skeleton:
    text: str
    merchants: int
    services: int  # written, bookable
    left_out: int  # commented out: Actions Center cannot book them


def by_branch(offerings: Iterable[Offering]) -> list[list[Offering]]:
    """Offerings grouped per branch, branches and services in name order."""
    groups: dict[str, list[Offering]] = {}
    for offering in offerings:
        groups.setdefault(offering.branch_id, []).append(offering)
    return [sorted(here, key=lambda o: (o.service_name, o.service_id))
            for here in sorted(groups.values(), key=lambda h: (h[0].branch_name, h[0].branch_id))]


def write(offerings: Iterable[Offering], *, taken: Collection[str] = (),
          mapped_elsewhere: Mapping[str, str] | None = None) -> Skeleton:
    """``taken``: merchant ids other files use; ``mapped_elsewhere``: branch GUID → the
    merchant id another file maps it as (such branches are named, not written again)."""
    mapped_elsewhere = mapped_elsewhere or {}
    lines = [HEADER]
    merchant_ids = Ids(taken)
    merchants = services = left_out = 0
    for here in by_branch(offerings):
        first = here[0]
        if first.branch_id in mapped_elsewhere:
            lines.append(f"# {_comment(first.branch_name)} ({first.branch_id}) is mapped already, as "
                         f"merchant {_comment(mapped_elsewhere[first.branch_id])!r} in another file.\n")
            continue
        merchant_id = merchant_ids.take(first.branch_name, f"branch-{first.branch_id[:8]}")
        block, written, skipped = _merchant(merchant_id, here)
        lines.append(block)
        merchants, services, left_out = merchants + 1, services + written, left_out + skipped
    return Skeleton("\n".join(lines), merchants, services, left_out)


def _merchant(merchant_id: str, here: list[Offering]) -> tuple[str, int, int]:
    first = here[0]
    table = f"merchants.{_q(merchant_id)}"
    out = [f"# {_place(first)}", f"[{table}]", f"branch_id = {_q(first.branch_id)}", _time_zone(first),
           _line('# category = "..."',
                 "Google place type for the merchants feed, e.g. \"beauty_salon\"; else [feeds] default_category"),
           _line('# telephone = "..."', "for the merchants feed, e.g. \"+46 8 123 45 67\""),
           _line('# url = "https://..."', "the merchant's own page, for the merchants feed"),
           "",
           "# The merchant's only services: Actions Center id = Qmatic service GUID.",
           f"[{table}.services]"]
    service_ids = Ids()
    bookable: list[Offering] = []
    first_id = ""
    for offering in here:
        service_id = service_ids.take(offering.service_name, f"service-{offering.service_id[:8]}")
        entry = f"{_q(service_id)} = {_q(offering.service_id)}"
        why = why_not(offering)
        if why:
            out.append(_line(f"# {entry}", f"{_comment(offering.service_name)}: not for Actions Center: {why}"))
            continue
        bookable.append(offering)
        first_id = first_id or service_id
        out.append(_line(entry, f"{_comment(offering.service_name)}: {_party(offering)}"))
    if not bookable:
        out.append("# (none of this branch's services can be booked through Actions Center)")
    out += _staff(table, here, bookable)
    out += ["",
            "# Price and description for the services feed, one table per service id above:",
            f"# [{table}.service_details.{_q(first_id or 'SERVICE-ID')}]",
            _line("# price_micros = 0", "millionths of the currency unit: 350000000 is 350.00"),
            _line('# currency_code = "..."', "ISO 4217, e.g. \"SEK\"; set together with price_micros"),
            '# description = "..."',
            ""]
    return "\n".join(out), len(bookable), len(here) - len(bookable)


def _staff(table: str, here: list[Offering], bookable: list[Offering]) -> list[str]:
    names: dict[str, str] = {}
    serves: dict[str, list[str]] = {}
    for offering in here:
        for resource_id in offering.resource_ids:
            names.setdefault(resource_id, offering.resource_names.get(resource_id, ""))
            if offering in bookable:
                serves.setdefault(resource_id, []).append(offering.service_name)
    if not names:
        return ["", "# The catalogue lists no staff (resources) at this branch."]
    out = ["",
           "# The merchant's only staff: Actions Center id = Qmatic resource GUID. With staff named,",
           "# availability is published per person (one upstream read each); without this table,",
           "# slots name no staff unless a service requires one to be chosen.",
           f"[{table}.staff]"]
    staff_ids = Ids()
    for resource_id in sorted(names, key=lambda r: (names[r], r)):
        staff_id = staff_ids.take(names[resource_id], f"staff-{resource_id[:8]}")
        entry = f"{_q(staff_id)} = {_q(resource_id)}"
        name = _comment(names[resource_id]) or "(no name)"
        if resource_id in serves:
            out.append(_line(entry, f"{name}: {', '.join(_comment(s) for s in serves[resource_id])}"))
        else:
            out.append(_line(f"# {entry}", f"{name}: serves only services Actions Center cannot book"))
    return out


def _time_zone(offering: Offering) -> str:
    address = offering.branch_address
    country = address.country if address else ""
    found = zones.country_zones(country) if country else ()
    zone = zones.one_time(found)
    if zone:
        return _line(f"time_zone = {_q(zone)}", f"the time kept in {_comment(country)}")
    if len(found) > 1:
        listed = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
        why = f"{_comment(country)} keeps more than one time ({listed})"
    elif country:
        why = f"no time zone is known for country {_comment(country)!r}"
    else:
        why = "the catalogue gives no country for this branch"
    return _line('# time_zone = "..."', f"SET THIS: {why}; until set, [booking] default_time_zone applies")


def _place(offering: Offering) -> str:
    parts = [_comment(offering.branch_name) or "(no name)"]
    a = offering.branch_address
    if a is not None:
        town = " ".join(p for p in (a.zip_code, a.city) if p)
        parts += [_comment(p) for p in (a.street, town, a.country) if p]
    if offering.branch_location is not None:
        latitude, longitude = offering.branch_location
        parts.append(f"{latitude:.4f}, {longitude:.4f}")
    return " | ".join(parts)


def _party(offering: Offering) -> str:
    count = offering.max_reservations
    said = "1 person per booking" if count == 1 else f"up to {count} people per booking"
    return said + ("; a staff member must be chosen" if offering.resource_required else "")


def _line(text: str, comment: str) -> str:
    return f"{text.ljust(_COMMENT_COLUMN - 1)} # {comment}"


def _q(text: str) -> str:
    # A JSON string is a valid TOML basic string: the same quotes and escapes.
    return json.dumps(text, ensure_ascii=False)


def _comment(text: str) -> str:
    """Catalogue text made safe for a TOML comment: one line, no control characters."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
