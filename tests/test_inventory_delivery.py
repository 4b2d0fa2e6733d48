"""The outbox's delivery rules against the fake Google over real HTTP: at least once, never
retried forever, dead letters kept with their reason, old entries pruned."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from bridge import cli
from bridge.inventory import _notifier
from bridge._proto import booking_v0_pb2 as pb
from bridge.clock import ManualClock
from bridge.simulator import FakeGoogle, Simulator

from .google_harness import fake_google, google_harness, live, run_for, step  # noqa: F401 (fixtures)
from .harness import Harness, at


async def cancelled_at_branch(h: Harness) -> str:
    """A booking, read once, then cancelled at the branch: the next read notices it."""
    booking = await h.book((await h.lease(at(1, 10))).lease_id)
    await step(h)
    [appointment] = [a for a in h.sim.state.appointments.values() if a.status == "CONFIRMED"]
    h.sim.state.cancel_at_branch(appointment.id)
    return booking.booking_id


def patches(google: FakeGoogle) -> int:
    return sum(1 for r in google.requests if r.method == "PATCH")


async def counts(h: Harness) -> dict[str, int]:
    return await h.bridge.store.notification_counts()


async def test_a_passing_failure_is_retried_and_delivered_once(live: Harness, fake_google: FakeGoogle) -> None:
    await cancelled_at_branch(live)
    fake_google.fail("PATCH", r"/bookings/", 503)
    await run_for(live, 240)
    assert len(fake_google.notifications) == 1
    assert patches(fake_google) == 2
    assert await counts(live) == {"pending": 0, "sent": 1, "dropped": 0, "dead": 0}


async def test_a_booking_google_does_not_know_is_dropped_not_retried(live: Harness, fake_google: FakeGoogle) -> None:
    fake_google.known_bookings = set()
    await cancelled_at_branch(live)
    await run_for(live, 600)
    assert fake_google.notifications == []
    assert patches(fake_google) == 1
    assert await counts(live) == {"pending": 0, "sent": 0, "dropped": 1, "dead": 0}


async def test_a_refused_notification_is_dead_lettered_with_googles_reason(
    live: Harness, fake_google: FakeGoogle
) -> None:
    await cancelled_at_branch(live)
    fake_google.fail("PATCH", r"/bookings/", 400, message="updateMask names an unknown field")
    await run_for(live, 600)
    assert patches(fake_google) == 1
    assert await counts(live) == {"pending": 0, "sent": 0, "dropped": 0, "dead": 1}
    row = await live.bridge.store._one("SELECT last_error FROM outbox")
    assert "updateMask names an unknown field" in row[0]


async def test_a_notification_google_keeps_refusing_ends_dead_lettered(live: Harness, fake_google: FakeGoogle) -> None:
    # The harness allows 4 outbox attempts; each attempt is the client's 5 tries.
    await cancelled_at_branch(live)
    fake_google.fail("PATCH", r"/bookings/", 503, times=None)
    await run_for(live, 900)
    assert await counts(live) == {"pending": 0, "sent": 0, "dropped": 0, "dead": 1}
    assert patches(fake_google) == 4 * 5


async def test_a_revoked_token_is_renewed_once(live: Harness, fake_google: FakeGoogle) -> None:
    await cancelled_at_branch(live)
    await run_for(live, 240)
    fake_google.revoke_tokens()
    second = await live.book((await live.lease(at(2, 10), reference="r-2")).lease_id)
    await step(live)
    [appointment] = [a for a in live.sim.state.appointments.values() if a.status == "CONFIRMED"]
    live.sim.state.cancel_at_branch(appointment.id)
    await run_for(live, 240)
    assert [n.booking_id for n in fake_google.notifications][-1] == second.booking_id
    assert len(fake_google.tokens_issued) == 2


async def test_settled_notifications_are_pruned_after_the_kept_days(live: Harness, fake_google: FakeGoogle) -> None:
    await cancelled_at_branch(live)
    await run_for(live, 240)
    assert (await counts(live))["sent"] == 1
    live.clock.advance(days=7, hours=2)
    await step(live)
    assert await counts(live) == {"pending": 0, "sent": 0, "dropped": 0, "dead": 0}


async def test_google_down_never_slows_a_booking_call(
    sim: Simulator, clock: ManualClock, fake_google: FakeGoogle, tmp_path: pathlib.Path
) -> None:
    h = google_harness(sim, clock, fake_google, tmp_path)
    await h.start()
    try:
        fake_google.faults.add(None, "", action="hang", times=None)  # token endpoint too
        await cancelled_at_branch(h)
        # Booking calls answer while the inventory round is stuck on Google.
        round_ = asyncio.ensure_future(step(h))
        booking = await h.book((await h.lease(at(2, 11), reference="r-fast")).lease_id, timeout=2.0)
        assert booking.status == pb.CONFIRMED
        fake_google.faults.clear()
        await round_
    finally:
        await h.stop()


async def test_the_operator_sees_counts_and_dead_letters_with_their_reason(
    live: Harness, fake_google: FakeGoogle, capsys
) -> None:
    booking_id = await cancelled_at_branch(live)
    fake_google.fail("PATCH", r"/bookings/", 400, message="merchant 1234 is not launched")
    await run_for(live, 240)
    config = _write_config(live)
    code = await asyncio.to_thread(cli.main, ["outbox", "--config", str(config)])
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "pending 0  sent 0  dropped 0  dead 1"
    [line] = out[1:]
    assert booking_id in line and "status" in line and "merchant 1234 is not launched" in line


def _write_config(h: Harness) -> pathlib.Path:
    path = pathlib.Path(h.config.store.path).parent / "bridge.toml"
    path.write_text(f'[upstream]\naccount = "a"\ntenant_id = "t"\n[store]\npath = "{h.config.store.path}"\n')
    return path


async def test_what_a_round_cannot_send_within_its_claim_is_left_to_the_next_one(
    live: Harness, fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a round's claim runs out another replica may take its notifications, so this
    one sends none of them past it; they stay pending and go out once, later."""
    await cancelled_at_branch(live)
    monkeypatch.setattr(_notifier, "CLAIM_MARGIN_SECONDS", _notifier.CLAIM_SECONDS)  # no time left in any round
    await run_for(live, 240)
    assert patches(fake_google) == 0
    assert (await counts(live))["pending"] == 1
    monkeypatch.undo()
    await run_for(live, 90)
    assert len(fake_google.notifications) == 1 and patches(fake_google) == 1
