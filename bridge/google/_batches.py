"""How a list of availability windows is cut into replace calls of bounded size.

Each call replaces whole windows, so Google never sees a window's range cleared by one
call and refilled by the next. Only a window that alone holds more slots than a call
may is cut, into consecutive sub-windows whose ranges partition it exactly: every
instant of the original range is cleared by exactly one sub-window, which also carries
every slot starting in it, so nothing is deleted without being put back.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import replace

from ._models import AvailabilityWindow, OpenSlot


def plan_calls(windows: Sequence[AvailabilityWindow], limit: int) -> list[tuple[AvailabilityWindow, ...]]:
    """The windows of each call in order, each call holding at most ``limit`` slots."""
    if limit < 1:
        raise ValueError("a call must be allowed at least one slot")
    calls: list[tuple[AvailabilityWindow, ...]] = []
    batch: list[AvailabilityWindow] = []
    count = 0
    for piece in _pieces(windows, limit):
        size = len(piece.slots)
        if batch and count + size > limit:
            calls.append(tuple(batch))
            batch, count = [], 0
        batch.append(piece)
        count += size
    if batch:
        calls.append(tuple(batch))
    return calls


def _pieces(windows: Iterable[AvailabilityWindow], limit: int) -> Iterable[AvailabilityWindow]:
    for window in windows:
        if len(window.slots) <= limit:
            yield window
        else:
            yield from split(window, limit)


def split(window: AvailabilityWindow, limit: int) -> list[AvailabilityWindow]:
    """``window`` as consecutive sub-windows of at most ``limit`` slots each.

    A cut falls between two start times, never inside a group of slots that start
    together (one per staff member, say): the cut instant belongs to one side only.
    """
    chunks: list[list[OpenSlot]] = [[]]
    for _, group in itertools.groupby(sorted(window.slots, key=lambda s: s.start), key=lambda s: s.start):
        slots = list(group)
        if len(slots) > limit:
            raise ValueError(
                f"{len(slots)} slots start at {slots[0].start.isoformat()} in one window;"
                f" a replace call takes at most {limit}"
            )
        if chunks[-1] and len(chunks[-1]) + len(slots) > limit:
            chunks.append([])
        chunks[-1].extend(slots)
    # Each sub-window runs from its first slot to the next one's first slot; the
    # outer ones stretch to the window's own ends.
    bounds = [window.start, *(chunk[0].start for chunk in chunks[1:]), window.end]
    return [
        replace(window, start=bounds[i], end=bounds[i + 1], slots=tuple(chunk))
        for i, chunk in enumerate(chunks)
    ]
