"""The SQLite store answers recent leases and bookings from memory (bridge/store/_recent.py).
What it answers must always be what the file holds: after any mix of inserts, saves,
deletes, refusals and erasures, run one by one or together in one group commit; after a
caller gave up on a write that committed; and once anything could have changed the file
behind its back."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import pathlib
import sqlite3
import tempfile
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.core.models import BookingStatus, LeaseState
from bridge.store import Duplicate, SqliteStore
from bridge.store._records import Records
from bridge.store._recent import Recent

from .test_store import NOW, booking, lease

IDS = range(3)


async def _file(store: SqliteStore) -> dict[str, Any]:
    """Every look-up the flows make, read from the file (Records' own, past the memory)."""
    seen: dict[str, Any] = {}
    for i in IDS:
        seen[f"lease l{i}"] = await Records.get_lease(store, f"l{i}")
        seen[f"reference r{i}"] = await Records.get_lease_by_reference(store, f"r{i}")
        seen[f"booking b{i}"] = await Records.get_booking(store, f"b{i}")
        seen[f"booking of l{i}"] = await Records.get_booking_by_lease(store, f"l{i}")
        seen[f"booking with k{i}"] = await Records.get_booking_by_idempotency_key(store, f"k{i}")
    return seen


async def _answered(store: SqliteStore) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for i in IDS:
        seen[f"lease l{i}"] = await store.get_lease(f"l{i}")
        seen[f"reference r{i}"] = await store.get_lease_by_reference(f"r{i}")
        seen[f"booking b{i}"] = await store.get_booking(f"b{i}")
        seen[f"booking of l{i}"] = await store.get_booking_by_lease(f"l{i}")
        seen[f"booking with k{i}"] = await store.get_booking_by_idempotency_key(f"k{i}")
    return seen


_index = st.sampled_from(list(IDS))
_operation = st.one_of(
    st.tuples(st.just("insert lease"), _index, _index),
    st.tuples(st.just("save lease"), _index, st.sampled_from([LeaseState.HELD, LeaseState.CONSUMED])),
    st.tuples(st.just("delete lease"), _index),
    st.tuples(st.just("insert booking"), _index, _index, st.one_of(st.none(), _index)),
    st.tuples(st.just("save booking"), _index, _index, st.sampled_from([BookingStatus.CONFIRMED, BookingStatus.CANCELED])),
    st.tuples(st.just("delete booking"), _index),
    st.tuples(st.just("erase")),
    st.tuples(st.just("read"), _index),
)


async def _apply(store: SqliteStore, op: tuple[Any, ...]) -> None:
    kind = op[0]
    try:
        if kind == "insert lease":
            await store.insert_lease(lease(f"l{op[1]}", f"r{op[2]}"))
        elif kind == "save lease":
            await store.save(lease=dataclasses.replace(lease(f"l{op[1]}", f"r{op[1]}"), state=op[2]))
        elif kind == "delete lease":
            await store.delete_lease(f"l{op[1]}")
        elif kind == "insert booking":
            key = None if op[3] is None else f"k{op[3]}"
            await store.insert_booking(booking(f"b{op[1]}", f"l{op[2]}", pid=f"p{op[1]}", key=key))
        elif kind == "save booking":
            await store.save(booking=dataclasses.replace(booking(f"b{op[1]}", f"l{op[2]}", pid=f"p{op[1]}"), status=op[3]))
        elif kind == "delete booking":
            await store.delete_booking(f"b{op[1]}")
        elif kind == "erase":
            await store.erase_personal_data(NOW + dt.timedelta(days=30), lambda body: body)
        else:
            await store.get_lease(f"l{op[1]}")
            await store.get_booking_by_lease(f"l{op[1]}")
    except (Duplicate, sqlite3.IntegrityError):  # refused: a key taken (ids are not checked by the core)
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_operation, min_size=1, max_size=4), min_size=1, max_size=8))
# A saved lease that changed its reference: the old reference must name nothing.
@example(rounds=[[("insert lease", 0, 1)], [("save lease", 0, LeaseState.HELD)]])
def test_what_memory_answers_is_what_the_file_holds(rounds: list[list[tuple[Any, ...]]]) -> None:
    """Each round's operations run together (one group commit, settled in order); after
    each round every look-up answers what the file holds."""

    async def run(path: pathlib.Path) -> None:
        store = SqliteStore(path)
        try:
            for ops in rounds:
                await asyncio.gather(*(_apply(store, op) for op in ops))
                assert await _answered(store) == await _file(store)
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(pathlib.Path(folder) / "store.sqlite3"))


