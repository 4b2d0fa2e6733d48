"""The store, on both backends (SQLite and PostgreSQL, see the ``store`` fixture in
conftest.py): constraints hold, nothing half-written, everything survives a reopen, the
outbox merges, the watch list is claimed once, retention erases in batches. Then what is
one backend's own: SQLite's WAL and sync, its group commit and its reads on the event
loop's thread, schema versions and ``store migrate``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from bridge.core.models import Booking, BookingStatus, Client, Lease, LeaseState, Notification, PendingChange, Slot, Target
from bridge.store import (
    BOOKING_LEASE,
    BOOKING_PERSON_SLOT,
    DEAD,
    IDEMPOTENCY_KEY,
    LEASE_REFERENCE,
    PENDING,
    SENT,
    Duplicate,
    NeedsMigration,
    SqliteStore,
)
from bridge import deadline
from bridge.failures import BridgeError, Cause
from bridge.store import _sqlite as sqlite_module
from bridge.store import _writes
from bridge.store._retention import ERASED

NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone.utc)
SLOT = Slot("m", "s", NOW + dt.timedelta(days=1), dt.timedelta(minutes=30), staff_id="st", availability_tag="t")
TARGET = Target("tenant", "branch", "service", "resource", "Europe/Stockholm")


def lease(lease_id: str = "l1", reference: str = "r1") -> Lease:
    return Lease(lease_id, reference, SLOT, TARGET, LeaseState.HELD, NOW, None, "hold-1", NOW + dt.timedelta(minutes=14))


def booking(booking_id: str = "b1", lease_id: str | None = "l1", pid: str = "pid1", *, start: dt.datetime | None = None,
            key: str | None = None) -> Booking:
    client = Client("Ada", "Lovelace", "ada@example.com", "+46 70", (("postal_code", "111 20"),))
    slot = SLOT if start is None else dataclasses.replace(SLOT, start=start)
    return Booking(booking_id, slot, TARGET, client, pid, "appt-1", BookingStatus.CONFIRMED, NOW, lease_id,
                   idempotency_key=key)


def note(booking_id: str = "b1", **changed: Any) -> Notification:
    return Notification(booking_id, "m", "s", noticed_at=NOW, **changed)


# -- records and constraints -----------------------------------------------------------


async def test_records_round_trip_and_survive_a_reopen(open_store: Any) -> None:
    first = open_store()
    pending = dataclasses.replace(booking(), pending=PendingChange("reschedule", NOW, dt.timedelta(minutes=15), "h2"))
    await first.insert_lease(lease())
    await first.insert_booking(pending)
    await first.close()

    again = open_store()
    try:
        assert await again.get_lease("l1") == lease()
        assert await again.get_lease_by_reference("r1") == lease()
        assert await again.get_booking("b1") == pending
        assert await again.get_booking_by_lease("l1") == pending
        assert await again.get_booking("nope") is None
        await again.delete_lease("l1")
        await again.delete_booking("b1")
        assert await again.get_lease("l1") is None and await again.get_booking("b1") is None
    finally:
        await again.close()


async def test_client_reference_is_unique(store: Any) -> None:
    await store.insert_lease(lease())
    with pytest.raises(Duplicate) as dup:
        await store.insert_lease(lease(lease_id="l2"))
    assert dup.value.what == LEASE_REFERENCE


async def test_a_lease_makes_one_booking(store: Any) -> None:
    await store.insert_booking(booking())
    with pytest.raises(Duplicate) as dup:
        await store.insert_booking(booking(booking_id="b2", pid="other"))
    assert dup.value.what == BOOKING_LEASE


async def test_one_live_booking_per_person_and_slot(store: Any) -> None:
    await store.insert_booking(booking())
    with pytest.raises(Duplicate) as dup:
        await store.insert_booking(booking(booking_id="b2", lease_id="l2"))
    assert dup.value.what == BOOKING_PERSON_SLOT
    # Once cancelled, the person may book the slot again.
    await store.save(booking=dataclasses.replace(booking(), status=BookingStatus.CANCELED))
    await store.insert_booking(booking(booking_id="b2", lease_id="l2"))
    assert (await store.get_booking("b2")).status is BookingStatus.CONFIRMED
    assert [b.booking_id for b in await store.bookings_of("pid1")] == ["b1", "b2"]


async def test_one_booking_and_one_answer_per_idempotency_key(store: Any) -> None:
    await store.insert_booking(booking(key="k1"))
    with pytest.raises(Duplicate) as dup:
        await store.insert_booking(booking(booking_id="b2", lease_id=None, pid="p2", key="k1"))
    assert dup.value.what == IDEMPOTENCY_KEY
    assert (await store.get_booking_by_idempotency_key("k1")).booking_id == "b1"

    await store.claim_response("k1", "fp")
    with pytest.raises(Duplicate) as dup:
        await store.claim_response("k1", "other")
    assert dup.value.what == IDEMPOTENCY_KEY
    assert tuple(await store.get_response("k1")) == ("fp", None)
    await store.store_response("k1", b"\x00answer\xff")
    assert tuple(await store.get_response("k1")) == ("fp", b"\x00answer\xff")
    await store.forget_response("k1")
    assert await store.get_response("k1") is None


async def test_a_failed_save_writes_neither_record(store: Any) -> None:
    await store.insert_lease(lease())
    await store.insert_booking(booking())
    await store.insert_booking(booking(booking_id="b2", lease_id=None, pid="pid2"))
    consumed = dataclasses.replace(lease(), state=LeaseState.CONSUMED)
    clash = dataclasses.replace(booking(booking_id="b2", lease_id=None, pid="pid2"), lease_id="l1")
    # The booking update breaks the one-booking-per-lease constraint (l1 already has b1).
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation), match="lease_id"):
        await store.save(lease=consumed, booking=clash, notification=note("b2", status=BookingStatus.CANCELED))
    assert (await store.get_lease("l1")).state is LeaseState.HELD
    assert (await store.get_booking("b2")).lease_id is None
    assert await store.due_notifications(NOW.timestamp(), 10, 60.0) == []


async def test_bookings_lists_by_merchant_and_status_earliest_first(store: Any) -> None:
    await store.insert_booking(booking("b-late", None, "p1", start=NOW + dt.timedelta(days=3)))
    await store.insert_booking(booking("b-early", None, "p2", start=NOW + dt.timedelta(days=2)))
    await store.save(booking=dataclasses.replace(booking("b-late", None, "p1", start=NOW + dt.timedelta(days=3)),
                                                 status=BookingStatus.CANCELED))
    assert [b.booking_id for b in await store.bookings()] == ["b-early", "b-late"]
    assert [b.booking_id for b in await store.bookings("m", "canceled")] == ["b-late"]
    assert await store.bookings("other") == []


# -- the outbox ------------------------------------------------------------------------


async def test_a_change_of_an_unsent_notification_is_merged_and_the_old_send_does_not_count(store: Any) -> None:
    await store.insert_booking(booking())
    later = NOW + dt.timedelta(days=2)
    await store.save(booking=booking(), notification=note(start=later))
    [entry] = await store.due_notifications(NOW.timestamp(), 10, 60.0)
    assert entry.notification.start == later and entry.version == 1

    await store.save(notification=note(status=BookingStatus.CANCELED))  # while the first is being sent
    assert await store.finish_notification(entry, SENT, NOW.timestamp()) is False  # version 1 is stale
    [merged] = await store.due_notifications(NOW.timestamp() + 120, 10, 60.0)
    assert (merged.id, merged.version) == (entry.id, 2)
    assert (merged.notification.start, merged.notification.status) == (later, BookingStatus.CANCELED)
    assert await store.finish_notification(merged, SENT, NOW.timestamp() + 120) is True
    assert await store.notification_counts() == {"pending": 0, "sent": 1, "dropped": 0, "dead": 0}
    [(listed, when, why)] = await store.notifications(SENT)
    assert listed.id == entry.id and when.startswith("2026-11-23T07:02") and why is None

    # A new change after the send is a new notification; pruning drops the settled one.
    await store.save(notification=note(party_size=3))
    assert await store.prune_notifications(NOW.timestamp() + 121) == 1
    assert await store.notification_counts() == {"pending": 1, "sent": 0, "dropped": 0, "dead": 0}
    assert (await store.inventory_backlog(NOW.timestamp()))[0] == 1


async def test_a_retried_notification_waits_and_then_dies(store: Any) -> None:
    await store.save(notification=note(status=BookingStatus.CANCELED))
    t = NOW.timestamp()
    [entry] = await store.due_notifications(t, 10, 60.0)
    await store.retry_notification(entry, t + 30, "503")
    assert await store.due_notifications(t + 29, 10, 60.0) == []
    [again] = await store.due_notifications(t + 30, 10, 60.0)
    assert again.attempts == 1
    assert await store.finish_notification(again, DEAD, t + 31, "gave up")
    assert [(e.attempts, why) for e, _, why in await store.notifications(DEAD)] == [(2, "gave up")]
    assert await store.notifications(PENDING) == []


# -- the watch list --------------------------------------------------------------------


async def test_confirmed_bookings_still_to_come_are_watched_and_spread_over_the_period(store: Any) -> None:
    for i in range(4):
        b = booking(f"b{i}", None, f"p{i}")
        await store.insert_booking(b)
        await store.save(booking=b)
    cancelled = dataclasses.replace(booking("b3", None, "p3"), status=BookingStatus.CANCELED)
    await store.save(booking=cancelled)  # no longer watched
    t = NOW.timestamp()
    assert await store.watched_count(t) == 3
    assert await store.inventory_backlog(t) == (0, None)  # never read: no time yet

    # Never read: spread over the 90 s period, so only the first is due now.
    assert await store.due_watches(t, 10, 90.0, 90.0) == ["b0"]
    assert await store.due_watches(t + 30, 10, 90.0, 90.0) == ["b1"]
    assert await store.due_watches(t + 60, 10, 90.0, 90.0) == ["b2"]
    assert await store.inventory_backlog(t) == (0, t + 90)
    await store.watch_next("b2", t + 95)
    assert await store.due_watches(t + 120, 10, 90.0, 90.0) == ["b0", "b2", "b1"]  # longest overdue first
    await store.unwatch("b0")
    assert await store.watched_count(t) == 2
    # Ended bookings drop off the list.
    assert await store.due_watches(SLOT.end.timestamp(), 10, 90.0, 90.0) == []
    assert await store.watched_count(t) == 0


async def test_a_claimed_booking_left_unread_is_due_again_when_its_claim_ends(store: Any) -> None:
    """A replica that claims a booking and dies before reading it delays the read by the
    claim, not by a whole period; a read sets the next one itself."""
    b = booking("b0", None, "p0")
    await store.insert_booking(b)
    await store.save(booking=b)
    t = NOW.timestamp()
    assert await store.due_watches(t, 10, 90.0, 15.0) == ["b0"]
    assert await store.due_watches(t + 14, 10, 90.0, 15.0) == []
    assert await store.due_watches(t + 15, 10, 90.0, 15.0) == ["b0"]
    await store.watch_next("b0", t + 15 + 90)
    assert await store.due_watches(t + 100, 10, 90.0, 15.0) == []
    assert await store.due_watches(t + 105, 10, 90.0, 15.0) == ["b0"]


async def test_two_replicas_claiming_at_once_never_read_the_same_booking(open_store: Any) -> None:
    first, second = open_store(), open_store()
    try:
        for i in range(40):
            b = booking(f"b{i:02}", None, f"p{i}")
            await first.insert_booking(b)
            await first.save(booking=b, notification=note(b.booking_id, status=BookingStatus.CANCELED))
        t = NOW.timestamp()
        await first.due_watches(t - 100, 1, 1.0, 1.0)  # gives every booking its time, all due by t
        claims = await asyncio.gather(*(s.due_watches(t, 15, 90.0, 90.0) for s in (first, second, first, second)))
        read = [booking_id for claim in claims for booking_id in claim]
        assert len(read) == len(set(read)) == 40

        if isinstance(first, SqliteStore):
            return  # one process owns a SQLite file: its one notifier reads what is due, unclaimed
        sends = await asyncio.gather(*(s.due_notifications(t, 15, 60.0) for s in (first, second, first, second)))
        sent = [entry.id for batch in sends for entry in batch]
        assert len(sent) == len(set(sent)) == 40
        # Claimed until settled or a minute on: a replica that died holding them only delays them.
        assert await first.due_notifications(t + 59, 50, 60.0) == []
        assert len(await second.due_notifications(t + 60, 50, 60.0)) == 40
    finally:
        await first.close()
        await second.close()


async def test_on_postgres_rows_another_replica_is_claiming_are_skipped_not_read_twice(postgres: Any) -> None:
    """A claim still in flight (its transaction open) holds its rows: a second replica
    claims the others at once instead of waiting and then taking the same ones."""
    from psycopg.rows import dict_row

    from bridge.store._pg_outbox import due, due_watches
    from bridge.store._postgres import PostgresStore

    from . import pgcluster

    url = postgres.new_database(pgcluster.TEMPLATE)
    other = PostgresStore(url)
    try:
        for i in range(6):
            b = booking(f"b{i}", None, f"p{i}")
            await other.insert_booking(b)
            await other.save(booking=b, notification=note(b.booking_id, status=BookingStatus.CANCELED))
        t = NOW.timestamp()
        await other.due_watches(t - 100, 1, 1.0, 1.0)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as db:
            async with db.transaction():
                held = await due_watches(db, t, 3, 90.0, 90.0)
                sending = await due(db, t, 3, 60.0)
                watches = asyncio.create_task(other.due_watches(t, 10, 90.0, 90.0))
                notifications = asyncio.create_task(other.due_notifications(t, 10, 60.0))
                await asyncio.sleep(0.3)  # what the other replica claims meanwhile
            claimed, sent = await watches, await notifications
        assert len(held) == 3 and sorted(held + claimed) == [f"b{i}" for i in range(6)]
        assert len(sending) == 3 and sorted(e.id for e in sending + sent) == list(range(1, 7))
    finally:
        await other.close()


# -- retention -------------------------------------------------------------------------


async def test_customers_of_ended_appointments_are_erased_in_batches_with_their_answers(store: Any) -> None:
    old = NOW - dt.timedelta(days=40)
    for i in range(5):
        await store.insert_booking(booking(f"b{i}", None, f"p{i}", start=old + dt.timedelta(hours=i), key=f"k{i}"))
        await store.claim_response(f"k{i}", "fp")
        await store.store_response(f"k{i}", b"with the customer" if i != 2 else b"unreadable")
    await store.insert_booking(booking("young", None, "py", start=NOW))

    def scrub(body: bytes) -> bytes | None:
        return None if body == b"unreadable" else b"without"

    assert await store.erase_personal_data(NOW - dt.timedelta(days=30), scrub, batch=2) == 5
    assert await store.erase_personal_data(NOW - dt.timedelta(days=30), scrub, batch=2) == 0
    kept = {b.booking_id: b.client.email for b in await store.bookings()}
    assert kept == {**{f"b{i}": "" for i in range(5)}, "young": "ada@example.com"}
    assert [(await store.get_response(f"k{i}")).body for i in range(5)] == [b"without"] * 2 + [None] + [b"without"] * 2
    assert (await store.get_booking("b0")).personal_identifier == "p0"
    assert ERASED  # the one erased value both backends write


async def test_a_booking_read_before_its_erasure_and_saved_after_it_stays_erased(store: Any) -> None:
    """The save's own change lands; the customer it still carries does not come back."""
    await store.insert_booking(booking(start=NOW - dt.timedelta(days=40)))
    read = await store.get_booking("b1")
    assert await store.erase_personal_data(NOW - dt.timedelta(days=30), lambda body: body) == 1
    await store.save(booking=dataclasses.replace(read, status=BookingStatus.CANCELED))
    saved = await store.get_booking("b1")
    assert (saved.status, saved.client.email, saved.client.telephone) == (BookingStatus.CANCELED, "", "")
    assert [b.client.given_name for b in await store.bookings()] == [""]


