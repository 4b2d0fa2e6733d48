"""The SQLite store's memory of recent leases and bookings, absent ones included.

A flow reads back what it wrote moments before: CreateBooking its lease (and whether a
booking names it yet), a cancel its booking. Each read on the event loop's
thread cost about as much as the rest of the store's work for the call, most of it in
handing the GIL to and from the writer thread. One process owns a SQLite file, so every
change to these records passes through its store, and what the store last committed is
what the file holds.

The rules that keep it true:

* A change is remembered only once committed (``written`` and ``deleted`` run in the
  group commit's settlement, on the event loop's thread, whether or not the caller
  still waits); a failed write changes nothing here.
* What a read found is remembered only if no commit was settled while it ran
  (``generation``): a read that waited could otherwise overwrite a newer commit.
* Anything uncertain forgets: a delete of a record not in memory, a commit that failed
  (SQLite may have written it all the same), personal data erased in bulk, a save that
  writes a customer (an erased one is kept in the file, see _codec.update_sql).
* A save writes only the columns that changed since the record in memory (``steady``),
  and only while no other write of that record, and no erasure, is still unsettled: the
  file then holds that record when the save runs, whatever order the writes settle in.

Bounded, least recently used first: a flow's records are read within seconds of being
written, so a few thousand entries serve every flow in progress, and memory stays flat.
"""

from __future__ import annotations

from typing import Any

from ..core.models import Booking, Lease
from ._lru import Lru

SIZE = 2048

# Known not to exist: the store answers None without reading.
ABSENT: Any = object()

# Stands for every record in ``begin`` and ``end``: a write that may change any of them.
EVERY = ("every",)


