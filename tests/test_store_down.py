"""A database that does not answer: every front says UNAVAILABLE (retry), within the
caller's deadline — never INTERNAL, never a wait for the pool's own timeout."""

from __future__ import annotations

import socket
import time
from typing import Any

import grpc
import pytest

from bridge import deadline
from bridge.failures import StoreUnavailable

from .harness import Harness, at


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


async def test_a_postgresql_store_that_does_not_answer_is_unavailable_within_the_deadline() -> None:
    from bridge.store._postgres import PostgresStore

    store = PostgresStore(f"postgresql://bridge@127.0.0.1:{closed_port()}/bridge", connect_timeout=10.0)
    try:
        started = time.monotonic()
        with deadline.scope(0.5), pytest.raises(StoreUnavailable, match="retry"):
            await store.get_lease("l1")
        assert time.monotonic() - started < 0.5 + 3.0  # the caller's deadline, not the pool's 10 s
        with deadline.scope(0.5), pytest.raises(StoreUnavailable):
            async with store.lock("lease:l1"):
                pytest.fail("a lock without a database")
    finally:
        await store.close()


def store_down(harness: Harness, monkeypatch: pytest.MonkeyPatch, *methods: str) -> None:
    async def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("the database did not answer; retry")

    for method in methods:
        monkeypatch.setattr(harness.bridge.store, method, down)


async def test_v0_answers_unavailable_when_the_store_is_down(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    store_down(harness, monkeypatch, "get_lease_by_reference")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await harness.lease(at(1, 10))
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "retry" in (refused.value.details() or "")


async def test_v3_answers_503_when_the_store_is_down(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    store_down(harness, monkeypatch, "get_booking")
    r = await harness.rest.post("/GetBookingStatus", json={"booking_id": "booking-1"})
    assert r.status_code == 503, r.text
    assert "retry" in r.json()["error"]["message"]