# -- advisory locks ----------------------------------------------------------------------


async def test_a_lock_is_held_by_one_caller_at_a_time(open_store: Any) -> None:
    first, second = open_store(), open_store()
    # PostgreSQL's lock holds across replicas (two stores); SQLite's within the one process
    # that owns the file (one store).
    stores = [first, first] if isinstance(first, SqliteStore) else [first, second]
    order: list[str] = []

    async def hold(store: Any, name: str) -> None:
        async with store.lock("booking:b1"):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    try:
        await asyncio.gather(hold(stores[0], "a"), hold(stores[1], "b"))
        assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    finally:
        await first.close()
        await second.close()


async def test_on_postgres_a_flow_takes_its_inner_locks_on_its_one_lock_connection(postgres: Any) -> None:
    """An idempotent booking takes its lease's lock inside its token's: with one lock
    connection per replica, a second connection for the inner lock would never come."""
    from bridge.store._postgres import PostgresStore

    from . import pgcluster

    store = PostgresStore(postgres.new_database(pgcluster.TEMPLATE), pool_size=1)
    try:
        with deadline.scope(5.0):
            async with store.lock("idempotency:k1"), store.lock("lease-ref:booking:k1"), store.lock("lease:l1"):
                await store.insert_lease(lease())  # the store's own pool is not the locks'
        assert await store.get_lease("l1") is not None
    finally:
        await store.close()


