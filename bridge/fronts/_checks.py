"""Input checks shared by the fronts; each raises INVALID_ARGUMENT naming the caller's field."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping

from ..failures import BridgeError, invalid

MAX_ID = 255
MAX_NAME = 255
MAX_TAG = 1024
MAX_DURATION = dt.timedelta(hours=24)

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
    if value > MAX_DURATION:
        raise invalid(field, f"must be at most {MAX_DURATION}")
    return value


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
