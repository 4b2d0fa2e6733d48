"""Fixtures for the end-to-end tests; the harness itself lives in tests/harness.py."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import pytest

from bridge.clock import ManualClock
from bridge.simulator import Simulator

from .harness import T0, Harness, bridge_config

pytest_plugins = ["bridge.cassette.pytest_plugin", "pytester"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[Simulator]:
    simulator = Simulator(clock)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture
async def harness(sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path) -> AsyncIterator[Harness]:
    h = Harness(sim=sim, clock=clock, config=bridge_config(sim, tmp_path / "bridge.sqlite3"))
    await h.start()
    yield h
    await h.stop()
