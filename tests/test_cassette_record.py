"""Recording: the scenarios' upstream calls, clean-up, partial cassettes, the CLI, freshness."""

from __future__ import annotations

import asyncio
import datetime as dt
import difflib
import json
import os
import pathlib
import re
import sys

import pytest

from bridge.cassette import load
from bridge.cassette.recorder import Options, RecordError, record
from bridge.cassette.scenarios import SCENARIOS
from bridge.cassette.simulated import ENV, record_from_simulator, simulator_config
from bridge.clock import ManualClock
from bridge.simulator import Simulator, seed

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "tests" / "cassettes"
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# What each scenario asks of the upstream, in order: the contract's calls, nothing else.
EXPECTED_CALLS = {
    "catalogue": [
        "POST /oauth2/token",
        "GET /services",
        "GET /services/groups",
        "GET /services/{id}",
        "GET /services/{id}/timeslots",
    ],
    "hold_confirm_cancel": [
        "POST /oauth2/token",
        "GET /services",
        "POST /reservations 201",
        "PUT /reservations/{id} 201",
        "DELETE /appointments/{id} 204",
    ],
    "hold_release": [
        "POST /oauth2/token",
        "POST /reservations 201",
        "DELETE /reservations/reservations/{id} 204",
        "GET /appointments/{id} 404",
    ],
    "hold_expiry_confirm": [
        "POST /oauth2/token",
        "GET /services",
        "POST /reservations 201",
        "PUT /reservations/{id} 410",
    ],
    "reschedule": [
        "POST /oauth2/token",
        "GET /services",
        "POST /reservations 201",
        "PUT /reservations/{id} 201",
        "POST /reservations 201",
        "PUT /appointments/{id}/reschedule",
        "DELETE /appointments/{id} 204",
    ],
    "customer_update": [
        "POST /oauth2/token",
        "GET /services",
        "POST /reservations 201",
        "PUT /reservations/{id} 201",
        "PUT /appointments/{id}/customer 204",
        "GET /appointments/{id}",
        "POST /appointments/search",
        "DELETE /appointments/{id} 204",
    ],
    "slot_conflict": [
        "POST /oauth2/token",
        "GET /services",
        "POST /reservations 201",
        "POST /reservations 201",
        "POST /reservations 409",
        "DELETE /reservations/reservations/{id} 204",
        "DELETE /reservations/reservations/{id} 204",
    ],
    "validation_error": ["POST /oauth2/token", "GET /services", "POST /reservations 400"],
}


def calls(path: pathlib.Path) -> list[str]:
    found = []
    for item in json.loads(path.read_text())["interactions"]:
        request, status = item["request"], item["response"]["status"]["code"]
        where = GUID.sub(
            "{id}", request["uri"].split("?")[0].removeprefix("https://qmatic.invalid").removeprefix("/external/v1")
        )
        found.append(f"{request['method']} {where}" + ("" if status == 200 else f" {status}"))
    return found


def live(sim: Simulator) -> list[str]:
    """What the scenarios could have left on the tenant: live holds and bookings."""
    now = sim.clock.now()
    return [
        f"{a.status} {a.id}"
        for a in sim.state.appointments.values()
        if a.status == "CONFIRMED" or (a.status == "RESERVED" and now < a.expires_at)
    ]


async def record_on(
    sim: Simulator, clock: ManualClock, out: pathlib.Path, *names: str, said: list[str] | None = None, **options: object
):
    async def advance(seconds: float) -> None:
        clock.advance(seconds=seconds)

    return await record(
        simulator_config(sim),
        Options(out_dir=out, scenarios=names or tuple(SCENARIOS), **options),  # type: ignore[arg-type]
        environ=ENV,
        clock=clock,
        wait_for_expiry=advance,
        say=(said if said is not None else []).append,
    )


