"""Per-key asyncio locks: one flow at a time per key within this process.

SQLite's store needs nothing more (one process owns the file); PostgreSQL's takes these
first, so that calls of one replica queue here, on no connection, and only one of them
at a time asks the database for the lock that spans replicas.
"""

from __future__ import annotations

import asyncio


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    def hold(self, key: str) -> _Held:
        """``async with locks.hold(key):`` the block runs alone for ``key`` in this process."""
        return _Held(self, key)

    def __len__(self) -> int:
        return len(self._locks)


class _Held:
    """A class rather than a generator context manager: every flow takes one or two."""

    __slots__ = ("_locks", "_key", "_lock")

    def __init__(self, locks: KeyedLocks, key: str):
        self._locks = locks
        self._key = key

    async def __aenter__(self) -> None:
        locks, key = self._locks, self._key
        lock = locks._locks.get(key)
        if lock is None:
            lock = locks._locks[key] = asyncio.Lock()
        locks._users[key] = locks._users.get(key, 0) + 1
        self._lock = lock
        try:
            await lock.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *_: object) -> None:
        self._lock.release()
        self._leave()

    def _leave(self) -> None:
        # Forgotten when nobody holds or waits: one entry per key in flight, not per key ever.
        users = self._locks._users
        users[self._key] -= 1
        if not users[self._key]:
            del users[self._key], self._locks._locks[self._key]
