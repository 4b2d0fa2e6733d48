"""Locks that span replicas: a PostgreSQL advisory lock per key, held for one flow.

A flow (one lease, booking or idempotency token) calls the upstream while it holds its
lock, so the lock cannot live in a store call's short transaction. It lives in a
transaction of its own, on a connection of its own pool, open for the flow: transaction
locks end with the transaction whatever happens — the flow fails, the task is cancelled,
the connection breaks, the replica is killed (the server sees the socket close) — so no
lock is ever left behind. The flow's own writes go through the store's main pool and
commit at once, as always.

Waiting is a poll of ``pg_try_advisory_xact_lock``: a blocked ``pg_advisory_lock`` would
keep a query running that a cancelled caller cannot cleanly take back. Within a replica,
callers for the same key queue on a local lock first, so only one of them polls.

A flow that takes a second lock inside the first (an idempotent booking's lease) takes
it on the same connection, in the same transaction: it is then held until the outer one
ends, which is harmless (the keys are the flow's own) and needs no second connection,
so a full pool can never leave flows waiting on each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .. import deadline
from ..failures import BridgeError, Cause, StoreUnavailable
from ._keyed import KeyedLocks

# Without a caller deadline (background work), how long a lock or a connection is awaited.
WAIT_SECONDS = 30.0
FIRST_POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.1
_TRY = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0)) AS got"

# The lock connection of the task's outer lock, and whose it is: a task spawned inside
# inherits the variable, so it is only reused by the same locks and the same task.
_Outer = tuple["ReplicaLocks", "asyncio.Task[Any] | None", psycopg.AsyncConnection[Any]]
_outer: contextvars.ContextVar[_Outer | None] = contextvars.ContextVar("outer_lock", default=None)


class ReplicaLocks:
    def __init__(self, url: str, size: int, connect_timeout: float):
        self._pool = AsyncConnectionPool(
            url, min_size=0, max_size=size, open=False, timeout=connect_timeout,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(connect_timeout))},
        )
        self._local = KeyedLocks()
        self._opened = False

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        async with self._local.hold(key):
            outer, task = _outer.get(), asyncio.current_task()
            if outer is not None and outer[0] is self and outer[1] is task:
                await _take(outer[2], key)
                yield
                return
            db = await self._connection()
            try:
                async with db.transaction():
                    token = _outer.set((self, task, db))
                    try:
                        await _take(db, key)
                        yield
                    finally:
                        _outer.reset(token)
            finally:
                # Back to the pool, which rolls back whatever is left open (and so the lock).
                await self._pool.putconn(db)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if not self._opened:
            self._opened = True
            await self._pool.open()
        try:
            return await self._pool.getconn(timeout=wait_for_database(WAIT_SECONDS))
        except PoolTimeout as exc:
            raise StoreUnavailable(unreachable(exc)) from exc

    async def close(self) -> None:
        await self._pool.close()


async def _take(db: psycopg.AsyncConnection[Any], key: str) -> None:
    """Poll until the lock is ours; UNAVAILABLE once the caller's time is up."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + _allowed()
    pause = FIRST_POLL_SECONDS
    while True:
        try:
            row = await (await db.execute(_TRY, (key,))).fetchone()
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(unreachable(exc)) from exc
        if row is not None and row[0]:
            return
        if loop.time() + pause >= give_up:
            raise BridgeError(Cause.UNAVAILABLE, "the same request is being processed by another replica; retry")
        await asyncio.sleep(pause)
        pause = min(MAX_POLL_SECONDS, pause * 2)


def _allowed() -> float:
    return wait_for_database(WAIT_SECONDS)


def wait_for_database(longest: float) -> float:
    """How long a call may wait for the database: ``longest``, cut to the caller's deadline."""
    left = deadline.remaining()
    return longest if left is None else max(0.001, min(longest, left))


def unreachable(exc: Exception) -> str:
    """What the caller is told: the database's trouble in one line, no connection details."""
    if isinstance(exc, PoolTimeout):
        return "no database connection in time (the database is busy or unreachable); retry"
    return "the database did not answer; retry"

