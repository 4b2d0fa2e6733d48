"""Per-key asyncio locks: one flow at a time per key within this process.

SQLite's store needs nothing more (one process owns the file); PostgreSQL's takes these
first, so that calls of one replica queue here, on no connection, and only one of them
at a time asks the database for the lock that spans replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            # Forgotten when nobody holds or waits: one entry per key in flight, not per key ever.
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key], self._locks[key]

    def __len__(self) -> int:
        return len(self._locks)
