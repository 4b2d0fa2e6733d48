"""Records ↔ rows. Times are stored as UTC ISO-8601 text, durations as whole seconds."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from ..core.models import (
    Booking,
    BookingStatus,
    Client,
    Lease,
    LeaseState,
    PendingChange,
    Slot,
    Target,
)


_UTC = dt.timezone.utc


def ts(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    # Nearly every time is UTC already; astimezone was a fifth of encoding a row.
    return (value if value.tzinfo is _UTC else value.astimezone(_UTC)).isoformat()


def parse_ts(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _slot_cols(slot: Slot, target: Target) -> dict[str, Any]:
    return {
        "merchant_id": slot.merchant_id,
        "service_id": slot.service_id,
        "start": ts(slot.start),
        "duration_s": int(slot.duration.total_seconds()),
        "staff_id": slot.staff_id,
        "room_id": slot.room_id,
        "availability_tag": slot.availability_tag,
        "party_size": slot.party_size,
        "tenant_id": target.tenant_id,
        "branch_id": target.branch_id,
        "upstream_service_id": target.service_id,
        "resource_id": target.resource_id,
        "time_zone": target.time_zone,
    }


def _slot(row: Any) -> tuple[Slot, Target]:
    slot = Slot(
        merchant_id=row["merchant_id"],
        service_id=row["service_id"],
        start=parse_ts(row["start"]),
        duration=dt.timedelta(seconds=row["duration_s"]),
        staff_id=row["staff_id"],
        room_id=row["room_id"],
        availability_tag=row["availability_tag"],
        party_size=row["party_size"],
    )
    target = Target(
        tenant_id=row["tenant_id"],
        branch_id=row["branch_id"],
        service_id=row["upstream_service_id"],
        resource_id=row["resource_id"],
        time_zone=row["time_zone"],
    )
    return slot, target


def lease_row(lease: Lease) -> dict[str, Any]:
    return _row(lease, "lease_id", _LEASE_FIELDS)


def lease_from_row(row: Any) -> Lease:
    slot, target = _slot(row)
    return Lease(
        lease_id=row["lease_id"],
        client_reference=row["client_reference"],
        slot=slot,
        target=target,
        state=LeaseState(row["state"]),
        created_at=parse_ts(row["created_at"]),
        requested_expiration=parse_ts(row["requested_expiration"]),
        hold_id=row["hold_id"],
        expires_at=parse_ts(row["expires_at"]),
    )


def client_text(client: Client) -> str:
    return json.dumps(
        {
            "given_name": client.given_name,
            "family_name": client.family_name,
            "email": client.email,
            "telephone": client.telephone,
            "user_id": client.user_id,
            "address": list(client.address),
        }
    )


# A booking's customer once erased (see _retention). Erasure is one way: an UPDATE never
# writes a customer over it, so a save of a booking read before its erasure cannot bring
# the customer back (see update_sql).
ERASED_CLIENT = Client(given_name="", family_name="", email="")
ERASED = client_text(ERASED_CLIENT)
# As an SQL literal: the text holds no quote, nor anything either driver reads as a parameter.
_KEPT_ONCE = {("bookings", "client"): f"'{ERASED}'"}


def booking_row(booking: Booking) -> dict[str, Any]:
    return _row(booking, "booking_id", _BOOKING_FIELDS)


def pending_text(pending: PendingChange | None) -> str | None:
    if pending is None:
        return None
    return json.dumps(
        {
            "op": pending.op,
            "start": ts(pending.start),
            "duration_s": None if pending.duration is None else int(pending.duration.total_seconds()),
            "hold_id": pending.hold_id,
            "party_size": pending.party_size,
        }
    )


# -- each field's columns: a whole row, or a save's changed ones --------------------------

def _slot_of(record: Any) -> dict[str, Any]:
    return _slot_cols(record.slot, record.target)


def _column(name: str, encode: Callable[[Any], Any] = lambda value: value) -> Callable[[Any], dict[str, Any]]:
    return lambda record: {name: encode(getattr(record, name))}


# Each field of a record (but its key) → its columns, in one place for inserts, whole-row
# saves and a save's changed columns. The slot and the target share the slot columns.
_LEASE_FIELDS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "client_reference": _column("client_reference"),
    "slot": _slot_of,
    "target": _slot_of,
    "state": _column("state", lambda state: state.value),
    "created_at": _column("created_at", ts),
    "requested_expiration": _column("requested_expiration", ts),
    "hold_id": _column("hold_id"),
    "expires_at": _column("expires_at", ts),
}
_BOOKING_FIELDS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "lease_id": _column("lease_id"),
    "slot": _slot_of,
    "target": _slot_of,
    "client": lambda booking: {"client": client_text(booking.client)},
    "personal_identifier": _column("personal_identifier"),
    "appointment_id": _column("appointment_id"),
    "status": _column("status", lambda status: status.value),
    "created_at": _column("created_at", ts),
    "idempotency_key": _column("idempotency_key"),
    "cancelled_elsewhere": _column("cancelled_elsewhere", int),
    "pending": _column("pending", pending_text),
}


def lease_changes(new: Lease, old: Lease) -> dict[str, Any]:
    """The UPDATE's row taking ``old``'s row to ``new``'s: the key, and the columns of
    the fields that differ (nothing else, when nothing does)."""
    return _changes(new, old, "lease_id", _LEASE_FIELDS)


def booking_changes(new: Booking, old: Booking) -> dict[str, Any]:
    return _changes(new, old, "booking_id", _BOOKING_FIELDS)


def _row(record: Any, key: str, fields: dict[str, Callable[[Any], dict[str, Any]]]) -> dict[str, Any]:
    row = {key: getattr(record, key)}
    for encode in dict.fromkeys(fields.values()):  # the slot's columns once
        row.update(encode(record))
    return row


def _changes(new: Any, old: Any, key: str, fields: dict[str, Callable[[Any], dict[str, Any]]]) -> dict[str, Any]:
    row = {key: getattr(new, key)}
    for name, encode in fields.items():
        now, was = getattr(new, name), getattr(old, name)
        # A saved record is mostly the one read, replaced in a field or two: the
        # untouched fields are the very same objects, and most compare by identity.
        if now is not was and now != was:
            row.update(encode(new))
    return row


def booking_from_row(row: Any) -> Booking:
    slot, target = _slot(row)
    c = json.loads(row["client"])
    client = Client(
        given_name=c["given_name"],
        family_name=c["family_name"],
        email=c["email"],
        telephone=c["telephone"],
        user_id=c["user_id"],
        address=tuple(tuple(pair) for pair in c["address"]),
    )
    pending = None
    if row["pending"] is not None:
        p = json.loads(row["pending"])
        pending = PendingChange(
            op=p["op"],
            start=parse_ts(p["start"]),
            duration=None if p["duration_s"] is None else dt.timedelta(seconds=p["duration_s"]),
            hold_id=p["hold_id"],
            party_size=p["party_size"],
        )
    return Booking(
        booking_id=row["booking_id"],
        lease_id=row["lease_id"],
        slot=slot,
        target=target,
        client=client,
        personal_identifier=row["personal_identifier"],
        appointment_id=row["appointment_id"],
        status=BookingStatus(row["status"]),
        created_at=parse_ts(row["created_at"]),
        pending=pending,
        idempotency_key=row["idempotency_key"],
        cancelled_elsewhere=bool(row["cancelled_elsewhere"]),
    )


# -- statements written once, in psycopg's %(name)s style; sqlite_named turns them into
# SQLite's :name style.


def insert_sql(table: str, row: dict[str, Any]) -> str:
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(f'%({k})s' for k in row)})"


def update_sql(table: str, key: str, row: dict[str, Any]) -> str:
    sets = ", ".join(_set(table, k) for k in row if k != key)
    return f"UPDATE {table} SET {sets} WHERE {key} = %({key})s"


def _set(table: str, column: str) -> str:
    kept = _KEPT_ONCE.get((table, column))
    if kept is None:
        return f"{column} = %({column})s"
    return f"{column} = CASE WHEN {column} = {kept} THEN {column} ELSE %({column})s END"


def sqlite_named(sql: str) -> str:
    return re.sub(r"%\((\w+)\)s", r":\1", sql)


def sqlite_positional(sql: str) -> str:
    """Either style: %(name)s becomes :name, %s becomes ?."""
    return sqlite_named(sql).replace("%s", "?")