class Recent:
    def __init__(self, size: int = SIZE):
        self.generation = 0
        self._leases: Lru[str, Any] = Lru(size)  # lease_id → Lease | ABSENT
        self._references: Lru[str, Any] = Lru(size)  # client_reference → lease_id | ABSENT
        self._bookings: Lru[str, Any] = Lru(size)  # booking_id → Booking | ABSENT
        self._by_lease: Lru[str, Any] = Lru(size)  # lease_id → booking_id | ABSENT
        self._by_key: Lru[str, Any] = Lru(size)  # idempotency key → booking_id | ABSENT
        self._booking_indexes = {"id": self._bookings, "lease": self._by_lease, "key": self._by_key}
        # ("lease", id), ("booking", id) or EVERY → how many of its writes are unsettled.
        self._unsettled: dict[tuple[str, ...], int] = {}

    # -- look-ups: a record, ABSENT, or None when not known here -------------------------

    def lease(self, lease_id: str) -> Any:
        return self._leases.get(lease_id)

    def lease_by_reference(self, client_reference: str) -> Any:
        found = self._through(self._references, client_reference, self._leases)
        return None if isinstance(found, Lease) and found.client_reference != client_reference else found

    def booking(self, booking_id: str) -> Any:
        return self._bookings.get(booking_id)

    def booking_by_lease(self, lease_id: str) -> Any:
        found = self._through(self._by_lease, lease_id, self._bookings)
        return None if isinstance(found, Booking) and found.lease_id != lease_id else found

    def booking_by_key(self, key: str) -> Any:
        found = self._through(self._by_key, key, self._bookings)
        return None if isinstance(found, Booking) and found.idempotency_key != key else found

    @staticmethod
    def _through(index: Lru[str, Any], key: str, records: Lru[str, Any]) -> Any:
        """The record a unique key names. The record may have been evicted (unknown) or
        deleted (ABSENT: the key then names nothing until a commit names another record),
        or no longer carry the key (the callers check: unknown)."""
        found = index.get(key)
        if found is None or found is ABSENT:
            return found
        return records.get(found)

    def steady_lease(self, lease_id: str) -> Lease | None:
        """The lease as the file will hold it when a write asked now runs, if known."""
        known = self._leases.get(lease_id)
        return known if isinstance(known, Lease) and self._steady(("lease", lease_id)) else None

    def steady_booking(self, booking_id: str) -> Booking | None:
        known = self._bookings.get(booking_id)
        return known if isinstance(known, Booking) and self._steady(("booking", booking_id)) else None

    def _steady(self, key: tuple[str, ...]) -> bool:
        unsettled = self._unsettled
        return not unsettled or (key not in unsettled and EVERY not in unsettled)

    # -- writes asked, not yet settled ---------------------------------------------------

    def begin(self, keys: tuple[tuple[str, ...], ...]) -> None:
        for key in keys:
            self._unsettled[key] = self._unsettled.get(key, 0) + 1

    def end(self, keys: tuple[tuple[str, ...], ...]) -> None:
        """Once per ``begin``, when the write settled or was dropped unrun."""
        for key in keys:
            left = self._unsettled[key] - 1
            if left:
                self._unsettled[key] = left
            else:
                del self._unsettled[key]

    # -- what reads found, kept unless a commit was settled meanwhile ---------------------

    def found_lease(self, generation: int, key: tuple[str, str], lease: Lease | None) -> None:
        """``key``: ("id", lease_id) or ("reference", client_reference)."""
        if generation != self.generation:
            return
        if lease is not None:
            self._lease(lease)
        elif key[0] == "id":
            self._leases[key[1]] = ABSENT
        else:
            self._references[key[1]] = ABSENT

    def found_booking(self, generation: int, key: tuple[str, str], booking: Booking | None) -> None:
        """``key``: ("id", booking_id), ("lease", lease_id) or ("key", idempotency key)."""
        if generation != self.generation:
            return
        if booking is not None:
            self._booking(booking)
            return
        self._booking_indexes[key[0]][key[1]] = ABSENT

    # -- commits (called once committed, on the event loop's thread) ----------------------

    def lease_inserted(self, lease: Lease, booked: bool) -> None:
        """``booked``: whether a booking named the lease when it was inserted (its id is
        new, so normally none does, and CreateBooking then has nothing to read)."""
        self.lease_written(lease)
        if not booked:
            self._by_lease[lease.lease_id] = ABSENT

    def key_claimed(self, key: str, booked: bool) -> None:
        """An idempotency key newly claimed; ``booked``: whether a booking carried it when
        it was (normally none does, and CreateBooking's look-up by key reads nothing)."""
        self.generation += 1
        if not booked:
            self._by_key[key] = ABSENT

    def lease_written(self, lease: Lease) -> None:
        self.generation += 1
        self._lease(lease)

    def lease_deleted(self, lease_id: str) -> None:
        self.generation += 1
        known = self._leases.get(lease_id)
        if isinstance(known, Lease):
            self._references[known.client_reference] = ABSENT  # references are unique
        else:
            self._references.clear()  # which reference named it is not known here
        self._leases[lease_id] = ABSENT

    def booking_written(self, booking: Booking) -> None:
        self.generation += 1
        self._booking(booking)

    def booking_deleted(self, booking_id: str) -> None:
        self.generation += 1
        known = self._bookings.get(booking_id)
        if isinstance(known, Booking):
            if known.lease_id:
                self._by_lease[known.lease_id] = ABSENT
            if known.idempotency_key:
                self._by_key[known.idempotency_key] = ABSENT
        else:
            self._by_lease.clear()
            self._by_key.clear()
        self._bookings[booking_id] = ABSENT

    def booking_unsure(self, booking: Booking) -> None:
        """A booking written whose customer only the file knows (an erased one is kept
        there): its keys name it, as for any booking written; the record is read again."""
        self.booking_written(booking)
        del self._bookings[booking.booking_id]

    def forget_bookings(self) -> None:
        self.generation += 1
        for cache in (self._bookings, self._by_lease, self._by_key):
            cache.clear()

    def forget(self) -> None:
        self.forget_bookings()
        self._leases.clear()
        self._references.clear()

    def _lease(self, lease: Lease) -> None:
        self._leases[lease.lease_id] = lease
        self._references[lease.client_reference] = lease.lease_id

    def _booking(self, booking: Booking) -> None:
        self._bookings[booking.booking_id] = booking
        if booking.lease_id:
            self._by_lease[booking.lease_id] = booking.booking_id
        if booking.idempotency_key:
            self._by_key[booking.idempotency_key] = booking.booking_id
