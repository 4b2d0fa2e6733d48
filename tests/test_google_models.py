"""The plain values handed to the Google client refuse what Google could not be sent."""

from __future__ import annotations

import datetime as dt

import pytest

from bridge.google import AvailabilityWindow, BookingUpdate, OpenSlot

UTC = dt.timezone.utc
DAY = dt.datetime(2026, 12, 1, tzinfo=UTC)
HALF_HOUR = dt.timedelta(minutes=30)


def test_mask_names_the_set_fields_in_googles_order():
    update = BookingUpdate("b", "m", "s", party_size=2, duration=HALF_HOUR, status="CANCELED")
    assert update.mask == ("status", "duration", "partySize")
    assert BookingUpdate("b", "m", "s", start=DAY).mask == ("startTime",)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "a BookingUpdate must set at least one of status, start, duration, party_size"),
        ({"status": ""}, "status must not be empty"),
        ({"start": dt.datetime(2026, 12, 1, 9)}, "start must be timezone-aware"),
        ({"duration": dt.timedelta(0)}, "duration must be positive"),
        ({"party_size": 0}, "party_size must be at least 1"),
    ],
)
def test_a_booking_update_refuses_what_cannot_be_sent(fields, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        BookingUpdate("b", "m", "s", **fields)


@pytest.mark.parametrize("ids", [("", "m", "s"), ("b", "", "s"), ("b", "m", "")])
def test_a_booking_update_needs_its_ids(ids):
    with pytest.raises(ValueError, match="must not be empty"):
        BookingUpdate(*ids, status="CANCELED")


@pytest.mark.parametrize(
    ("slot", "message"),
    [
        (dict(spots_total=1, spots_open=2), "spots_open must be between 0 and spots_total"),
        (dict(spots_total=1, spots_open=-1), "spots_open must be between 0 and spots_total"),
        (dict(spots_total=1, spots_open=1, party_size=0), "party_size must be at least 1"),
        (dict(spots_total=1, spots_open=1, staff_name="Ann"), "staff_name needs a staff_id"),
    ],
)
def test_an_open_slot_refuses_impossible_numbers(slot, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        OpenSlot(DAY, HALF_HOUR, **slot)


def test_a_window_holds_only_its_own_slots():
    inside = OpenSlot(DAY, HALF_HOUR, 1, 1)
    at_end = OpenSlot(DAY + dt.timedelta(hours=1), HALF_HOUR, 1, 1)
    window = AvailabilityWindow("m", "s", DAY, DAY + dt.timedelta(hours=1), [inside])
    assert window.slots == (inside,)
    with pytest.raises(ValueError, match="^slot at 2026-12-01T01:00:00\\+00:00 lies outside the window$"):
        AvailabilityWindow("m", "s", DAY, DAY + dt.timedelta(hours=1), (inside, at_end))
    with pytest.raises(ValueError, match="^a window must end after it starts$"):
        AvailabilityWindow("m", "s", DAY, DAY, ())


def test_a_staff_window_holds_only_that_staff_members_slots():
    with pytest.raises(ValueError, match="must name that staff member"):
        AvailabilityWindow("m", "s", DAY, DAY + HALF_HOUR, (OpenSlot(DAY, HALF_HOUR, 1, 1, staff_id="b"),), staff_id="a")
