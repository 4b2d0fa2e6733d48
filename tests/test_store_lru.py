"""The bound on the store's memory of recent records: what is dropped first is what was
least recently set or read, so a flow's own records, read back within seconds, stay."""

from __future__ import annotations

import pytest

from bridge.store._lru import Lru


def test_the_entry_least_recently_set_or_read_is_dropped_first() -> None:
    lru: Lru[str, int] = Lru(3)
    for n, key in enumerate("abc"):
        lru[key] = n
    assert lru.get("a") == 0  # read: now the most recent
    lru["b"] = 10  # set again: more recent than "a"
    lru["d"] = 3
    assert (lru.get("c"), len(lru)) == (None, 3)
    lru["e"] = 4
    assert (lru.get("a"), lru.get("b"), lru.get("d"), lru.get("e")) == (None, 10, 3, 4)


def test_entries_are_deleted_and_cleared() -> None:
    lru: Lru[str, int] = Lru(2)
    lru["a"], lru["b"] = 1, 2
    del lru["a"]
    assert (lru.get("a"), len(lru)) == (None, 1)
    with pytest.raises(KeyError):
        del lru["a"]
    lru.clear()
    assert len(lru) == 0 and lru.get("b") is None
    with pytest.raises(ValueError):
        Lru(0)
