"""Did every unit of work end upstream as it should? Read from the simulator after the load.

Each unit used a slot no other unit used, so the simulator's appointments at that slot
(branch, staff, start) are that unit's alone:

- right: exactly one appointment, in the expected end state (a flow: confirmed, then
  cancelled — the simulator cancels only confirmed appointments; a booking: confirmed);
- duplicates: appointments beyond the first at a slot (two holds for one reference);
- losses: units whose RPCs failed (the caller got an error, or an unexpected answer);
- wrong: units answered as a success whose slot upstream is not right;
- strays: appointments at slots no unit used.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .slots import Slot


@dataclass
class Attempt:
    slot: Slot
    expected: str  # "CONFIRMED" or "CONFIRMED→CANCELLED"
    answered: bool = False  # every RPC of the unit succeeded


def check(attempts: list[Attempt], appointments: list[list[Any]]) -> dict[str, int]:
    at: dict[tuple[str, str, str], list[tuple[str, bool]]] = defaultdict(list)
    for branch, _service, resource, start, status, confirmed in appointments:
        at[(branch, resource, start)].append((status, confirmed))
    used = {a.slot.key for a in attempts}
    out = {"units": len(attempts), "right": 0, "duplicates": 0, "losses": 0, "wrong": 0,
           "strays": sum(len(v) for k, v in at.items() if k not in used)}
    for attempt in attempts:
        found = at.get(attempt.slot.key, [])
        out["duplicates"] += max(0, len(found) - 1)
        want = "CANCELLED" if attempt.expected.endswith("CANCELLED") else "CONFIRMED"
        right = len(found) == 1 and found[0] == (want, True)
        out["right"] += right
        if not attempt.answered:
            out["losses"] += 1
        elif not right:
            out["wrong"] += 1
    return out
