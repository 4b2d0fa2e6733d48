"""Why Actions Center cannot book a Qmatic offering: every reason, so one reading tells
the operator all there is to change at the branch.

A booking from Google brings a name, an e-mail and a phone number, nothing more. The
wording follows bridge.core.catalogue's ``unbookable``, which the feeds use to leave such
services out.
"""

from __future__ import annotations

from ..upstream import Offering


def reasons(offering: Offering) -> list[str]:
    found = []
    if not offering.online_bookable:
        found.append("not bookable online")
    if offering.date_of_birth_required:
        found.append("requires a date of birth")
    if offering.required_information_questions:
        found.append(f"requires answers to information questions ({offering.required_information_questions})")
    if offering.screening_questions:
        found.append(f"asks screening questions ({offering.screening_questions})")
    return found


def why_not(offering: Offering) -> str:
    """The reasons as one phrase; empty when Actions Center can book it."""
    return "; ".join(reasons(offering))
