"""SQLite's writes: group-committed, their statements run on the event loop's thread, each
COMMIT on the writer thread.

A write (``fn``: statements on the connection and nothing else, so it can be run again)
is one all-or-nothing unit: it runs in a savepoint of its own inside the open
transaction, so one that fails is rolled back alone and only its caller gets the error.
Writes asked while a COMMIT is under way wait for it, then share the next transaction,
up to GROUP of them. That transaction's COMMIT, and the fsync in it, runs on the writer
thread, and only once it is done does any caller of the group resume. A COMMIT that
fails fails every caller of its group. A write whose error ends the whole transaction
(SQLite does so on a full disk or an I/O error) fails alone, and the others of its group
run again in a new one.

Why the statements run on the loop's thread: each takes tens of microseconds. On the
writer thread, each gave up the GIL and then waited to get it back from the loop, and
those hand-offs cost more than the statements did (bench/README.md, fifth round). Only
the COMMIT waits on the disk. BEGIN IMMEDIATE is tried on the loop without waiting; when
another process holds the file's write lock, the BEGIN is waited for on the thread.

Other jobs (reads that may touch many rows, a checkpoint, closing, and a write too long
to hold the loop for, in a transaction of its own: an erasure's batch) run on the writer
thread between groups, in the order asked. The connection is the loop's or the
thread's, never both at once. The writer thread runs a little nicer than the loop's
(``_yield_to_the_loop``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import queue
import sqlite3
import sys
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

# The most writes one transaction holds: a caller waits for at most this many others' statements.
GROUP = 64
# How much nicer (lower in scheduling priority) the writer thread is than the process.
NICER = 5

STOP = object()
# The outcome a job is settled with when its caller gave up before it ran.
UNRUN = object()


class Job(NamedTuple):
    fn: Callable[[sqlite3.Connection], Any]
    done: asyncio.Future[Any]
    # A write: run in the open transaction, in a savepoint of its own. Otherwise run alone
    # on the writer thread, outside any transaction (a slow read, a checkpoint).
    write: bool
    # Told, on the event loop's thread, whether it succeeded and with what; even if its
    # caller is gone.
    settled: Callable[[bool, Any], None] | None = None
    # The writes' own (a COMMIT, a BEGIN): ``settled`` is all there is to tell.
    internal: bool = False


class Writes:
    """The loop's side: ``submit`` runs a write's statements at once when it can, and the
    COMMIT of whatever was run in the same turn of the loop follows on the thread."""

    def __init__(self, db: sqlite3.Connection, thread: queue.SimpleQueue[Any], busy_ms: int):
        self._db = db
        self._thread = thread
        self._no_wait, self._wait = "PRAGMA busy_timeout=0", f"PRAGMA busy_timeout={busy_ms}"
        self._queued: collections.deque[Job] = collections.deque()
        self._group: list[tuple[Job, bool, Any]] = []  # run in the open transaction (or failed there)
        self._open = False  # a transaction is open
        self._away = False  # the connection is the thread's: a COMMIT, a BEGIN or a job that is no write
        self._commit_due = False

    @property
    def queued(self) -> int:
        """Jobs waiting for the connection."""
        return len(self._queued)

    def submit(self, job: Job) -> None:
        self._queued.append(job)
        self._drain()

    def _drain(self) -> None:
        queued = self._queued
        while queued and not self._away:
            job = queued[0]
            if job.write and len(self._group) >= GROUP:
                break
            if not job.write and (self._open or self._group):
                break  # after the open transaction's COMMIT
            queued.popleft()
            if job.done.cancelled():
                resolve([(job, False, UNRUN)])
            elif job.write:
                self._apply(job)
            else:
                self._hand_over(job.fn, job.done, job.settled)
        if (self._open or self._group) and not self._away and not self._commit_due:
            self._commit_due = True
            # In the next turn of the loop: writes asked in this one join the group.
            asyncio.get_running_loop().call_soon(self._commit)

    def _apply(self, job: Job) -> None:
        db = self._db
        if not self._open and not self._begin(job):
            return
        try:
            db.execute("SAVEPOINT unit")
        except BaseException as exc:
            self._abandon(job, exc)
            return
        try:
            value = job.fn(db)
        except BaseException as exc:
            if not db.in_transaction:
                self._ended(job, exc)
                return
            try:
                db.execute("ROLLBACK TO unit")
                db.execute("RELEASE unit")
            except BaseException as failed:
                self._abandon(job, failed)
                return
            self._group.append((job, False, exc))
            return
        try:
            db.execute("RELEASE unit")
        except BaseException as exc:
            self._abandon(job, exc)
            return
        self._group.append((job, True, value))

    def _begin(self, job: Job) -> bool:
        """Whether the transaction is open; if not, ``job`` waits (or has failed)."""
        db = self._db
        try:
            db.execute(self._no_wait)
            try:
                db.execute("BEGIN IMMEDIATE")
            finally:
                db.execute(self._wait)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                resolve([(job, False, exc)])
                return False
            # Another process is writing: waited for on the thread, the write first in line.
            self._queued.appendleft(job)
            self._hand_over(_begin, None, self._begun)
            return False
        except BaseException as exc:
            resolve([(job, False, exc)])
            return False
        self._open = True
        return True

    def _begun(self, ok: bool, value: Any) -> None:
        if ok:
            self._open = True
        else:  # every write that would have made the group gets the BEGIN's error
            failed = []
            while self._queued and self._queued[0].write and len(failed) < GROUP:
                failed.append((self._queued.popleft(), False, value))
            resolve(failed)

    def _ended(self, job: Job, exc: BaseException) -> None:
        """SQLite ended the transaction on ``job``'s error: it fails alone, and the writes
        run before it in the group run again, first in line, in a new transaction."""
        self._open = False
        again = [done for done, ok, _ in self._group if ok]
        self._group = [entry for entry in self._group if not entry[1]] + [(job, False, exc)]
        self._queued.extendleft(reversed(again))

    def _abandon(self, job: Job, exc: BaseException) -> None:
        """The savepoint machinery itself failed: the transaction is rolled back and every
        write of the group, ``job`` too, fails with the error."""
        self._open = False
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
        group, self._group = self._group, []
        resolve([(done, False, value if not ok else exc) for done, ok, value in group] + [(job, False, exc)])

    def _commit(self) -> None:
        self._commit_due = False
        group, self._group = self._group, []
        if not self._open:  # nothing in the group stands (its transaction ended on a write's error)
            resolve(group)
            self._drain()
            return
        self._open = False

        def committed(ok: bool, value: Any) -> None:
            resolve([(job, ok and job_ok, job_value if ok or not job_ok else value) for job, job_ok, job_value in group])

        self._hand_over(commit, None, committed)

    def _hand_over(self, fn: Callable[[sqlite3.Connection], Any], done: asyncio.Future[Any] | None,
                   settled: Callable[[bool, Any], None] | None) -> None:
        """``fn`` on the thread; once it is done (or was not run), the connection is the
        loop's again and what waited for it goes on."""
        self._away = True

        def back(ok: bool, value: Any) -> None:
            self._away = False
            if settled is not None:
                settled(ok, value)
            self._drain()

        internal = done is None
        if done is None:
            done = asyncio.get_running_loop().create_future()
        self._thread.put(Job(fn, done, False, back, internal))


