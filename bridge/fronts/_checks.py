"""Input checks shared by the fronts; each raises INVALID_ARGUMENT naming the caller's field."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping

from ..failures import BridgeError, invalid

MAX_ID = 255
MAX_NAME = 255
MAX_TAG = 1024
# A slot lasts at least a minute (Qmatic's grid is in minutes) and at most a day.
MIN_DURATION = dt.timedelta(minutes=1)
MAX_DURATION = dt.timedelta(hours=24)
# The times a request may carry. v3 says "not set" with 0, so the epoch is out; 2100 is far
# past any booking (the core refuses starts more than its horizon ahead) and near enough
# that adding a day, or rendering a protobuf Timestamp, can never overflow.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Qmatic accepts digits, space, '+' and '-'; common separators are dropped, letters refused.
_PHONE_DROP = re.compile(r"[().\/]")
_PHONE_OK = re.compile(r"^[0-9 +\-]*$")


def required(field: str, value: str, limit: int = MAX_ID) -> str:
    if not value.strip():
        raise invalid(field, "is required")
    return bounded(field, value, limit)


def bounded(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise invalid(field, f"is longer than {limit} characters")
    return value


def email(field: str, value: str) -> str:
    value = required(field, value, MAX_NAME).strip()
    if not _EMAIL.match(value):
        raise invalid(field, "is not an e-mail address")
    return value


def telephone(field: str, value: str) -> str:
    value = _PHONE_DROP.sub("", bounded(field, value, MAX_NAME)).strip()
    if not _PHONE_OK.match(value):
        raise invalid(field, "may hold only digits, spaces, '+' and '-'")
    return value


def duration(field: str, value: dt.timedelta) -> dt.timedelta:
    if value <= dt.timedelta(0):
        raise invalid(field, "must be positive")
    if not MIN_DURATION <= value <= MAX_DURATION:
        raise invalid(field, f"must be between {MIN_DURATION} and {MAX_DURATION}")
    return value


def seconds(field: str, value: int) -> dt.timedelta:
    """A duration given in whole seconds (v3), bounded before it becomes a timedelta,
    which overflows long before int64 does."""
    if value <= 0:
        raise invalid(field, "must be positive")
    if value > MAX_DURATION.total_seconds():
        raise invalid(field, f"must be between {MIN_DURATION} and {MAX_DURATION}")
    return duration(field, dt.timedelta(seconds=value))


def instant(field: str, value: dt.datetime) -> dt.datetime:
    if not EARLIEST < value < LATEST:
        raise invalid(field, f"must be after {EARLIEST:%Y-%m-%d} and before {LATEST:%Y-%m-%d}")
    return value


def epoch(field: str, value: int) -> dt.datetime:
    """A time given in seconds since the epoch (v3), bounded before it becomes a datetime."""
    if not EARLIEST.timestamp() < value < LATEST.timestamp():
        raise invalid(field, f"must be after {EARLIEST:%Y-%m-%d} and before {LATEST:%Y-%m-%d}")
    return dt.datetime.fromtimestamp(value, dt.timezone.utc)


def some(values: Iterable[str], shown: int = 3, width: int = 40) -> str:
    """A few of the caller's values for an error message, each cut short: a request can
    carry thousands, and the message only has to say what kind of thing is wrong."""
    values = list(values)
    listed = ", ".join(v if len(v) <= width else v[: width - 1] + "…" for v in values[:shown])
    more = len(values) - shown
    return f"{listed} and {more} more" if more > 0 else listed


def renamed(exc: BridgeError, rename: Callable[[str], str | None]) -> BridgeError:
    """The core names fields neutrally ("start_time"); a front names them as its caller
    sent them ("lease.slot.start_sec")."""
    new = rename(exc.field) if exc.field else None
    if not new or new == exc.field:
        return exc
    assert exc.field is not None
    message = new + exc.message[len(exc.field) :] if exc.message.startswith(exc.field) else exc.message
    return BridgeError(exc.cause, message, field=new)


@contextlib.contextmanager
def fields_named(names: Mapping[str, str]) -> Iterator[None]:
    try:
        yield
    except BridgeError as exc:
        raise renamed(exc, names.get) from None
