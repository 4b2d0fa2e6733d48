"""Why Actions Center cannot book a Qmatic offering, as one phrase for the operator: every
reason (bridge.core.catalogue's ``unbookable``, which the feeds use too), so one reading
tells all there is to change at the branch."""

from __future__ import annotations

from ..core.catalogue import unbookable
from ..upstream import Offering


def why_not(offering: Offering) -> str:
    """The reasons as one phrase; empty when Actions Center can book it."""
    return "; ".join(unbookable(offering))