async def test_on_postgres_a_lock_awaited_past_the_callers_deadline_is_unavailable(postgres: Any) -> None:
    from bridge.store._postgres import PostgresStore

    from . import pgcluster

    url = postgres.new_database(pgcluster.TEMPLATE)
    first, second = PostgresStore(url), PostgresStore(url)
    try:
        async with first.lock("lease:l1"):
            started = time.monotonic()
            with deadline.scope(0.3), pytest.raises(BridgeError) as refused:
                async with second.lock("lease:l1"):
                    pytest.fail("two replicas held one lock")
            waited = time.monotonic() - started
        assert refused.value.cause is Cause.UNAVAILABLE
        assert waited < 0.3 + 3.0  # the caller's 0.3 s and a generous allowance, not the 30 s of no deadline
        with deadline.scope(5.0):
            async with second.lock("lease:l1"):  # free again once the holder is done
                pass
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize("ending", ["cancelled", "connection lost"])
async def test_on_postgres_a_lock_whose_holder_is_gone_is_free(postgres: Any, ending: str) -> None:
    """A replica killed mid-flow (its connection closes) or a call cancelled mid-flow
    leaves no lock behind: the next replica's retry goes ahead at once."""
    from bridge.store._postgres import PostgresStore

    from . import pgcluster

    url = postgres.new_database(pgcluster.TEMPLATE)
    first, second = PostgresStore(url), PostgresStore(url)
    taken, forever = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with first.lock("booking:b1"):
            taken.set()
            await forever.wait()

    holder = asyncio.create_task(hold())
    try:
        await taken.wait()
        if ending == "cancelled":
            holder.cancel()
        else:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
                await db.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'")
        with deadline.scope(5.0):
            async with second.lock("booking:b1"):
                pass
    finally:
        forever.set()
        await asyncio.gather(holder, return_exceptions=True)
        await first.close()
        await second.close()


