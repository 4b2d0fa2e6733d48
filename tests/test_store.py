"""The SQLite store: constraints hold, nothing half-written, everything survives a reopen."""

from __future__ import annotations

import dataclasses
import datetime as dt
import pathlib
import sqlite3

import pytest

from bridge.core.models import Booking, BookingStatus, Client, Lease, LeaseState, PendingChange, Slot, Target
from bridge.store import BOOKING_LEASE, BOOKING_PERSON_SLOT, LEASE_REFERENCE, Duplicate, SqliteStore

NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone.utc)
SLOT = Slot("m", "s", NOW + dt.timedelta(days=1), dt.timedelta(minutes=30), staff_id="st", availability_tag="t")
TARGET = Target("tenant", "branch", "service", "resource", "Europe/Stockholm")


def lease(lease_id: str = "l1", reference: str = "r1") -> Lease:
    return Lease(lease_id, reference, SLOT, TARGET, LeaseState.HELD, NOW, None, "hold-1", NOW + dt.timedelta(minutes=14))


def booking(booking_id: str = "b1", lease_id: str | None = "l1", pid: str = "pid1") -> Booking:
    client = Client("Ada", "Lovelace", "ada@example.com", "+46 70", (("postal_code", "111 20"),))
    return Booking(booking_id, SLOT, TARGET, client, pid, "appt-1", BookingStatus.CONFIRMED, NOW, lease_id)


@pytest.fixture
async def store(tmp_path: pathlib.Path):
    s = SqliteStore(tmp_path / "s.sqlite3")
    yield s
    await s.close()


async def test_records_round_trip_and_survive_a_reopen(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.sqlite3"
    first = SqliteStore(path)
    pending = dataclasses.replace(booking(), pending=PendingChange("reschedule", NOW, dt.timedelta(minutes=15), "h2"))
    await first.insert_lease(lease())
    await first.insert_booking(pending)
    await first.close()

    again = SqliteStore(path)
    try:
        assert await again.get_lease("l1") == lease()
        assert await again.get_lease_by_reference("r1") == lease()
        assert await again.get_booking("b1") == pending
        assert await again.get_booking_by_lease("l1") == pending
    finally:
        await again.close()


async def test_the_store_is_in_wal_mode_with_full_sync(store: SqliteStore) -> None:
    modes = await store._run(lambda db: (db.execute("PRAGMA journal_mode").fetchone()[0],
                                         db.execute("PRAGMA synchronous").fetchone()[0]))
    assert modes == ("wal", 2)


async def test_client_reference_is_unique(store: SqliteStore) -> None:
    await store.insert_lease(lease())
    with pytest.raises(Duplicate) as dup:
        await store.insert_lease(lease(lease_id="l2"))
    assert dup.value.what == LEASE_REFERENCE


async def test_a_lease_makes_one_booking(store: SqliteStore) -> None:
    await store.insert_booking(booking())
    with pytest.raises(Duplicate) as dup:
        await store.insert_booking(booking(booking_id="b2", pid="other"))
    assert dup.value.what == BOOKING_LEASE


async def test_one_live_booking_per_person_and_slot(store: SqliteStore) -> None:
    await store.insert_booking(booking())
    with pytest.raises(Duplicate) as dup:
        await store.insert_booking(booking(booking_id="b2", lease_id="l2"))
    assert dup.value.what == BOOKING_PERSON_SLOT
    # Once cancelled, the person may book the slot again.
    await store.save(booking=dataclasses.replace(booking(), status=BookingStatus.CANCELED))
    await store.insert_booking(booking(booking_id="b2", lease_id="l2"))
    assert (await store.get_booking("b2")).status is BookingStatus.CONFIRMED


async def test_a_failed_save_writes_neither_record(store: SqliteStore) -> None:
    await store.insert_lease(lease())
    await store.insert_booking(booking())
    await store.insert_booking(booking(booking_id="b2", lease_id=None, pid="pid2"))
    consumed = dataclasses.replace(lease(), state=LeaseState.CONSUMED)
    clash = dataclasses.replace(booking(booking_id="b2", lease_id=None, pid="pid2"), lease_id="l1")
    # The booking update breaks the one-booking-per-lease constraint (l1 already has b1).
    with pytest.raises(sqlite3.IntegrityError, match=r"^UNIQUE constraint failed: bookings\.lease_id$"):
        await store.save(lease=consumed, booking=clash)
    assert (await store.get_lease("l1")).state is LeaseState.HELD
    assert (await store.get_booking("b2")).lease_id is None