async def test_answers_come_from_memory_until_a_failed_write_forgets_them(tmp_path: pathlib.Path) -> None:
    """A change made behind the store's back (here, another connection) is not seen while
    the lease is remembered; after a write fails (which could have been a COMMIT that
    reached the file after all), the store reads the file again."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    try:
        await store.insert_lease(lease("l1", "r1"))
        assert (await store.get_lease("l1")).state is LeaseState.HELD  # type: ignore[union-attr]
        behind = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
        behind.execute("UPDATE leases SET state = 'consumed' WHERE lease_id = 'l1'")
        behind.close()
        assert (await store.get_lease("l1")).state is LeaseState.HELD  # type: ignore[union-attr]

        def fails(db: sqlite3.Connection) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        try:
            await store._in_transaction(fails)
        except sqlite3.OperationalError:
            pass
        assert (await store.get_lease("l1")).state is LeaseState.CONSUMED  # type: ignore[union-attr]
        assert (await store.get_lease_by_reference("r1")).state is LeaseState.CONSUMED  # type: ignore[union-attr]
    finally:
        await store.close()


async def test_a_committed_write_is_remembered_though_its_caller_gave_up(tmp_path: pathlib.Path) -> None:
    """A write the writer thread has taken commits whatever its caller does, and the store
    answers the committed state; one still queued when its caller gives up never runs."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    loop = asyncio.get_running_loop()
    inside, go_on = asyncio.Event(), asyncio.Event()

    def blocking(db: sqlite3.Connection) -> None:  # holds the writer thread until go_on
        loop.call_soon_threadsafe(inside.set)
        asyncio.run_coroutine_threadsafe(go_on.wait(), loop).result()

    consumed = dataclasses.replace(lease("l1", "r1"), state=LeaseState.CONSUMED)
    try:
        await store.insert_lease(lease("l1", "r1"))
        assert await store.get_lease("l1") == lease("l1", "r1")

        # Queued behind a slow job and given up on: never run.
        slow = asyncio.ensure_future(store._run(blocking))
        await inside.wait()
        saving = asyncio.ensure_future(store.save(lease=consumed))
        await asyncio.sleep(0)
        saving.cancel()
        go_on.set()
        await slow
        assert await Records.get_lease(store, "l1") == lease("l1", "r1")
        assert await store.get_lease("l1") == lease("l1", "r1")

        # Taken into a group, then given up on: committed, and answered.
        inside.clear()
        go_on.clear()
        slow = asyncio.ensure_future(store._run(blocking))
        await inside.wait()
        inside.clear()
        first = asyncio.ensure_future(store._in_transaction(blocking))  # the group's first write
        saving = asyncio.ensure_future(store.save(lease=consumed))  # queued with it
        await asyncio.sleep(0)
        go_on.set()  # the slow job ends; the group's first write blocks again until...
        await inside.wait()
        saving.cancel()  # ...its caller has given up on the save, which is in the group
        await asyncio.gather(first, saving, return_exceptions=True)
        assert saving.cancelled()
        while await Records.get_lease(store, "l1") != consumed:
            await asyncio.sleep(0.001)  # polled, not timed: the group is committing
        assert await store.get_lease("l1") == consumed
        assert await store.get_lease_by_reference("r1") == consumed
    finally:
        go_on.set()
        await store.close()


async def test_an_erasure_is_answered_at_once(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    try:
        await store.insert_booking(booking("b1", "l1", key="k1"))
        assert (await store.get_booking("b1")).client.email == "ada@example.com"  # type: ignore[union-attr]
        assert await store.erase_personal_data(NOW + dt.timedelta(days=30), lambda body: body) == 1
        erased = await Records.get_booking(store, "b1")
        assert erased is not None and erased.client.email == ""
        for answer in (await store.get_booking("b1"), await store.get_booking_by_lease("l1"),
                       await store.get_booking_by_idempotency_key("k1")):
            assert answer == erased
    finally:
        await store.close()


async def test_a_lease_inserted_where_a_booking_names_it_finds_that_booking(tmp_path: pathlib.Path) -> None:
    """A new lease normally has no booking, and CreateBooking then reads nothing; the
    store checks rather than assumes."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    try:
        await store.insert_booking(booking("b1", "l1"))
        await store.insert_lease(lease("l1", "r1"))
        assert await store.get_booking_by_lease("l1") == booking("b1", "l1")
        await store.insert_lease(lease("l2", "r2"))
        assert await store.get_booking_by_lease("l2") is None
    finally:
        await store.close()


def test_a_read_that_overlapped_a_commit_is_not_remembered() -> None:
    recent = Recent()
    before = recent.generation
    recent.lease_written(dataclasses.replace(lease("l1", "r1"), state=LeaseState.CONSUMED))
    recent.found_lease(before, ("id", "l1"), lease("l1", "r1"))  # read before the commit settled
    assert recent.lease("l1").state is LeaseState.CONSUMED
    recent.found_booking(before, ("lease", "l2"), None)
    assert recent.booking_by_lease("l2") is None  # unknown, not absent
