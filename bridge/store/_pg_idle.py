"""Which pooled connections are worth a ping before use: those idle a while.

After a database restart or failover every pooled connection is dead, and the first
calls would get errors; a ping as each is handed out prevents that, at one round trip per
store call. Connections in steady use were alive moments ago, so only one that sat in
the pool longer than ``IDLE_SECONDS`` is pinged. A connection that breaks while in use
still fails its call, which the fronts answer UNAVAILABLE (retried by Google), and the
pool replaces it.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

IDLE_SECONDS = 5.0


class IdlePing:
    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = weakref.WeakKeyDictionary()

    async def check(self, db: AsyncConnection[Any]) -> None:
        """The pool's ``check``: raises for a dead connection, which is then replaced."""
        returned = self._returned.get(db)
        if returned is None or time.monotonic() - returned > IDLE_SECONDS:
            await AsyncConnectionPool.check_connection(db)

    async def returned(self, db: AsyncConnection[Any]) -> None:
        """The pool's ``reset``: the connection is back, idle from now."""
        self._returned[db] = time.monotonic()
