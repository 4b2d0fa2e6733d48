"""``booking-bridge mappings discover|check`` and the online part of ``booking-bridge check``.

Exit status: 0 done (check: no errors, warnings allowed), 1 the upstream could not be
read, the file exists (discover) or errors were found (check), 2 the configuration or
the mapping files cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import sys
import tomllib
from collections.abc import Mapping

import httpx

from .. import config as config_mod
from ..app import build_mapper
from ..upstream import Offering
from . import findings, skeleton
from .bookable import why_not
from .reading import Catalogues, Unreadable, credentials_missing
from .tables import table


def add_parser(sub: argparse._SubParsersAction) -> None:
    mappings = sub.add_parser("mappings", help="write a mapping skeleton from the catalogue; check mappings against it")
    actions = mappings.add_subparsers(dest="mappings_command", required=True)
    discover = actions.add_parser(
        "discover", help="list the tenant's branches and services, or write a mapping skeleton (--out)",
        description="Reads the catalogue of [upstream] tenant_id. Without --out, prints one row per branch and "
        "service: whether Actions Center can book it, why not, and its staff. With --out, writes a commented "
        "mapping file to edit: one merchant per branch, services Actions Center cannot book commented out.")
    discover.add_argument("--config", required=True, help="TOML configuration file")
    discover.add_argument("--out", metavar="FILE", help="write the skeleton here, e.g. mappings/tenant.toml")
    discover.add_argument("--force", action="store_true", help="replace FILE if it exists")
    check = actions.add_parser(
        "check", help="check every mapping, and the branches mapped by identity, against the live catalogue",
        description="One line per finding (error: or warning:), then a table per merchant. Exit 1 on any error.")
    check.add_argument("--config", required=True, help="TOML configuration file")


def run(args: argparse.Namespace) -> int:
    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        return _config_problems(exc.problems)
    if problems := credentials_missing(config):
        return _config_problems(problems)
    if args.mappings_command == "discover":
        return _discover(config, args)
    try:
        build_mapper(config)
    except config_mod.ConfigError as exc:
        return _config_problems(exc.problems)
    return asyncio.run(check_and_say(config))


def check_online(config: config_mod.Config) -> int:
    """``check --online``, after the offline checks passed: the token, then the mappings."""
    return asyncio.run(check_and_say(config, say_token=True))


# --- check ----------------------------------------------------------------------------


async def check_mappings(config: config_mod.Config, environ: Mapping[str, str] = os.environ, *,
                         transport: httpx.AsyncBaseTransport | None = None) -> findings.Report:
    """Every mapping against its tenant's catalogue; Unreadable when the default tenant's
    catalogue (and so the token) cannot be had. The mapping files must load."""
    mapper = build_mapper(config)
    default = config.upstream.tenant_id
    async with Catalogues(config, environ, transport) as catalogues:
        read: dict[str, list[Offering] | str] = {default: await catalogues.offerings(default)}
        for tenant in sorted({m.tenant_id for m in mapper.merchants.values() if m.tenant_id} - {default}):
            try:
                read[tenant] = await catalogues.offerings(tenant)
            except Unreadable as exc:
                read[tenant] = str(exc)
    rules = findings.Rules(default_category=config.feeds.default_category,
                           feeds_upload=bool(config.feeds.merchants_username))
    return findings.check(mapper, read, rules)


async def check_and_say(config: config_mod.Config, environ: Mapping[str, str] = os.environ, *,
                        transport: httpx.AsyncBaseTransport | None = None, say_token: bool = False) -> int:
    try:
        report = await check_mappings(config, environ, transport=transport)
    except Unreadable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if say_token:
        print(f"[upstream] token: issued by {config.upstream.token_url}; catalogue read")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    for finding in report.findings:
        print(finding.line(), file=sys.stderr)
    rows = [(r.merchant, r.branch, r.ok, r.with_findings) for r in report.rows]
    if rows:
        print(table(("MERCHANT", "BRANCH", "SERVICES OK", "WITH FINDINGS"), rows))
    warnings = len(report.findings) - report.errors
    print(f"mappings: {len(report.rows)} merchant(s), {report.errors} error(s), {warnings} warning(s)")
    return 1 if report.errors else 0


# --- discover -------------------------------------------------------------------------


def _discover(config: config_mod.Config, args: argparse.Namespace) -> int:
    out = pathlib.Path(args.out) if args.out else None
    if out is not None:
        if out.exists() and not args.force:
            print(f"error: {out} exists; pass --force to replace it", file=sys.stderr)
            return 1
        if not out.parent.is_dir():
            print(f"error: folder {out.parent} does not exist", file=sys.stderr)
            return 1
    try:
        offerings = asyncio.run(read_catalogue(config))
    except Unreadable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not offerings:
        print("error: the catalogue of [upstream] tenant_id lists no branch offering a service", file=sys.stderr)
        return 1
    if out is None:
        print(overview(offerings))
        print("\nWrite a mapping skeleton to edit with --out mappings/NAME.toml")
        return 0
    taken, mapped = _other_files(out, config.upstream.tenant_id)
    written = skeleton.write(offerings, taken=taken, mapped_elsewhere=mapped)
    try:
        with out.open("w" if args.force else "x", encoding="utf-8") as file:
            file.write(written.text)
    except FileExistsError:
        print(f"error: {out} exists; pass --force to replace it", file=sys.stderr)
        return 1
    print(f"wrote {out}: {written.merchants} merchant(s), {written.services} service(s) Actions Center can book, "
          f"{written.left_out} left commented out")
    if mapped:
        print(f"note: {len(mapped)} branch(es) mapped in other files of {out.parent} are not written again")
    if not _is_mappings_dir(config, out.parent):
        where = config.booking.mappings_dir or "not set"
        print(f"note: the bridge reads mapping files from [booking] mappings_dir ({where}), not {out.parent}")
    print(f"edit it, then: booking-bridge mappings check --config {args.config}")
    return 0


async def read_catalogue(config: config_mod.Config, environ: Mapping[str, str] = os.environ, *,
                         transport: httpx.AsyncBaseTransport | None = None) -> list[Offering]:
    async with Catalogues(config, environ, transport) as catalogues:
        return await catalogues.offerings(config.upstream.tenant_id)


def overview(offerings: list[Offering]) -> str:
    """Branch / service / bookable? / why not / resources, one row per offering."""
    rows = []
    for here in skeleton.by_branch(offerings):
        for o in here:
            why = why_not(o)
            staff = ", ".join(sorted(o.resource_names.get(r, r) for r in o.resource_ids)) or "-"
            if o.resource_required:
                staff += " (one must be chosen)"
            rows.append((o.branch_name, o.service_name, "no" if why else "yes", why or "-", staff))
    return table(("BRANCH", "SERVICE", "BOOKABLE", "WHY NOT", "RESOURCES"), rows)


def _other_files(out: pathlib.Path, tenant: str) -> tuple[set[str], dict[str, str]]:
    """Merchant ids, and branch GUID → merchant id, of the folder's other mapping files,
    so the new file adds to them without clashing."""
    taken: set[str] = set()
    mapped: dict[str, str] = {}
    for file in sorted(out.parent.glob("*.toml")):
        if file.resolve() == out.resolve():
            continue
        try:
            merchants = tomllib.loads(file.read_text(encoding="utf-8")).get("merchants", {})
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
            continue  # `check` names a broken file; it cannot clash with ids it does not hold
        for merchant_id, table_ in merchants.items() if isinstance(merchants, dict) else ():
            taken.add(merchant_id)
            branch = table_.get("branch_id") if isinstance(table_, dict) else None
            if isinstance(branch, str) and table_.get("tenant_id", tenant) in ("", tenant):
                mapped.setdefault(branch, merchant_id)
    return taken, mapped


def _is_mappings_dir(config: config_mod.Config, folder: pathlib.Path) -> bool:
    if not config.booking.mappings_dir:
        return False
    return config.resolve(config.booking.mappings_dir).resolve() == folder.resolve()


def _config_problems(problems: list[str]) -> int:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 2
