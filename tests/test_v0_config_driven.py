"""Behaviour an operator sets in configuration: merchant mapping and extra error-table rows."""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil
from collections.abc import AsyncIterator

import grpc
import pytest

from bridge.clock import ManualClock
from bridge.simulator import Simulator, seed

from .harness import Harness, at, bridge_config

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture
async def mapped(sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path) -> AsyncIterator[Harness]:
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")  # the example shipped for operators
    config = bridge_config(sim, tmp_path / "b.sqlite3", booking={"mappings_dir": str(tmp_path / "mappings")})
    h = Harness(sim=sim, clock=clock, config=config)
    await h.start()
    yield h
    await h.stop()


async def test_mapped_ids_reach_the_mapped_branch_service_and_resource(mapped: Harness) -> None:
    lease = await mapped.lease(at(1, 10), merchant="stockholm-central", service="haircut", staff="ben")
    assert (lease.merchant_id, lease.service_id, lease.resources.staff_id) == ("stockholm-central", "haircut", "ben")
    [hold] = mapped.sim.state.appointments.values()
    assert (hold.branch_id, hold.service_id, hold.resource_id) == (seed.STOCKHOLM, seed.HAIRCUT, seed.BEN)
    booking = await mapped.book(lease.lease_id)
    assert (booking.merchant_id, booking.service_id) == ("stockholm-central", "haircut")


async def test_times_go_upstream_in_the_branch_time_zone(mapped: Harness, monkeypatch) -> None:
    sent: list[dt.datetime] = []
    real_hold = mapped.bridge.upstream.hold

    async def spy(*args, **kwargs):
        sent.append(kwargs["start"])
        return await real_hold(*args, **kwargs)

    monkeypatch.setattr(mapped.bridge.upstream, "hold", spy)
    await mapped.lease(at(1, 10), reference="l", merchant="london-bridge", service=seed.PASSPORT, minutes=15)
    await mapped.lease(at(1, 10), reference="s", merchant="stockholm-central", service="haircut")
    # November: London is on UTC, Stockholm one hour ahead; the instant is the same.
    assert [t.utcoffset() for t in sent] == [dt.timedelta(0), dt.timedelta(hours=1)]
    assert {t.astimezone(dt.timezone.utc) for t in sent} == {at(1, 10)}


@pytest.mark.parametrize(
    ("merchant", "service", "staff", "field"),
    [
        ("stockholm-central", "consultation", "", "lease.service_id"),  # not in the merchant's services
        ("stockholm-central", "haircut", "carla", "lease.resources.staff_id"),  # not in the merchant's staff
        ("nowhere", "haircut", "", "lease.merchant_id"),  # identity-mapped, unknown upstream
    ],
)
async def test_ids_the_mapping_rules_out_are_invalid_argument(mapped: Harness, merchant, service, staff, field) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await mapped.lease(at(1, 10), merchant=merchant, service=service, staff=staff)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field} "), err.value.details()
    assert mapped.upstream_calls("POST", "/reservations") == 0  # refused before anything is held
    named = {"lease.merchant_id": merchant, "lease.service_id": service, "lease.resources.staff_id": staff}[field]
    assert repr(named) in err.value.details()


async def test_an_operator_error_row_maps_a_code_the_contract_does_not_know(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    config = bridge_config(
        sim, tmp_path / "b.sqlite3",
        errors=[{"operation": "hold", "status": "423", "code": "BRANCH_CLOSED", "cause": "SLOT_UNAVAILABLE"}],
    )
    h = Harness(sim=sim, clock=clock, config=config)
    await h.start()
    try:
        sim.faults.add(method="POST", path=r"^/reservations$", action="status", status=423,
                       body={"errorCode": "BRANCH_CLOSED", "message": "closed for renovation"})
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await h.lease(at(1, 10))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "423 BRANCH_CLOSED" in err.value.details(), err.value.details()
        # Without the row the same answer is an internal error, not a business outcome.
        sim.faults.add(method="POST", path=r"^/reservations$", action="status", status=423,
                       body={"errorCode": "SOMETHING_ELSE"})
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await h.lease(at(1, 10))
        assert err.value.code() == grpc.StatusCode.INTERNAL
        assert "423 SOMETHING_ELSE" in err.value.details(), err.value.details()
        assert h.upstream_calls("POST", "/reservations") == 2  # one hold asked for per attempt, none repeated
    finally:
        await h.stop()
