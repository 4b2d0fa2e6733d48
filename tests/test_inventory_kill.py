"""The outbox across a SIGKILL: a real `booking-bridge serve` notices a cancellation at the
branch and is killed while its notification is on the way to Google; the restarted
process delivers it, once."""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable

import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge.clock import SystemClock
from bridge.simulator import FakeGoogle, Simulator

from .harness import client_message, lease_message
from .test_v0_kill import Served, live_sim, serve_config, tomorrow_at  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")


async def eventually(condition: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """Poll until ``condition`` holds; fails after ``limit`` seconds. Nothing is asserted
    about how long it took."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"{what}: not within {limit:.0f} s")
        await asyncio.sleep(0.05)


@pytest.fixture
async def live_google() -> AsyncIterator[FakeGoogle]:
    google = FakeGoogle(SystemClock())
    await google.start()
    yield google
    google.faults.clear()
    await google.stop()


@pytest.fixture
async def served_with_google(
    live_sim: Simulator, live_google: FakeGoogle, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Served]:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(live_google.write_key_file(tmp_path / "key.json")))
    served = serve_config(live_sim, tmp_path, (
        f'[google]\npartner_id = "{live_google.partner_id}"\napi_base_url = "{live_google.base_url}"\n'
        f'notify_within_seconds = 30\n'
    ))
    try:
        yield served
    finally:
        await served.close()


async def test_a_notification_survives_a_kill_between_the_change_and_the_send(
    served_with_google: Served, live_sim: Simulator, live_google: FakeGoogle, tmp_path: pathlib.Path
) -> None:
    served = served_with_google
    stub = await served.start()
    # Google takes the notification in and never answers, until the process is dead.
    live_google.faults.add("PATCH", r"/bookings/", action="hang", times=None)
    lease = (await stub.CreateLease(pb.CreateLeaseRequest(lease=lease_message(tomorrow_at(10))), timeout=10)).lease
    booking = (await stub.CreateBooking(pb.CreateBookingRequest(
        lease_ref=pb.LeaseReference(lease_id=lease.lease_id), client_information=client_message()), timeout=10)).booking
    [appointment] = [a for a in live_sim.state.appointments.values() if a.status == "CONFIRMED"]
    live_sim.state.cancel_at_branch(appointment.id)

    await eventually(lambda: any(r.method == "PATCH" for r in live_google.requests), "the notification was sent")
    await served.kill()
    live_google.faults.clear()
    assert live_google.notifications == []

    await served.start()
    await eventually(lambda: bool(live_google.notifications), "the notification was delivered after the restart")
    assert await served.terminate() == 0
    [note] = live_google.notifications
    assert (note.booking_id, note.mask, note.body["status"]) == (booking.booking_id, ("status",), "CANCELED")
    with sqlite3.connect(tmp_path / "bridge.sqlite3") as db:
        assert db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall() == [("sent", 1)]
