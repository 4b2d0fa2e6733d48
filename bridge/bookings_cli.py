"""``booking-bridge bookings list|show``: what the store holds, for an operator.

Without ``--personal-data`` no customer's name, e-mail, phone or address is printed, so
the output can go into a ticket or a chat; with it they are, and stderr says so first.
Nothing here calls the upstream: this is the bridge's record, not Qmatic's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys

from .core.models import Booking, BookingStatus, Client, Lease
from .store import Store, inspect_problem, open_store

_STATUSES = tuple(s.value for s in BookingStatus)
_WARNING = ("warning: the output holds customers' personal data (name, e-mail, phone); "
            "keep it out of tickets, chats and logs")


def add_parser(sub: argparse._SubParsersAction) -> None:
    bookings = sub.add_parser("bookings", help="the bookings in the store, without personal data unless asked")
    actions = bookings.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="one line per booking, earliest start first")
    listing.add_argument("--merchant", metavar="M", help="only this Actions Center merchant id")
    listing.add_argument("--day", type=_day, metavar="YYYY-MM-DD", help="only bookings starting that day, branch time")
    listing.add_argument("--status", type=str.lower, choices=_STATUSES, help="only bookings in this status")
    show = actions.add_parser("show", help="one booking in full, by booking id or lease id")
    show.add_argument("id", help="a booking id or a lease id")
    for parser in (listing, show):
        parser.add_argument("--config", required=True, help="TOML configuration file")
        parser.add_argument("--personal-data", action="store_true",
                            help="also print the customer's name, e-mail and phone (a warning goes to stderr)")


def run(args: argparse.Namespace) -> int:
    from . import config as config_mod

    try:
        config = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    problem = inspect_problem(config)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.personal_data:
        print(_WARNING, file=sys.stderr)

    async def inspect() -> int:
        store = open_store(config)
        try:
            if args.action == "list":
                return await _list(store, args)
            return await _show(store, args)
        finally:
            await store.close()

    return asyncio.run(inspect())


async def _list(store: Store, args: argparse.Namespace) -> int:
    found = await store.bookings(args.merchant, args.status)
    if args.day is not None:
        found = [b for b in found if b.target.local(b.slot.start).date() == args.day]
    for booking in found:
        print(_line(booking, args.personal_data))
    print(f"{len(found)} booking(s)")
    return 0


async def _show(store: Store, args: argparse.Namespace) -> int:
    booking = await store.get_booking(args.id) or await store.get_booking_by_lease(args.id)
    lease_id = booking.lease_id if booking is not None else args.id
    lease = await store.get_lease(lease_id) if lease_id else None
    if booking is None and lease is None:
        print(f"error: no booking or lease {args.id!r} in the store", file=sys.stderr)
        return 1
    rows: list[tuple[str, str]] = []
    if booking is not None:
        rows += _booking_rows(booking, args.personal_data)
    if lease is not None:
        rows += _lease_rows(lease, with_slot=booking is None)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def _line(b: Booking, personal: bool) -> str:
    slot = b.slot
    status = _status(b) + (f" (pending {b.pending.op})" if b.pending else "")
    fields = [
        b.target.local(slot.start).isoformat(timespec="minutes"),
        b.booking_id,
        status,
        f"{slot.merchant_id}/{slot.service_id}",
        f"{int(slot.duration.total_seconds() // 60)} min",
        f"party {slot.party_size}",
    ]
    if slot.staff_id:
        fields.append(f"staff {slot.staff_id}")
    if personal:
        fields.append(_customer(b.client))
    return "  ".join(fields)


def _booking_rows(b: Booking, personal: bool) -> list[tuple[str, str]]:
    slot, target = b.slot, b.target
    rows = [
        ("booking", b.booking_id),
        ("lease", b.lease_id or "-"),
        ("status", _status(b)),
        ("merchant", slot.merchant_id),
        ("service", slot.service_id),
        ("staff", slot.staff_id or "-"),
        ("start", f"{target.local(slot.start).isoformat()} ({target.time_zone})"),
        ("duration", f"{int(slot.duration.total_seconds() // 60)} min"),
        ("party size", str(slot.party_size)),
        ("upstream", f"tenant {target.tenant_id}, branch {target.branch_id}, service {target.service_id}, "
                     f"resource {target.resource_id or '-'}"),
        ("appointment", b.appointment_id),
        ("created", b.created_at.isoformat()),
        ("idempotency", b.idempotency_key or "-"),
        ("customer id", f"{b.personal_identifier} (keyed hash)"),
    ]
    if b.pending is not None:
        p = b.pending
        change = p.op if p.start is None else f"{p.op} to {target.local(p.start).isoformat()}"
        rows.append(("pending", f"{change} (outcome unknown; the next call reconciles it)"))
    rows.append(("customer", _customer(b.client) if personal else _withheld(b.client)))
    if personal and b.client.address:
        rows.append(("address", ", ".join(value for _, value in b.client.address)))
    return rows


def _lease_rows(lease: Lease, *, with_slot: bool) -> list[tuple[str, str]]:
    rows = [("lease state", lease.state.value)]
    if lease.expires_at is not None:
        rows.append(("lease expires", lease.expires_at.isoformat()))
    if not with_slot:
        return rows
    # No booking (yet): the lease is all there is.
    slot, target = lease.slot, lease.target
    return [
        ("lease", lease.lease_id),
        *rows,
        ("merchant", slot.merchant_id),
        ("service", slot.service_id),
        ("start", f"{target.local(slot.start).isoformat()} ({target.time_zone})"),
        ("duration", f"{int(slot.duration.total_seconds() // 60)} min"),
    ]


def _status(b: Booking) -> str:
    return b.status.value + (" (at the branch)" if b.cancelled_elsewhere else "")


def _erased(c: Client) -> bool:
    return not (c.given_name or c.family_name or c.email or c.telephone)


def _withheld(c: Client) -> str:
    return "erased ([store] retain_days)" if _erased(c) else "withheld (--personal-data shows it)"


def _customer(c: Client) -> str:
    if _erased(c):
        return "customer erased"
    return f"{c.given_name} {c.family_name} <{c.email}> {c.telephone or '-'}"


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None