def _begin(db: sqlite3.Connection) -> None:
    db.execute("BEGIN IMMEDIATE")


def commit(db: sqlite3.Connection) -> None:
    """COMMIT; one that fails is rolled back, so the connection is left with no transaction."""
    try:
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


def serve(db: sqlite3.Connection, jobs: queue.SimpleQueue[Any]) -> None:
    """The writer thread: each job in turn, on ``db``, until STOP."""
    _yield_to_the_loop()
    while True:
        job = jobs.get()
        if job is STOP:
            db.close()  # a no-op after close()'s own
            return
        if job.done.cancelled():  # its caller gave up before it started: as if never asked
            outcome: tuple[bool, Any] = (False, UNRUN)
        else:
            try:
                outcome = (True, job.fn(db))
            except BaseException as exc:
                outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            job.done.get_loop().call_soon_threadsafe(resolve, [(job, *outcome)])


def _yield_to_the_loop() -> None:
    """The calling thread (the writer) made NICER steps nicer than it was, on Linux, where
    nice is a thread's own. It wakes at least twice per COMMIT; at equal priority, on a
    busy machine, each wake-up could preempt the event loop in the middle of a call.
    Nicer, it runs when the loop waits or a core is free, and its groups grow meanwhile.
    Callers still resume only after their COMMIT. Measured (bench/README.md, sixth
    round): v0 -5 to -8 % CPU per RPC, +2.5 to +7 % flows/s; v3 CreateBooking -2 to -4 %
    CPU but -1 to -4 % bookings/s, its six writes in a row each waiting a little longer
    for its COMMIT."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):  # nicer is always allowed; a sandbox may still refuse
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + NICER))


def resolve(outcomes: list[tuple[Job, bool, Any]]) -> None:
    """On the loop: tell each job's ``settled``, then its caller."""
    for job, ok, value in outcomes:
        if job.settled is not None:
            job.settled(ok, value)
        if job.internal or job.done.cancelled():
            continue
        if ok:
            job.done.set_result(value)
        else:
            job.done.set_exception(value)
