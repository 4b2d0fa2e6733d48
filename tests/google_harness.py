"""The harness with Google in it: a fake Maps Booking API over real HTTP, a service-account
key it minted, and a bridge configured to keep it in step. Rounds of the inventory loop
are run by hand (``step``) on the shared ManualClock, so nothing sleeps."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import pytest

from bridge.clock import ManualClock
from bridge.simulator import FakeGoogle, Simulator

from .harness import ENV, Harness, bridge_config

NOTIFY_WITHIN = 240
READS_PER_SECOND = 5.0
GOOGLE_SECTION = {
    "partner_id": "20001234",
    "notify_within_seconds": NOTIFY_WITHIN,
    "max_upstream_reads_per_second": READS_PER_SECOND,
    "availability_coalesce_seconds": 2.0,
    "max_notification_attempts": 4,
}


async def instantly(seconds: float) -> None:
    """The client's retry waits, taken at once: tests assert counts, not time."""


@pytest.fixture
async def fake_google(clock: ManualClock) -> AsyncIterator[FakeGoogle]:
    google = FakeGoogle(clock)
    await google.start()
    yield google
    await google.stop()


def google_harness(sim: Simulator, clock: ManualClock, google: FakeGoogle, tmp_path: pathlib.Path,
                   **section: object) -> Harness:
    key = google.write_key_file(tmp_path / "google-key.json")
    config = bridge_config(sim, tmp_path / "bridge.sqlite3",
                           google={**GOOGLE_SECTION, "api_base_url": google.base_url, **section})
    return Harness(sim=sim, clock=clock, config=config,
                   environ={**ENV, "GOOGLE_APPLICATION_CREDENTIALS": str(key)},
                   google_options={"sleep": instantly})


@pytest.fixture
async def live(sim: Simulator, clock: ManualClock, fake_google: FakeGoogle, tmp_path: pathlib.Path
               ) -> AsyncIterator[Harness]:
    h = google_harness(sim, clock, fake_google, tmp_path)
    await h.start()
    yield h
    await h.stop()


async def step(h: Harness, seconds: float = 1.0) -> None:
    """One second of the background loop: the clock moves on, then one round runs."""
    h.clock.advance(seconds=seconds)
    assert h.bridge.inventory is not None
    await h.bridge.inventory.tick()


async def run_for(h: Harness, seconds: int) -> None:
    for _ in range(seconds):
        await step(h)
