"""Injected failures: the network and server misbehaviour the bridge must survive.

A fault is matched and used up when a request arrives, before any processing, so the
order of arrival alone decides which request gets it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

# "pause" holds the request until release_hangs() and then answers it as usual: a call kept
# in flight for as long as a test needs, which then succeeds.
ACTIONS = ("drop_before", "drop_after", "status", "hang", "pause")
DEFAULT_BODY = {"errorCode": "INTERNAL", "message": "injected"}


@dataclass
class Fault:
    method: str | None
    path: re.Pattern[str]
    action: str
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = 1  # None: every matching request until cleared

    def matches(self, method: str, path: str) -> bool:
        return self.method in (None, method) and self.path.search(path) is not None


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._release = asyncio.Event()

    def add(
        self,
        method: str | None = None,
        path: str = "",
        action: str = "status",
        status: int = 503,
        times: int | None = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Arm a fault; ``method=None`` matches any method, ``path=""`` any path."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for no limit")
        fault = Fault(
            method=method.upper() if method else None,
            path=re.compile(path),
            action=action,
            status=status,
            body=DEFAULT_BODY if body is None else body,
            headers=dict(headers or {}),
            times=times,
        )
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault and let every hanging request go (it is then dropped)."""
        self._faults.clear()
        self.release_hangs()

    def release_hangs(self) -> None:
        # A fresh event for later hangs: the set one would let them through at once.
        self._release.set()
        self._release = asyncio.Event()

    async def wait_released(self) -> None:
        await self._release.wait()

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching the request, counting this use against it."""
        for fault in self._faults:
            if fault.matches(method, path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
        return None

    def __len__(self) -> int:
        return len(self._faults)
