"""Customer data in the store: an owner-only file, and erased [store] retain_days after the
appointment ended, while ids, statuses and idempotent replays keep answering."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import pathlib
import sqlite3
import stat
from collections.abc import Awaitable, Callable, Iterator

import pytest

from bridge import config as config_mod
from bridge._proto import booking_v2_pb2 as v2
from bridge.clock import ManualClock
from bridge.core.models import Booking, BookingStatus, Client, Slot, Target
from bridge.retention import Retention
from bridge.simulator import Simulator
from bridge.store import SqliteStore, Store

from . import test_v2_grpc as v2_calls
from . import test_v3_rest as v3_calls
from .harness import Harness, at, bridge_config

# One customer per front, so the file's bytes tell whose data is still there.
V0_EMAIL, V2_EMAIL, V3_EMAIL = "ada@example.com", "grace.v2@example.com", "john.smith@example.com"
YOUNG_EMAIL = "king.later@example.com"


def private(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def wide_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


# -- the file --------------------------------------------------------------------------


async def test_a_new_store_and_its_wal_and_shm_are_owner_only(tmp_path: pathlib.Path, wide_umask: None) -> None:
    path = tmp_path / "new.sqlite3"
    store = SqliteStore(path)
    try:
        await store.forget_response("nothing")  # a write, so the WAL exists
        files = [path, tmp_path / "new.sqlite3-wal", tmp_path / "new.sqlite3-shm"]
        assert {f.name: private(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await store.close()


async def test_an_existing_store_readable_by_others_is_tightened_and_said_once(
    tmp_path: pathlib.Path, wide_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.sqlite3"
    sqlite3.connect(path).close()
    os.chmod(path, 0o644)
    caplog.set_level(logging.WARNING, logger="bridge.store")

    await SqliteStore(path).close()
    await SqliteStore(path).close()

    assert private(path) == 0o600
    said = [r for r in caplog.records if r.name == "bridge.store"]
    assert [(r.getMessage(), r.was, r.now) for r in said] == [  # type: ignore[attr-defined]
        ("store file was readable by others; now owner-only", "0o644", "0o600")
    ]


def test_retain_days_must_be_a_positive_number_of_days() -> None:
    upstream = {"account": "acme", "tenant_id": "t-1"}
    with pytest.raises(config_mod.ConfigError) as err:
        config_mod.from_dict({"upstream": upstream, "store": {"retain_days": 0}})
    assert "[store] retain_days: must be between 1 and 3650" in err.value.problems
    assert config_mod.from_dict({"upstream": upstream}).store.retain_days == 30


# -- erasure ---------------------------------------------------------------------------


@dataclasses.dataclass
class Booked:
    v0: str
    v2_request: v2.CreateBookingRequest
    v2_answer: bytes
    v3_request: dict
    v3_answer: bytes
    young: str


async def book_one_per_front(h: Harness) -> Booked:
    """A booking through each front tomorrow, and a younger one of the v3 customer three days on."""
    lease = await h.lease(at(1, 10), reference="r-v0")
    v0 = (await h.book(lease.lease_id, email=V0_EMAIL)).booking_id
    v2_request = v2_calls.booking_request(at(1, 11), token="t-v2", who=v2_calls.user(
        "user-grace", email=V2_EMAIL, given_name="Grace", family_name="Hopper"))
    v2_answer = (await h.v2.CreateBooking(v2_request)).SerializeToString()
    v3_request = v3_calls.booking_request("t-v3", at(1, 12))
    v3_answer = await h.rest.post("/CreateBooking", json=v3_request)
    assert v3_answer.status_code == 200, v3_answer.text
    young = await v3_calls.book(h, "t-young", at(4, 10), who=v3_calls.user(email=YOUNG_EMAIL))
    return Booked(v0, v2_request, v2_answer, v3_request, v3_answer.content, young["booking"]["booking_id"])


def file_bytes(store: pathlib.Path) -> bytes:
    """The store as it lies on disk: the file and whatever its WAL still holds."""
    wal = store.with_name(store.name + "-wal")
    return store.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def identifiers(store: pathlib.Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT booking_id, personal_identifier, status FROM bookings ORDER BY booking_id").fetchall()


def customers(store: pathlib.Path) -> dict[str, str]:
    with sqlite3.connect(store) as db:
        return {email or "<erased>": bid for bid, email in
                db.execute("SELECT booking_id, json_extract(client, '$.email') FROM bookings")}


async def test_customers_are_erased_retain_days_after_the_appointment_ended(harness: Harness) -> None:
    h, path = harness, harness.config.resolve(harness.config.store.path)
    booked = await book_one_per_front(h)
    retention = Retention(h.bridge.store, h.clock, retain_days=30)
    assert await retention.run_once() == 0
    kept = identifiers(path)
    for email in (V0_EMAIL, V2_EMAIL, V3_EMAIL, YOUNG_EMAIL):
        assert email.encode() in file_bytes(path)

    # A minute short of 30 days after tomorrow's 12:30 end: the 12:00 booking is kept.
    until(h.clock, at(1, 12, 30) + dt.timedelta(days=30, minutes=-1))
    assert await retention.run_once() == 2  # the v0 and v2 bookings ended earlier
    assert set(customers(path)) == {"<erased>", V3_EMAIL, YOUNG_EMAIL}

    h.clock.advance(minutes=1)
    assert await retention.run_once() == 1
    assert await retention.run_once() == 0  # idempotent: nothing left to erase
    assert set(customers(path)) == {"<erased>", YOUNG_EMAIL}
    on_disk = file_bytes(path)
    for gone in (V0_EMAIL, V2_EMAIL, V3_EMAIL, b"Lovelace", b"Hopper", b"+46 70-123 45 67"):
        assert (gone.encode() if isinstance(gone, str) else gone) not in on_disk, gone
    assert YOUNG_EMAIL.encode() in on_disk  # ended 27 days before: kept
    # Ids, statuses and the keyed identifier (one booking per person and slot) stay.
    assert identifiers(path) == kept


async def test_after_erasure_status_and_replays_still_answer_without_the_customer(harness: Harness) -> None:
    h = harness
    booked = await book_one_per_front(h)
    h.clock.advance(days=32)
    await Retention(h.bridge.store, h.clock, retain_days=30).run_once()
    writes = v2_calls.writes(h)

    status = await h.rest.post("/GetBookingStatus", json={"booking_id": booked.v0})
    assert status.status_code == 200 and status.json()["booking_status"] == "CONFIRMED"

    replay = await h.rest.post("/CreateBooking", json=booked.v3_request)
    assert replay.status_code == 200
    first = json.loads(booked.v3_answer)
    erased = replay.json()
    assert "user_information" in first["booking"] and "user_information" not in erased["booking"]
    first["booking"].pop("user_information")
    assert erased == first  # the same answer, less the customer
    assert (await h.rest.post("/CreateBooking", json=booked.v3_request)).content == replay.content

    v2_replay = await h.v2.CreateBooking(booked.v2_request)
    original = v2.CreateBookingResponse.FromString(booked.v2_answer)
    assert v2_replay.booking.booking_id == original.booking.booking_id
    assert v2_replay.booking.user_information == v2.UserInformation()
    assert (await h.v2.CreateBooking(booked.v2_request)).SerializeToString() == v2_replay.SerializeToString()
    assert v2_calls.writes(h) == writes  # replays, not new bookings


async def test_serve_honours_the_configured_retain_days(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    config = bridge_config(sim, tmp_path / "bridge.sqlite3")
    h = Harness(sim=sim, clock=clock, config=dataclasses.replace(config, store=dataclasses.replace(config.store, retain_days=2)))
    await h.start()
    try:
        lease = await h.lease(at(1, 10), reference="r-days")
        await h.book(lease.lease_id)
        assert h.bridge.retention is not None
        until(clock, at(1, 10, 30) + dt.timedelta(days=2, seconds=-1))
        assert await h.bridge.retention.run_once() == 0
        clock.advance(seconds=1)
        assert await h.bridge.retention.run_once() == 1
    finally:
        await h.stop()


async def test_the_serve_loop_erases_at_once_and_then_every_round(store: Store) -> None:
    """On either backend (the ``store`` fixture)."""
    clock = ManualClock(NOW)
    retention = Retention(store, clock, retain_days=1, interval=0.01)

    async def emails() -> set[str]:
        return {b.client.email or "<erased>" for b in await store.bookings()}

    try:
        await store.insert_booking(store_booking("b-old", NOW - dt.timedelta(days=2)))
        await store.insert_booking(store_booking("b-new", NOW + dt.timedelta(days=1)))
        retention.start()
        await eventually(emails, {"<erased>", "ada@example.com"})
        clock.advance(days=3)
        await eventually(emails, {"<erased>"})
    finally:
        await retention.stop()


NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone.utc)


def store_booking(booking_id: str, start: dt.datetime) -> Booking:
    slot = Slot("m", "s", start, dt.timedelta(minutes=30))
    target = Target("tenant", "branch", "service", None, "Europe/Stockholm")
    client = Client("Ada", "Lovelace", "ada@example.com", "+46 70")
    return Booking(booking_id, slot, target, client, f"pid-{booking_id}", f"appt-{booking_id}",
                   BookingStatus.CONFIRMED, NOW, idempotency_key=None)


def until(clock: ManualClock, when: dt.datetime) -> None:
    clock.advance(seconds=(when - clock.now()).total_seconds())


async def eventually(found: Callable[[], Awaitable[set[str]]], expected: set[str]) -> None:
    for _ in range(500):
        if await found() == expected:
            return
        await asyncio.sleep(0.01)
    assert await found() == expected
