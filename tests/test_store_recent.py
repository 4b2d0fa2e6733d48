"""The SQLite store answers recent leases and bookings from memory (bridge/store/_recent.py).
What it answers must always be what the file holds: after any mix of inserts, saves,
deletes, refusals and erasures, run one by one or together in one group commit; after a
caller gave up on a write that committed; and once anything could have changed the file
behind its back."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import pathlib
import sqlite3
import tempfile
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.core.models import Booking, BookingStatus, Client, Lease, LeaseState, PendingChange, Slot, Target
from bridge.store import Duplicate, SqliteStore, _codec
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
    st.tuples(st.just("save booking"), _index, _index, st.sampled_from([BookingStatus.CONFIRMED, BookingStatus.CANCELED]),
              st.sampled_from([None, PendingChange("cancel")])),
    st.tuples(st.just("delete booking"), _index),
    st.tuples(st.just("erase")),
    st.tuples(st.just("claim"), _index),
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
            await store.save(booking=dataclasses.replace(booking(f"b{op[1]}", f"l{op[2]}", pid=f"p{op[1]}"), status=op[3],
                                                         pending=op[4]))
        elif kind == "delete booking":
            await store.delete_booking(f"b{op[1]}")
        elif kind == "claim":
            await store.claim_response(f"k{op[1]}", "fp")
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
# A save asked while an erasure is unsettled: written whole, the erased customer kept.
@example(rounds=[[("insert booking", 0, 0, None)], [("erase",), ("save booking", 0, 0, BookingStatus.CANCELED, None)]])
# A save that writes the customer of a booking an erasure made memory forget, and moves it
# to another lease: its record is read again, but the new lease names it.
@example(rounds=[[("insert booking", 2, 0, None), ("erase",)], [("save booking", 2, 1, BookingStatus.CONFIRMED, None)]])
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
    """A write whose statements have run commits whatever its caller does, and the store
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

        # Run in a group, then given up on before its COMMIT came back: committed, and answered.
        saving = asyncio.ensure_future(store.save(lease=consumed))
        await asyncio.sleep(0)  # its statements have run in the open transaction
        assert store._writes.queued == 0 and not saving.done()
        saving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await saving
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