async def test_on_postgres_connections_cut_by_a_database_restart_are_replaced(
    postgres: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that sat idle is pinged before use, so the first call after a restart
    succeeds; one in steady use is not (a round trip per call saved): its call is
    UNAVAILABLE, and the next gets a fresh connection."""
    from bridge.failures import StoreUnavailable
    from bridge.store import _pg_idle
    from bridge.store._postgres import PostgresStore

    from . import pgcluster

    url = postgres.new_database(pgcluster.TEMPLATE)
    store = PostgresStore(url, pool_size=1)

    async def restart() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
            await db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                             " WHERE datname = current_database() AND pid != pg_backend_pid()")

    try:
        await store.insert_lease(lease())
        monkeypatch.setattr(_pg_idle, "IDLE_SECONDS", 0.0)  # every connection counts as idle
        await restart()
        assert await store.get_lease("l1") is not None
        monkeypatch.setattr(_pg_idle, "IDLE_SECONDS", 3600.0)  # none does
        await restart()
        with pytest.raises(StoreUnavailable):
            await store.get_lease("l1")
        assert await store.get_lease("l1") is not None
    finally:
        await store.close()


# -- SQLite's own ----------------------------------------------------------------------


async def test_the_sqlite_store_is_in_wal_mode_with_full_sync(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        modes = await store._run(lambda db: (db.execute("PRAGMA journal_mode").fetchone()[0],
                                             db.execute("PRAGMA synchronous").fetchone()[0]))
        assert modes == ("wal", 2)
    finally:
        await store.close()


async def writer_statements(store: SqliteStore) -> list[str]:
    """The statements the store's writer runs from now on; COMMITs are its fsyncs."""
    statements: list[str] = []
    await store._run(lambda db: db.set_trace_callback(statements.append))
    return statements


@contextlib.asynccontextmanager
async def writer_busy(store: SqliteStore, queued: int) -> AsyncIterator[None]:
    """The writer thread held busy while the body asks for ``queued`` writes; once all are
    queued, it is let go. No timing: the queue is watched."""
    holding, gate = threading.Event(), threading.Event()

    def hold(db: sqlite3.Connection) -> None:
        holding.set()
        gate.wait(30)

    held = asyncio.ensure_future(store._run(hold))
    try:
        assert await asyncio.to_thread(holding.wait, 30)
        yield
        for _ in range(1000):
            if store._writes.queued >= queued:
                break
            await asyncio.sleep(0)
        assert store._writes.queued == queued
    finally:
        gate.set()
        await held


async def test_sqlite_writes_queued_while_the_writer_is_busy_share_one_commit(tmp_path: pathlib.Path) -> None:
    """A hundred writes asked at once: two commits (at most 64 writes each), not a hundred."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        statements = await writer_statements(store)
        async with writer_busy(store, 100):
            writes = [asyncio.ensure_future(store.insert_lease(lease(f"l{i}", f"r{i}"))) for i in range(100)]
        await asyncio.gather(*writes)
        groups = " ".join(statements).split("COMMIT")
        assert [group.count("SAVEPOINT unit") for group in groups] == [64, 36, 0]
        assert statements.count("BEGIN IMMEDIATE") == 2
        assert all([await store.get_lease(f"l{i}") for i in range(100)])

        # And without holding the writer: fifty at once still share far fewer commits.
        statements.clear()
        await asyncio.gather(*(store.insert_lease(lease(f"m{i}", f"s{i}")) for i in range(50)))
        assert 1 <= statements.count("COMMIT") <= 10
    finally:
        await store.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice is a thread's own on Linux only")
async def test_sqlite_the_writer_thread_is_nicer_than_the_event_loops(tmp_path: pathlib.Path) -> None:
    """Its wake-ups, at least two per COMMIT, must not preempt the loop serving calls."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        await store.insert_lease(lease())
        writer = store._writer.native_id
        assert writer is not None and writer != threading.get_native_id()
        loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert os.getpriority(os.PRIO_PROCESS, writer) == min(19, loop_nice + _writes.NICER) > loop_nice
    finally:
        await store.close()


async def test_sqlite_a_failing_write_in_a_group_fails_only_its_caller(tmp_path: pathlib.Path) -> None:
    """A duplicate, and a save that fails half-way, share a commit with writes that succeed:
    each failing caller gets its own error, with nothing of its write left; the others commit."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        await store.insert_booking(booking())
        await store.insert_booking(booking(booking_id="b2", lease_id=None, pid="pid2"))
        statements = await writer_statements(store)
        consumed = dataclasses.replace(lease(), state=LeaseState.CONSUMED)
        clash = dataclasses.replace(booking(booking_id="b2", lease_id=None, pid="pid2"), lease_id="l1")
        async with writer_busy(store, 7):
            asked = [
                store.insert_lease(lease("l1", "r1")),
                store.insert_lease(lease("l2", "r1")),  # the same client reference
                store.claim_response("k1", "fp"),
                store.claim_response("k1", "other"),  # the same idempotency key
                # the lease is updated, then the booking breaks one-booking-per-lease
                store.save(lease=consumed, booking=clash, notification=note("b2", status=BookingStatus.CANCELED)),
                store.insert_lease(lease("l3", "r3")),
                store.save(notification=note("b1", party_size=2)),
            ]
            outcomes = asyncio.gather(*asked, return_exceptions=True)
        done = await outcomes
        assert [type(o).__name__ for o in done] == [
            "NoneType", "Duplicate", "NoneType", "Duplicate", "IntegrityError", "NoneType", "NoneType"]
        assert (done[1].what, done[3].what) == (LEASE_REFERENCE, IDEMPOTENCY_KEY)
        assert statements.count("COMMIT") == 1
        assert (await store.get_lease("l1")).state is LeaseState.HELD  # the failed save left nothing
        assert (await store.get_booking("b2")).lease_id is None
        assert await store.get_lease("l2") is None and await store.get_lease("l3") is not None
        assert tuple(await store.get_response("k1")) == ("fp", None)
        [entry] = await store.due_notifications(NOW.timestamp(), 10, 60.0)
        assert (entry.notification.booking_id, entry.notification.party_size) == ("b1", 2)
    finally:
        await store.close()


async def test_sqlite_a_write_whose_error_ends_the_transaction_fails_alone(tmp_path: pathlib.Path) -> None:
    """SQLite rolls the whole transaction back on some errors (a full disk, an I/O error):
    the writes of the group that had succeeded are run again, and commit."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        statements = await writer_statements(store)

        def ends_it(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO responses (idempotency_key, fingerprint) VALUES ('lost', 'fp')")
            db.execute("ROLLBACK")  # as SQLite does on SQLITE_FULL
            raise sqlite3.OperationalError("database or disk is full")

        async with writer_busy(store, 3):
            outcomes = asyncio.gather(store.insert_lease(lease("l1", "r1")), store._in_transaction(ends_it),
                                      store.insert_lease(lease("l3", "r3")), return_exceptions=True)
        first, failed, third = await outcomes
        assert first is None and third is None and isinstance(failed, sqlite3.OperationalError)
        assert statements.count("BEGIN IMMEDIATE") == 2 and statements.count("COMMIT") == 1
        assert await store.get_lease("l1") is not None and await store.get_lease("l3") is not None
        assert await store.get_response("lost") is None
    finally:
        await store.close()


async def test_sqlite_a_failed_commit_fails_every_write_of_its_group(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")

    def no_commit(action: int, arg1: str | None, *_: object) -> int:
        refused = action == sqlite3.SQLITE_TRANSACTION and arg1 == "COMMIT"
        return sqlite3.SQLITE_DENY if refused else sqlite3.SQLITE_OK

    try:
        await store._run(lambda db: db.set_authorizer(no_commit))
        async with writer_busy(store, 3):
            outcomes = asyncio.gather(*(store.insert_lease(lease(f"l{i}", f"r{i}")) for i in range(3)),
                                      return_exceptions=True)
        assert [type(o) for o in await outcomes] == [sqlite3.DatabaseError] * 3
        await store._run(lambda db: db.set_authorizer(None))
        assert [await store.get_lease(f"l{i}") for i in range(3)] == [None] * 3  # rolled back, all of them
        await store.insert_lease(lease())  # and the writer goes on
        assert await store.get_lease("l1") == lease()
    finally:
        await store.close()


async def test_sqlite_a_write_its_caller_gave_up_on_before_it_ran_is_not_made(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        async with writer_busy(store, 2):
            gone = asyncio.ensure_future(store.insert_lease(lease("l1", "r1")))
            kept = asyncio.ensure_future(store.insert_lease(lease("l2", "r2")))
            await asyncio.sleep(0)
            gone.cancel()
        await kept
        assert gone.cancelled()
        assert await store.get_lease("l1") is None and await store.get_lease("l2") is not None
    finally:
        await store.close()


@contextlib.contextmanager
def write_lock_held_elsewhere(path: pathlib.Path) -> Any:
    """Another process's writer (a backup, the bookings command), as SQLite sees it."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


async def test_sqlite_a_write_waits_for_another_writer_without_holding_up_the_loop(tmp_path: pathlib.Path,
                                                                                monkeypatch) -> None:
    monkeypatch.setattr(sqlite_module, "BUSY_MS", 3_000)
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        await store.insert_lease(lease("l1", "r1"))
        with write_lock_held_elsewhere(tmp_path / "s.sqlite3") as other:
            started = time.monotonic()
            waiting = asyncio.ensure_future(store.insert_lease(lease("l2", "r2")))
            await asyncio.sleep(0)  # the write's first step: its BEGIN finds the lock taken
            # Not held for the busy timeout (3 s): the wait is the writer thread's.
            assert time.monotonic() - started < 1.0
            for _ in range(10):
                await asyncio.sleep(0)
            # The loop goes on: a read is answered while the write waits for the lock.
            assert await store.get_lease("l1") == lease("l1", "r1")
            assert not waiting.done()
            other.execute("COMMIT")
            await waiting
        assert await store.get_lease("l2") == lease("l2", "r2")
    finally:
        await store.close()


async def test_sqlite_a_write_that_waits_past_the_busy_timeout_fails_alone(tmp_path: pathlib.Path,
                                                                         monkeypatch) -> None:
    monkeypatch.setattr(sqlite_module, "BUSY_MS", 100)
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        with write_lock_held_elsewhere(tmp_path / "s.sqlite3"):
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                await store.insert_lease(lease("l1", "r1"))
        await store.insert_lease(lease("l2", "r2"))  # and the next write goes on
        assert await store.get_lease("l1") is None
        assert await store.get_lease("l2") == lease("l2", "r2")
    finally:
        await store.close()


async def test_sqlite_an_erasure_batch_runs_on_the_writer_thread_not_the_loop(tmp_path: pathlib.Path) -> None:
    """A batch is a scan and hundreds of updates: too long to hold the event loop for, as
    a write's few statements do."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        for i in range(3):
            await store.insert_booking(booking(f"b{i}", None, f"p{i}", start=NOW - dt.timedelta(days=40)))
        ran: list[tuple[int, str]] = []
        await store._run(lambda db: db.set_trace_callback(lambda sql: ran.append((threading.get_ident(), sql))))
        assert await store.erase_personal_data(NOW - dt.timedelta(days=30), lambda body: body, batch=2) == 3
        erasing = {thread for thread, sql in ran if sql.startswith("UPDATE bookings SET client")}
        assert len(erasing) == 1 and threading.get_ident() not in erasing
        assert [b.client.email for b in await store.bookings()] == ["", "", ""]
    finally:
        await store.close()


async def test_sqlite_an_erasure_whose_commit_fails_leaves_the_store_writable(tmp_path: pathlib.Path) -> None:
    """A transaction of its own that could not commit is rolled back, not left open on the
    writer's connection for every later write to trip on."""
    store = SqliteStore(tmp_path / "s.sqlite3")

    def no_commit(action: int, arg1: str | None, *_: object) -> int:
        refused = action == sqlite3.SQLITE_TRANSACTION and arg1 == "COMMIT"
        return sqlite3.SQLITE_DENY if refused else sqlite3.SQLITE_OK

    try:
        await store.insert_booking(booking(start=NOW - dt.timedelta(days=40)))
        await store._run(lambda db: db.set_authorizer(no_commit))
        with pytest.raises(sqlite3.DatabaseError):
            await store.erase_personal_data(NOW - dt.timedelta(days=30), lambda body: body)
        await store._run(lambda db: db.set_authorizer(None))
        assert (await store.get_booking("b1")).client.email == "ada@example.com"  # rolled back
        await store.insert_lease(lease())  # and the writes go on
        assert await store.get_lease("l1") == lease()
    finally:
        await store.close()


async def test_sqlite_close_waits_for_the_writes_asked_before_it(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    writes = [asyncio.ensure_future(store.insert_lease(lease(f"l{i}", f"r{i}"))) for i in range(10)]
    await asyncio.sleep(0)  # asked, none answered yet
    await store.close()
    await asyncio.gather(*writes)
    with pytest.raises(sqlite3.ProgrammingError):
        await store.insert_lease(lease())
    again = SqliteStore(tmp_path / "s.sqlite3")
    try:
        assert all([await again.get_lease(f"l{i}") for i in range(10)])
    finally:
        await again.close()


# Runs against whichever bridge the tests import (the installed package in CI), so it
# builds its leases itself rather than importing this module.
CHILD = """
import asyncio, datetime as dt, sys
from bridge.core.models import Lease, LeaseState, Slot, Target
from bridge.store import SqliteStore

NOW = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone.utc)
SLOT = Slot("m", "s", NOW + dt.timedelta(days=1), dt.timedelta(minutes=30), staff_id="st", availability_tag="t")
TARGET = Target("tenant", "branch", "service", "resource", "Europe/Stockholm")

def lease(lease_id, reference):
    return Lease(lease_id, reference, SLOT, TARGET, LeaseState.HELD, NOW, None, "hold-1", NOW + dt.timedelta(minutes=14))

async def main():
    store = SqliteStore(sys.argv[1])
    await asyncio.gather(*(store.insert_lease(lease(f"l{i}", f"r{i}")) for i in range(20)))
    print("acknowledged", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_sqlite_an_acknowledged_write_outlives_its_process(tmp_path: pathlib.Path) -> None:
    """Once a write's await returns it is committed to the file: killed at once (SIGKILL,
    no close, no checkpoint), the process leaves it for a fresh connection to read."""
    import bridge

    path = tmp_path / "s.sqlite3"
    root = pathlib.Path(bridge.__file__).resolve().parent.parent  # where the tests' bridge comes from
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        said = child.stdout.readline()
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=60)
        assert said == "acknowledged\n", err
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert path.with_name(path.name + "-wal").stat().st_size > 0  # never checkpointed: read from the WAL
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 20
    finally:
        db.close()


async def test_sqlite_reads_run_on_the_loop_thread_and_see_the_latest_write(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    readers: set[int] = set()
    store._reader.set_trace_callback(lambda _: readers.add(threading.get_ident()))
    try:
        for i in range(20):
            await store.insert_lease(lease(f"l{i}", f"r{i}"))
            assert await store.get_lease(f"l{i}") == lease(f"l{i}", f"r{i}")
            consumed = dataclasses.replace(lease(f"l{i}", f"r{i}"), state=LeaseState.CONSUMED)
            await store.save(lease=consumed)
            assert await store.get_lease_by_reference(f"r{i}") == consumed
            await store.delete_lease(f"l{i}")
            assert await store.get_lease(f"l{i}") is None
        # Many writes in flight at once: each caller reads its own back as soon as it returns.
        async def write_then_read(i: int) -> None:
            b = booking(f"b{i}", None, f"p{i}", key=f"k{i}")
            await store.insert_booking(b)
            assert await store.get_booking_by_idempotency_key(f"k{i}") == b
            await store.save(booking=dataclasses.replace(b, status=BookingStatus.CANCELED))
            assert [x.status for x in await store.bookings_of(f"p{i}")] == [BookingStatus.CANCELED]

        await asyncio.gather(*(write_then_read(i) for i in range(40)))
        assert readers == {threading.get_ident()}
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store._reader.execute("DELETE FROM leases")
    finally:
        await store.close()


async def test_sqlite_a_read_that_finds_the_file_busy_is_made_on_the_writer_thread(tmp_path: pathlib.Path) -> None:
    """The loop's reader never waits on a lock (that would stall every call): it hands the
    read to the writer's connection, which waits its busy timeout."""

    class Busy:
        def __init__(self, real: sqlite3.Connection):
            self.real = real

        def execute(self, *_: object) -> None:
            raise sqlite3.OperationalError("database is locked")

        def close(self) -> None:
            self.real.close()

    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        await store.insert_lease(lease())
        store._reader = Busy(store._reader)  # type: ignore[assignment]
        assert await store.get_lease("l1") == lease()
    finally:
        await store.close()


# -- schema versions -------------------------------------------------------------------


def first_release_store(path: pathlib.Path) -> None:
    """A store as the first release left it: its tables and a booking, no schema_version."""
    from bridge.store._sqlite import SCHEMA

    with sqlite3.connect(path) as db:
        for statement in SCHEMA:
            db.execute(statement)
        db.execute("INSERT INTO responses (idempotency_key, fingerprint) VALUES ('k', 'fp')")
    db.close()


async def test_a_new_sqlite_store_is_created_at_the_current_version_an_old_one_needs_migrating(
    tmp_path: pathlib.Path,
) -> None:
    from bridge.store import SCHEMA_VERSION
    from bridge.store._sqlite import read_version

    await SqliteStore(tmp_path / "new.sqlite3").close()
    assert read_version(tmp_path / "new.sqlite3") == SCHEMA_VERSION

    old = tmp_path / "old.sqlite3"
    first_release_store(old)
    with pytest.raises(NeedsMigration) as needs:
        SqliteStore(old)
    assert needs.value.found == 0
    migrated = SqliteStore(old, migrate=True)
    assert migrated.found_version == 0
    assert tuple(await migrated.get_response("k")) == ("fp", None)  # the rows are kept
    await migrated.close()
    assert read_version(old) == SCHEMA_VERSION
    await SqliteStore(old).close()


async def test_postgres_is_created_only_by_migrate(postgres: Any) -> None:
    from bridge.store import SCHEMA_VERSION
    from bridge.store._postgres import PostgresStore, migrate, read_version

    url = postgres.new_database()
    store = PostgresStore(url)
    try:
        with pytest.raises(NeedsMigration) as needs:
            await store.get_lease("l1")
        assert needs.value.found == 0
    finally:
        await store.close()
    assert await migrate(url) == 0
    assert await migrate(url) == SCHEMA_VERSION  # idempotent
    assert read_version(url) == SCHEMA_VERSION
    store = PostgresStore(url)
    try:
        assert await store.get_lease("l1") is None
    finally:
        await store.close()


# -- the bridge on each backend ----------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_bridge_books_replays_cancels_and_restarts_on_either_store(
    backend: str, request: pytest.FixtureRequest, sim: Any, clock: Any, tmp_path: pathlib.Path
) -> None:
    """The core through its real fronts: what it wrote survives a restart, the one-booking-
    per-lease and idempotency rules answer from the store, the cancel is watched no more."""
    from bridge._proto import booking_v0_pb2 as pb

    from . import pgcluster
    from . import test_v3_rest as v3_calls
    from .harness import Harness, at, bridge_config

    config = bridge_config(sim, tmp_path / "bridge.sqlite3")
    if backend == "postgres":
        url = request.getfixturevalue("postgres").new_database(pgcluster.TEMPLATE)
        config = dataclasses.replace(config, store=dataclasses.replace(config.store, url=url))
    h = Harness(sim=sim, clock=clock, config=config)
    await h.start()
    try:
        lease_ = await h.lease(at(1, 10), reference="r-e2e")
        booked = await h.book(lease_.lease_id)
        assert (await h.book(lease_.lease_id)).booking_id == booked.booking_id  # no second confirm
        first = await h.rest.post("/CreateBooking", json=v3_calls.booking_request("t-e2e", at(1, 11)))
        assert first.status_code == 200, first.text
        await h.restart()
        replay = await h.rest.post("/CreateBooking", json=v3_calls.booking_request("t-e2e", at(1, 11)))
        assert replay.content == first.content
        assert (await h.cancel(booked.booking_id)).status == pb.CANCELED
        assert await h.bridge.store.watched_count(clock.now().timestamp()) == 1
        assert {b.status for b in await h.bridge.store.bookings()} == {BookingStatus.CONFIRMED, BookingStatus.CANCELED}
    finally:
        await h.stop()


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(("store", "problem"), [
    ({"url": "postgresql://bridge@db:5432/bridge", "pool_size": 4}, None),
    ({"url": "postgresql://bridge:hunter2@db/bridge"}, "[store] url: holds a password"),
    ({"url": "postgresql://bridge@db/bridge?password=hunter2"}, "[store] url: holds a password"),
    ({"url": "mysql://bridge@db/bridge"}, "[store] url: expected postgresql://USER@HOST:PORT/DATABASE"),
    ({"url": "postgresql://bridge@db"}, "[store] url: expected postgresql://"),
    ({"url": "postgresql://bridge@db/b", "path": "x.sqlite3"}, "[store] path, url: set one"),
    ({"pool_size": 0}, "[store] pool_size: must be between 1 and 1000"),
])
def test_the_store_configuration(store: dict[str, Any], problem: str | None) -> None:
    from bridge import config as config_mod

    raw = {"upstream": {"account": "acme", "tenant_id": "t-1"}, "store": store}
    if problem is None:
        assert config_mod.from_dict(raw).store.url == store["url"]
        return
    with pytest.raises(config_mod.ConfigError) as err:
        config_mod.from_dict(raw)
    assert [line for line in err.value.problems if line.startswith(problem)], err.value.problems
    assert "hunter2" not in str(err.value)
