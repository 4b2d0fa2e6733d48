"""A v0 answer's times (lease_expiration_time, start_time) are the instants the core
holds, whatever zone the datetime carries: set without protobuf's FromDatetime, they
must be exactly what it would set."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from google.protobuf import timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from bridge.fronts.v0 import set_time

ZONES = [dt.timezone.utc, zoneinfo.ZoneInfo("Europe/Stockholm"), zoneinfo.ZoneInfo("America/Los_Angeles"),
         zoneinfo.ZoneInfo("Asia/Kolkata"), dt.timezone(dt.timedelta(hours=-3, minutes=-30)), None]


@given(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)), st.sampled_from(ZONES))
def test_a_time_is_set_as_from_datetime_sets_it(when: dt.datetime, zone: dt.tzinfo | None) -> None:
    when = when.replace(tzinfo=zone)
    ours, theirs = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    set_time(ours, when)
    theirs.FromDatetime(when)
    assert (ours.seconds, ours.nanos) == (theirs.seconds, theirs.nanos)


def test_before_the_epoch_the_seconds_are_floored_and_the_nanos_positive() -> None:
    out = timestamp_pb2.Timestamp()
    set_time(out, dt.datetime(1969, 12, 31, 23, 59, 59, 250000, tzinfo=dt.timezone.utc))
    assert (out.seconds, out.nanos) == (-1, 250_000_000)