async def test_a_claimed_token_s_booking_is_looked_up_in_the_claim_not_read_after(tmp_path: pathlib.Path) -> None:
    """A new idempotency token normally has no booking, and CreateBooking's look-up by
    token then reads nothing; the claim checks rather than assumes."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    try:
        await store.insert_booking(booking("b1", "l1", key="k1"))
        await store.claim_response("k1", "fp")
        assert await store.get_booking_by_idempotency_key("k1") == booking("b1", "l1", key="k1")
        await store.claim_response("k2", "fp")
        # The file's answer, changed behind the store's back, is not read: memory answers.
        behind = sqlite3.connect(tmp_path / "store.sqlite3", isolation_level=None)
        behind.execute("UPDATE bookings SET idempotency_key = 'k2' WHERE booking_id = 'b1'")
        behind.close()
        assert await store.get_booking_by_idempotency_key("k2") is None
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


# -- a save writes only what changed ------------------------------------------------------

_ELSEWHERE = Target("tenant-2", "branch-2", "service-2", None, "Europe/Oslo")
_LATER = NOW + dt.timedelta(hours=3)
# Per field, values other than the helpers' own.
_OTHER_LEASE = {
    "client_reference": ["r9"], "slot": [dataclasses.replace(lease().slot, start=_LATER), dataclasses.replace(lease().slot, party_size=3)],
    "target": [_ELSEWHERE], "state": list(LeaseState), "created_at": [_LATER],
    "requested_expiration": [_LATER], "hold_id": [None, "hold-2"], "expires_at": [None, _LATER],
}
_OTHER_BOOKING = {
    "lease_id": [None, "l9"], "slot": _OTHER_LEASE["slot"], "target": [_ELSEWHERE],
    "client": [Client("Grace", "Hopper", "grace@example.com"), dataclasses.replace(booking().client)],
    "personal_identifier": ["pid9"], "appointment_id": ["appt-9"], "status": list(BookingStatus),
    "created_at": [_LATER], "idempotency_key": ["k9"], "cancelled_elsewhere": [True],
    "pending": [PendingChange("cancel"), PendingChange("reschedule", _LATER, dt.timedelta(minutes=45), "h2", 2)],
}


def _changed(record: Any, others: dict[str, list[Any]]) -> Any:
    return st.fixed_dictionaries({}, optional={name: st.sampled_from(values) for name, values in others.items()}).map(
        lambda changes: dataclasses.replace(record, **changes))


def test_every_field_of_a_record_has_its_columns_named_for_a_save() -> None:
    """A field added to Lease or Booking without a place in the save's table would never be
    saved once the record is in memory."""
    assert {f.name for f in dataclasses.fields(Lease)} - {"lease_id"} == set(_OTHER_LEASE) == set(_codec._LEASE_FIELDS)
    assert {f.name for f in dataclasses.fields(Booking)} - {"booking_id"} == set(_OTHER_BOOKING) == set(_codec._BOOKING_FIELDS)


@given(_changed(lease(), _OTHER_LEASE), _changed(lease(), _OTHER_LEASE))
def test_a_lease_s_changed_columns_take_its_old_row_to_its_new_one(old: Lease, new: Lease) -> None:
    changes = _codec.lease_changes(new, old)
    assert {**_codec.lease_row(old), **changes} == _codec.lease_row(new)
    assert len(changes) == 1 or new != old  # the key alone when nothing changed


@given(_changed(booking(), _OTHER_BOOKING), _changed(booking(), _OTHER_BOOKING))
def test_a_booking_s_changed_columns_take_its_old_row_to_its_new_one(old: Booking, new: Booking) -> None:
    changes = _codec.booking_changes(new, old)
    assert {**_codec.booking_row(old), **changes} == _codec.booking_row(new)
    assert len(changes) == 1 or new != old


async def test_a_save_asked_while_another_of_the_record_is_unsettled_writes_it_whole(tmp_path: pathlib.Path) -> None:
    """Two saves of one booking, both from the version in memory: the second must not
    keep what the first changed and it did not (the pending cancel here), or the file
    would hold a booking that memory does not."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    try:
        await store.insert_booking(booking("b1"))
        first = dataclasses.replace(booking("b1"), pending=PendingChange("cancel"))
        second = dataclasses.replace(booking("b1"), status=BookingStatus.CANCELED)
        await asyncio.gather(store.save(booking=first), store.save(booking=second))
        assert await Records.get_booking(store, "b1") == second
        assert await store.get_booking("b1") == second
        # Once settled, a save from memory writes only what changed, and the file agrees.
        third = dataclasses.replace(second, appointment_id="appt-2")
        await store.save(booking=third)
        assert await Records.get_booking(store, "b1") == third == await store.get_booking("b1")
    finally:
        await store.close()


async def test_a_save_dropped_unrun_leaves_its_record_steady(tmp_path: pathlib.Path) -> None:
    """A save whose caller gave up before it ran is settled as never run, whether it was
    next in the queue or gathered into a group behind another write: nothing is left
    counted as unsettled, so the record's later saves are again written by what changed."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    loop = asyncio.get_running_loop()
    inside, go_on = asyncio.Event(), asyncio.Event()

    def blocking(db: sqlite3.Connection) -> None:
        loop.call_soon_threadsafe(inside.set)
        asyncio.run_coroutine_threadsafe(go_on.wait(), loop).result()

    consumed = dataclasses.replace(lease("l1", "r1"), state=LeaseState.CONSUMED)
    try:
        await store.insert_lease(lease("l1", "r1"))
        for behind_a_write in (False, True):
            inside.clear()
            go_on.clear()
            slow = asyncio.ensure_future(store._run(blocking))
            await inside.wait()
            ahead = asyncio.ensure_future(store._in_transaction(lambda db: None)) if behind_a_write else None
            saving = asyncio.ensure_future(store.save(lease=consumed))
            await asyncio.sleep(0)
            saving.cancel()
            go_on.set()
            await asyncio.gather(slow, *([ahead] if ahead else []))
            for _ in range(10_000):  # polled, not timed: the dropped save is being settled
                if not store._recent._unsettled:
                    break
                await asyncio.sleep(0.001)
            assert not store._recent._unsettled
            assert store._recent.steady_lease("l1") == lease("l1", "r1") == await Records.get_lease(store, "l1")
    finally:
        go_on.set()
        await store.close()
