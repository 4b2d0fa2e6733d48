"""Every published slot is bookable as published: a sample of exported slots, asked about
and leased through the real fronts with exactly the slot's merchant, service, start,
duration and staff, is available and leased, every one."""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import pytest

from bridge._proto import booking_v0_pb2 as pb
from bridge.clock import ManualClock
from bridge.inventory.feeds.export import export
from bridge.simulator import Simulator, seed

from .harness import ENV, Harness, bridge_config, lease_message

SAMPLE = 24
MAPPING = f"""
[merchants."stockholm-central"]
branch_id = "{seed.STOCKHOLM}"
time_zone = "Europe/Stockholm"
services = {{ "haircut" = "{seed.HAIRCUT}", "consultation" = "{seed.CONSULTATION}" }}
staff = {{ "anna" = "{seed.ANNA}", "ben" = "{seed.BEN}" }}
category = "hair_salon"

[merchants."london-bridge"]
branch_id = "{seed.LONDON}"
time_zone = "Europe/London"
"""


@pytest.fixture(params=["identity", "mapped"])
async def bridge(request, sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path):
    booking = {}
    if request.param == "mapped":
        (tmp_path / "maps").mkdir()
        (tmp_path / "maps" / "demo.toml").write_text(MAPPING)
        booking = {"mappings_dir": str(tmp_path / "maps")}
    h = Harness(sim=sim, clock=clock, config=bridge_config(sim, tmp_path / "bridge.sqlite3", booking=booking))
    await h.start()
    yield h
    await h.stop()


def sample(slots: list[dict], clock: ManualClock) -> list[dict]:
    tomorrow = clock.now() + dt.timedelta(days=1)
    later = [s for s in slots if s["start_sec"] >= tomorrow.timestamp()]
    step = max(1, len(later) // SAMPLE)
    return later[::step][:SAMPLE]


async def test_a_sample_of_exported_slots_is_available_and_leased_as_published(bridge: Harness, tmp_path) -> None:
    done = await export(bridge.config, tmp_path / "feeds", days=7, environ=ENV, clock=bridge.clock)
    [path] = [p for p in done.files if p.name.startswith("availability_")]
    slots = [s for r in json.loads(path.read_text())["service_availability"] for s in r["availability"]]
    chosen = sample(slots, bridge.clock)
    assert len(chosen) == SAMPLE
    if "stockholm-central" in {s["merchant_id"] for s in slots}:
        assert {s.get("resources", {}).get("staff_id") for s in slots} >= {"anna", "ben"}

    leased = 0
    for n, slot in enumerate(chosen):
        asked = {"service_id": slot["service_id"], "start_sec": str(slot["start_sec"]),
                 "duration_sec": str(slot["duration_sec"])}
        staff = slot.get("resources", {}).get("staff_id", "")
        if staff:
            asked["resource_ids"] = {"staff_id": staff}
        r = await bridge.rest.post("/BatchAvailabilityLookup", json={"merchant_id": slot["merchant_id"], "slot_time": [asked]})
        assert r.json()["slot_time_availability"][0]["available"] is True, slot

        start = dt.datetime.fromtimestamp(slot["start_sec"], dt.timezone.utc)
        lease = await bridge.stub.CreateLease(pb.CreateLeaseRequest(lease=lease_message(
            start, reference=f"sample-{n}", service=slot["service_id"], minutes=slot["duration_sec"] // 60,
            merchant=slot["merchant_id"], staff=staff)), timeout=5)
        assert lease.lease.lease_id
        leased += 1
        bridge.clock.advance(minutes=16)  # the hold lapses: the next sample finds the grid as exported
    assert leased / len(chosen) == 1.0
