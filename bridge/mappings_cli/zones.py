"""Which IANA time zones a branch's country has, from the tz database's own tables.

A branch's address names its country, and the tz database says which zones each country
has (zone.tab). That is enough to say "this branch keeps Stockholm time" when a country
keeps one time, and never enough to pick between America/New_York and America/Chicago:
there the operator must say, and nothing here guesses.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import pathlib
import zoneinfo

# Two zones "keep the same time" when their offsets agree on every day of this stretch:
# what matters to a booking is the coming months, not 1970's history.
_HORIZON_DAYS = 2 * 366

# The names the tz database gives UTC itself: a default left at one of these was never set.
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "UCT", "Etc/UCT", "GMT", "Etc/GMT", "GMT0", "Etc/GMT0", "Greenwich",
                       "Etc/Greenwich", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu"})


def country_zones(country: str) -> tuple[str, ...]:
    """The zones of a country named by ISO 3166 code ("SE") or by the tz database's name
    for it ("Sweden"); empty when unknown or when this machine has no tz tables."""
    code = _code(country.strip())
    return _zones().get(code, ()) if code else ()


def one_time(zones: tuple[str, ...]) -> str | None:
    """The zone to suggest when every zone of a country keeps the same time; else None."""
    if not zones:
        return None
    first = zones[0]  # zone.tab lists a country's main zone first ("most of Germany")
    return first if all(same_time(first, other) for other in zones[1:]) else None


@functools.lru_cache(maxsize=1024)
def same_time(a: str, b: str) -> bool:
    """Whether two zones give the same offset on every day of the coming two years."""
    if a == b:
        return True
    try:
        za, zb = zoneinfo.ZoneInfo(a), zoneinfo.ZoneInfo(b)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    start = dt.datetime.now(dt.timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    for day in range(_HORIZON_DAYS):
        instant = start + dt.timedelta(days=day)
        if instant.astimezone(za).utcoffset() != instant.astimezone(zb).utcoffset():
            return False
    return True


def is_utc(name: str) -> bool:
    return name in UTC_NAMES


def _code(country: str) -> str | None:
    if len(country) == 2 and country.isalpha():
        return country.upper()
    folded = country.casefold()
    return next((code for code, name in _names().items() if name.casefold() == folded), None)


@functools.lru_cache(maxsize=1)
def _zones() -> dict[str, tuple[str, ...]]:
    zones: dict[str, list[str]] = {}
    for line in _table("zone.tab"):
        fields = line.split("\t")
        if len(fields) >= 3:
            zones.setdefault(fields[0], []).append(fields[2])
    return {code: tuple(names) for code, names in zones.items()}


@functools.lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    return dict(line.split("\t", 1) for line in _table("iso3166.tab") if "\t" in line)


def _table(name: str) -> list[str]:
    """A tz table's lines without comments: from the system's tz folder, else from the
    tzdata package (which Windows installs need for zoneinfo anyway)."""
    for folder in zoneinfo.TZPATH:
        path = pathlib.Path(folder) / name
        if path.is_file():
            return _lines(path.read_text(encoding="utf-8"))
    try:
        text = importlib.resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return []
    return _lines(text)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