async def test_every_scenario_makes_the_contracts_calls_and_leaves_the_tenant_as_it_was(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    said: list[str] = []
    outcomes = await record_on(sim, clock, tmp_path, said=said)
    assert [(o.scenario, o.ok, o.partial, o.divergences) for o in outcomes] == [(n, True, False, ()) for n in SCENARIOS]
    for name, expected in EXPECTED_CALLS.items():
        assert calls(tmp_path / f"{name}.json") == expected, name
    assert live(sim) == []
    progress = [line for line in said if " exchanges, " in line]
    assert progress == [f"{o.scenario}: {o.exchanges} exchanges, ok -> {o.path}" for o in outcomes]
    assert sum("waiting 930 s" in line for line in said) == 1  # the one scenario that waits, once
    # Distinct scenarios booked distinct slots, all a day or more ahead.
    starts = [s["start"] for name in SCENARIOS for s in load(tmp_path / f"{name}.json").meta.slots]
    assert len(starts) == len(set(starts)) and min(starts) >= "2026-11-24T07:00:00+00:00"


@pytest.mark.parametrize(
    "fault, answered, clean_up",
    [
        # Refused before processing: the hold is still there, and is released.
        (
            "status",
            ["PUT /reservations/{id} 500"],
            ["GET /appointments/{id}", "DELETE /reservations/reservations/{id} 204"],
        ),
        # Confirmed, but the answer was lost: the booking is cancelled.
        ("drop_after", [], ["GET /appointments/{id}", "DELETE /appointments/{id} 204"]),
    ],
)
async def test_a_failure_midway_leaves_a_partial_cassette_and_is_cleaned_up(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path, fault: str, answered: list[str], clean_up: list[str]
) -> None:
    sim.faults.add("PUT", r"^/reservations/", action=fault, status=500)
    [outcome] = await record_on(sim, clock, tmp_path, "hold_confirm_cancel")
    assert (outcome.ok, outcome.partial) == (False, True)
    cassette = load(outcome.path)
    assert cassette.meta.partial is True
    assert cassette.meta.error is not None and cassette.meta.error.startswith("UNAVAILABLE: ")
    # Up to the failure (an exchange without an answer is not one), then the clean-up,
    # which asks the upstream what the confirm left behind.
    assert calls(outcome.path) == [
        "POST /oauth2/token",
        "GET /services",
        "POST /reservations 201",
        *answered,
        *clean_up,
    ]
    assert live(sim) == []


async def test_an_interrupted_wait_still_gives_the_hold_back_and_writes_the_cassette(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    async def interrupted(seconds: float) -> None:
        raise asyncio.CancelledError  # what Ctrl-C becomes under asyncio.run

    with pytest.raises(asyncio.CancelledError):
        await record(
            simulator_config(sim),
            Options(out_dir=tmp_path, scenarios=["hold_expiry_confirm"]),
            environ=ENV,
            clock=clock,
            wait_for_expiry=interrupted,
            say=lambda line: None,
        )
    meta = load(tmp_path / "hold_expiry_confirm.json").meta
    assert (meta.partial, meta.error) == (True, "interrupted")
    assert calls(tmp_path / "hold_expiry_confirm.json")[-1] == "DELETE /reservations/reservations/{id} 204"
    assert live(sim) == []


async def test_what_could_not_be_cleaned_up_is_reported(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    sim.faults.add("DELETE", r"^/appointments/", status=500, times=None)
    said: list[str] = []
    [outcome] = await record_on(sim, clock, tmp_path, "hold_confirm_cancel", said=said)
    assert not outcome.ok
    [booked] = [a for a in sim.state.appointments.values() if a.status == "CONFIRMED"]
    assert outcome.error is not None and f"clean-up: appointment {booked.id} may still be booked" in outcome.error
    assert load(outcome.path).meta.error == outcome.error
    assert sum(line.startswith("hold_confirm_cancel: ") and "PARTIAL" in line for line in said) == 1


async def test_an_answer_other_than_the_contracts_is_a_divergence_not_a_failure(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    # A tenant that calls an off-grid time a taken slot.
    sim.faults.add("POST", r"^/reservations$", status=409, body={"errorCode": "TIMESLOT_UNAVAILABLE", "message": "x"})
    said: list[str] = []
    [outcome] = await record_on(sim, clock, tmp_path, "validation_error", said=said)
    assert outcome.ok and not outcome.partial
    assert outcome.divergences == (
        (
            "hold of a time that is not a slot: the contract expects 400 VALIDATION_ERROR, "
            "the upstream answered 409 TIMESLOT_UNAVAILABLE"
        ),
        "hold of a time that is not a slot: the bridge reads the answer as SLOT_UNAVAILABLE, not INVALID_ARGUMENT",
    )
    assert list(load(outcome.path).meta.divergences) == list(outcome.divergences)
    assert [line for line in said if "differs from the contract" in line]


async def test_holds_that_outlive_fifteen_minutes_are_noted_and_the_booking_cancelled(
    clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    async with Simulator(clock, hold_ttl=dt.timedelta(minutes=30)) as sim:
        [outcome] = await record_on(sim, clock, tmp_path, "hold_expiry_confirm")
        assert outcome.ok
        assert outcome.divergences == (
            "the upstream confirmed a hold 930 s old; the contract says holds lapse after 15 minutes",
        )
        assert calls(outcome.path)[-2:] == ["PUT /reservations/{id} 201", "DELETE /appointments/{id} 204"]
        assert live(sim) == []


async def test_rejected_credentials_stop_before_any_cassette(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    with pytest.raises(RecordError) as err:
        await record(
            simulator_config(sim),
            Options(out_dir=tmp_path),
            environ={**ENV, "QMATIC_CLIENT_SECRET": "wrong"},
            clock=clock,
            say=lambda line: None,
        )
    assert "client credentials" in str(err.value) and "wrong" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


async def test_a_given_merchant_and_service_are_used_and_checked(
    sim: Simulator, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    [outcome] = await record_on(sim, clock, tmp_path, "catalogue", merchant_id=seed.LONDON, service_id=seed.PASSPORT)
    meta = load(outcome.path).meta
    assert (meta.offering["branch_id"], meta.offering["upstream_service_id"]) == (seed.LONDON, seed.PASSPORT)
    timeslots = json.loads(outcome.path.read_text())["interactions"][-1]["request"]["uri"]
    assert f"/services/{seed.PASSPORT}/timeslots?branchId={seed.LONDON}&" in timeslots
    with pytest.raises(RecordError, match="not in the upstream catalogue"):
        await record_on(sim, clock, tmp_path / "x", "catalogue", merchant_id=seed.LONDON, service_id=seed.CONSULTATION)
    with pytest.raises(RecordError, match="go together"):
        await record_on(sim, clock, tmp_path / "y", "catalogue", merchant_id=seed.LONDON)


async def test_the_committed_cassettes_are_what_the_simulator_answers_today(tmp_path: pathlib.Path) -> None:
    await record_from_simulator(tmp_path, say=lambda line: None)
    for name in SCENARIOS:
        fresh, committed = (
            _stable((tmp_path / f"{name}.json").read_text()),
            _stable((COMMITTED / f"{name}.json").read_text()),
        )
        diff = "\n".join(
            difflib.unified_diff(committed.splitlines(), fresh.splitlines(), "committed", "re-recorded", lineterm="")
        )
        assert not diff, f"tests/cassettes/{name}.json is stale; run python scripts/record_cassettes.py\n{diff}"


def _stable(text: str) -> str:
    # Appointment ids are the simulator's random draws; the catalogue's GUIDs are fixed.
    numbered: dict[str, str] = {}
    return GUID.sub(lambda m: numbered.setdefault(m.group(0), f"guid-{len(numbered)}"), text)


# --- the command line -------------------------------------------------------------------


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        "record",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k not in ENV}, **env},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        # A timeout or a cancelled test must not leave the command running.
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def live_sim() -> Simulator:
    # The command runs on the real clock, so the simulator does too.
    simulator = Simulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


def config_file(sim: Simulator, folder: pathlib.Path) -> pathlib.Path:
    path = folder / "bridge.toml"
    path.write_text(
        f'[upstream]\nbase_url = "{sim.base_url}"\ntoken_url = "{sim.token_url}"\naccount = "{seed.DEMO_ACCOUNT}"\n'
        f'tenant_id = "{seed.DEMO_TENANT_ID}"\n[booking]\ndefault_time_zone = "Europe/Stockholm"\n'
    )
    return path


async def test_cli_records_the_named_scenarios(live_sim: Simulator, tmp_path: pathlib.Path) -> None:
    config = config_file(live_sim, tmp_path)
    code, out, err = await run_cli(
        "--config",
        str(config),
        "--out",
        str(tmp_path / "out"),
        "--scenario",
        "catalogue",
        "--scenario",
        "hold_confirm_cancel",
        env=ENV,
    )
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith("catalogue: 5 exchanges, ok -> ")
    assert lines[1].startswith("hold_confirm_cancel: 5 exchanges, ok -> ")
    assert lines[2].startswith("2 of 2 scenario(s) recorded in full")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["catalogue.json", "hold_confirm_cancel.json"]
    assert live(live_sim) == []


async def test_cli_exits_non_zero_after_writing_a_partial_cassette(live_sim: Simulator, tmp_path: pathlib.Path) -> None:
    live_sim.faults.add("DELETE", r"^/appointments/", status=503, times=1)
    config = config_file(live_sim, tmp_path)
    code, out, err = await run_cli(
        "--config", str(config), "--out", str(tmp_path / "out"), "--scenario", "hold_confirm_cancel", env=ENV
    )
    assert code == 1
    assert "hold_confirm_cancel: 7 exchanges, PARTIAL" in out
    assert "error: partial or not cleaned up: hold_confirm_cancel" in err
    path = tmp_path / "out" / "hold_confirm_cancel.json"
    assert load(path).meta.partial is True
    # The refused cancel, then the clean-up: look the booking up, cancel it again.
    assert calls(path)[-3:] == [
        "DELETE /appointments/{id} 503",
        "GET /appointments/{id}",
        "DELETE /appointments/{id} 204",
    ]
    assert live(live_sim) == []


async def test_cli_reports_configuration_problems(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[upstream]\naccount = "demo"\ntenant_id = "t"\n')
    code, _, err = await run_cli("--config", str(config), "--out", str(tmp_path / "out"), env={})
    assert code == 2
    assert "QMATIC_CLIENT_SECRET is not set" in err
    assert not (tmp_path / "out").exists()
