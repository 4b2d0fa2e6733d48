"""Availability replace: the body, and how windows are cut into calls of bounded size."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from bridge.clock import ManualClock
from bridge.google import AvailabilityWindow, Backoff, GoogleRejected, MapsBookingClient, OpenSlot, ServiceAccount
from bridge.simulator import FakeGoogle
from bridge.simulator.google_auth import FakeServiceAccount

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
DAY = dt.datetime(2026, 12, 1, tzinfo=UTC)
PARTNER = "20001234"
REPLACE_PATH = f"/v1alpha/inventory/partners/{PARTNER}/availability:replace"
HALF_HOUR = dt.timedelta(minutes=30)


@pytest.fixture(scope="module")
def minted() -> FakeServiceAccount:
    return FakeServiceAccount()


@pytest.fixture(scope="module")
def loaded(minted) -> ServiceAccount:
    return ServiceAccount.from_info(minted.info("http://placeholder.invalid/token"))


@pytest.fixture
async def fake(minted):
    async with FakeGoogle(ManualClock(T0), partner_id=PARTNER, account=minted) as google:
        yield google


async def make_client(fake: FakeGoogle, loaded: ServiceAccount, **options) -> MapsBookingClient:
    account = dataclasses.replace(loaded, token_uri=fake.token_uri)

    async def no_pause(seconds: float) -> None:
        pass

    return MapsBookingClient(PARTNER, fake.base_url, account, clock=fake.clock, sleep=no_pause, backoff=Backoff(first=0), **options)


@pytest.fixture
async def client(fake, loaded):
    c = await make_client(fake, loaded)
    yield c
    await c.aclose()


def window(start: dt.datetime, count: int, *, merchant: str = "m-1", service: str = "s-1", step=dt.timedelta(minutes=1)):
    """``count`` one-minute-apart slots from ``start``, in a window just wide enough."""
    slots = tuple(OpenSlot(start + i * step, HALF_HOUR, 3, 2) for i in range(count))
    return AvailabilityWindow(merchant, service, start, start + max(count, 1) * step, slots)


def starts(fake: FakeGoogle, merchant: str = "m-1", service: str = "s-1") -> list[dt.datetime]:
    return [slot.start for slot in fake.published(merchant, service)]


async def test_body_is_exact(client, fake):
    slots = (
        OpenSlot(DAY.replace(hour=9), HALF_HOUR, 4, 1, staff_id="st-1", staff_name="Ann", party_size=2),
        OpenSlot(DAY.replace(hour=10), dt.timedelta(minutes=45), 1, 0, staff_id="st-1"),
    )
    staffed = AvailabilityWindow("1234", "5678", DAY, DAY + dt.timedelta(days=1), slots, staff_id="st-1")
    bare = AvailabilityWindow("1234", "9999", DAY, DAY + dt.timedelta(hours=2), (OpenSlot(DAY, HALF_HOUR, 1, 1),))
    assert await client.replace_availability([staffed, bare]) == 1
    assert [(r.method, r.path, r.query) for r in fake.requests if r.path != "/token"] == [("POST", REPLACE_PATH, {})]
    [call] = fake.replacements
    assert call.entries == (
        {
            "merchantId": "1234",
            "serviceId": "5678",
            "startTimeRestrict": "2026-12-01T00:00:00Z",
            "endTimeRestrict": "2026-12-02T00:00:00Z",
            "resourcesRestrict": {"staffId": "st-1"},
            "availability": [
                {
                    "startTime": "2026-12-01T09:00:00Z",
                    "duration": "1800s",
                    "spotsTotal": "4",
                    "spotsOpen": "1",
                    "resources": {"staffId": "st-1", "staffName": "Ann", "partySize": "2"},
                },
                {
                    "startTime": "2026-12-01T10:00:00Z",
                    "duration": "2700s",
                    "spotsTotal": "1",
                    "spotsOpen": "0",
                    "resources": {"staffId": "st-1"},
                },
            ],
        },
        {
            "merchantId": "1234",
            "serviceId": "9999",
            "startTimeRestrict": "2026-12-01T00:00:00Z",
            "endTimeRestrict": "2026-12-01T02:00:00Z",
            "availability": [{"startTime": "2026-12-01T00:00:00Z", "duration": "1800s", "spotsTotal": "1", "spotsOpen": "1"}],
        },
    )


async def test_a_replace_deletes_what_its_window_held_and_nothing_else(client, fake):
    await client.replace_availability([window(DAY, 10)])
    # Slots 3..6 are withdrawn; one new one goes in at 4.5 minutes.
    narrow = AvailabilityWindow(
        "m-1", "s-1", DAY + dt.timedelta(minutes=3), DAY + dt.timedelta(minutes=7),
        (OpenSlot(DAY + dt.timedelta(minutes=4, seconds=30), HALF_HOUR, 1, 1),),
    )
    await client.replace_availability([narrow])
    minutes = [(s - DAY) / dt.timedelta(minutes=1) for s in starts(fake)]
    assert minutes == [0, 1, 2, 4.5, 7, 8, 9]


async def test_an_empty_window_withdraws_its_range(client, fake):
    await client.replace_availability([window(DAY, 5)])
    assert await client.replace_availability([AvailabilityWindow("m-1", "s-1", DAY, DAY + dt.timedelta(hours=1), ())]) == 1
    assert starts(fake) == []


async def test_no_windows_no_calls(client, fake):
    assert await client.replace_availability([]) == 0
    assert fake.requests == []


async def test_2500_slots_in_five_windows_go_in_calls_of_at_most_1000_with_windows_whole(client, fake):
    sizes = [600, 300, 900, 200, 500]
    windows = [window(DAY + dt.timedelta(days=i), n, service=f"s-{i}") for i, n in enumerate(sizes)]
    assert await client.replace_availability(windows) == 3
    assert [call.slot_count for call in fake.replacements] == [900, 900, 700]
    services = [[entry["serviceId"] for entry in call.entries] for call in fake.replacements]
    assert services == [["s-0", "s-1"], ["s-2"], ["s-3", "s-4"]]
    for i, w in enumerate(windows):
        assert starts(fake, service=f"s-{i}") == [slot.start for slot in w.slots]


async def test_a_2500_slot_window_is_cut_into_sub_windows_that_partition_it(client, fake):
    end = DAY + dt.timedelta(days=2)
    before = DAY - dt.timedelta(hours=1)
    # Published earlier: one slot before the window, one at its (exclusive) end, and
    # 3,000 inside it, every 30 s, which the new 2,500 (every minute, offset by 15 s)
    # must replace entirely.
    await client.replace_availability([window(before, 1), window(end, 1)])
    old = [OpenSlot(DAY + i * dt.timedelta(seconds=30), HALF_HOUR, 1, 1) for i in range(3000)]
    for i in range(0, 3000, 1000):
        chunk = old[i : i + 1000]
        await client.replace_availability(
            [AvailabilityWindow("m-1", "s-1", chunk[0].start, chunk[-1].start + dt.timedelta(seconds=30), tuple(chunk))]
        )
    assert len(starts(fake)) == 3002
    fake.replacements.clear()
    slots = tuple(OpenSlot(DAY + dt.timedelta(seconds=15) + i * dt.timedelta(minutes=1), HALF_HOUR, 2, 1) for i in range(2500))

    assert await client.replace_availability([AvailabilityWindow("m-1", "s-1", DAY, end, slots)]) == 3

    entries = [entry for call in fake.replacements for entry in call.entries]
    # End to end from the window's start to its end, each cut at a sub-window's first slot.
    assert [(e["startTimeRestrict"], e["endTimeRestrict"], len(e["availability"])) for e in entries] == [
        ("2026-12-01T00:00:00Z", "2026-12-01T16:40:15Z", 1000),
        ("2026-12-01T16:40:15Z", "2026-12-02T09:20:15Z", 1000),
        ("2026-12-02T09:20:15Z", "2026-12-03T00:00:00Z", 500),
    ]
    assert [len(call.entries) for call in fake.replacements] == [1, 1, 1]
    # Exactly the new slots are published, beside the two outside the window.
    assert starts(fake) == [before, *(s.start for s in slots), end]


async def test_slots_starting_together_are_never_cut_apart(fake, loaded):
    client = await make_client(fake, loaded, max_slots_per_call=4)
    try:
        slots = tuple(
            OpenSlot(DAY + dt.timedelta(hours=h), HALF_HOUR, 1, 1, staff_id=staff) for h in range(3) for staff in ("a", "b")
        )
        assert await client.replace_availability([AvailabilityWindow("m-1", "s-1", DAY, DAY + dt.timedelta(hours=3), slots)]) == 2
    finally:
        await client.aclose()
    entries = [entry for call in fake.replacements for entry in call.entries]
    assert [(e["startTimeRestrict"], e["endTimeRestrict"], len(e["availability"])) for e in entries] == [
        ("2026-12-01T00:00:00Z", "2026-12-01T02:00:00Z", 4),
        ("2026-12-01T02:00:00Z", "2026-12-01T03:00:00Z", 2),
    ]
    assert len(fake.published("m-1", "s-1")) == 6


async def test_too_many_slots_at_one_instant_is_refused_before_sending(fake, loaded):
    client = await make_client(fake, loaded, max_slots_per_call=2)
    try:
        slots = tuple(OpenSlot(DAY, HALF_HOUR, 1, 1, staff_id=s) for s in ("a", "b", "c"))
        with pytest.raises(ValueError, match="3 slots start at 2026-12-01T00:00:00\\+00:00 in one window; a replace call takes at most 2"):
            await client.replace_availability([AvailabilityWindow("m-1", "s-1", DAY, DAY + HALF_HOUR, slots)])
    finally:
        await client.aclose()
    assert fake.requests == []


async def test_a_refused_call_stops_the_rest(fake, loaded):
    client = await make_client(fake, loaded, max_slots_per_call=10)
    try:
        fake.fail("POST", "availability:replace$", 400, message="Invalid merchant.")
        with pytest.raises(GoogleRejected) as caught:
            await client.replace_availability([window(DAY, 10, service="s-1"), window(DAY, 10, service="s-2")])
    finally:
        await client.aclose()
    assert str(caught.value) == "Google refused the availability replace: 400 INVALID_ARGUMENT: Invalid merchant."
    assert len([r for r in fake.requests if r.path == REPLACE_PATH]) == 1
    assert fake.replacements == []
