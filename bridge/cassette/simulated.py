"""The committed cassettes: every scenario recorded from the in-repo simulator.

Each scenario gets a fresh simulator on a manual clock fixed at ``RECORDED_AT``, so
re-recording one reproduces it except for the appointment GUIDs the simulator draws. The
expiry scenario's wait moves that clock instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Sequence

from .. import config as config_mod
from ..clock import ManualClock
from ..simulator import Simulator, seed
from ._session import Say
from .recorder import Options, Outcome, record
from .scenarios import SCENARIOS

# A Monday, 08:00 in Stockholm, as in the end-to-end tests.
RECORDED_AT = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone.utc)
IDENTITY_KEY = "cassette-identity-key-for-the-simulator"
ENV = {
    "QMATIC_CLIENT_ID": seed.DEMO_CLIENT_ID,
    "QMATIC_CLIENT_SECRET": seed.DEMO_CLIENT_SECRET,
    "BRIDGE_IDENTITY_KEY": IDENTITY_KEY,
}


async def record_from_simulator(
    out_dir: pathlib.Path, scenarios: Sequence[str] = tuple(SCENARIOS), *, say: Say = print
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for name in scenarios:
        clock = ManualClock(RECORDED_AT)

        async def advance(seconds: float, clock: ManualClock = clock) -> None:
            clock.advance(seconds=seconds)

        async with Simulator(clock) as sim:
            outcomes += await record(
                simulator_config(sim),
                Options(out_dir=out_dir, scenarios=[name]),
                environ=ENV,
                clock=clock,
                wait_for_expiry=advance,
                say=say,
            )
    return outcomes


def simulator_config(sim: Simulator) -> config_mod.Config:
    return config_mod.from_dict(
        {
            "upstream": {
                "base_url": sim.base_url,
                "token_url": sim.token_url,
                "account": seed.DEMO_ACCOUNT,
                "tenant_id": seed.DEMO_TENANT_ID,
            },
            # The first online-bookable offering is the Stockholm branch's.
            "booking": {"default_time_zone": "Europe/Stockholm"},
        }
    )
