"""A bounded map that drops the entry least recently set or read.

What the store's memory of recent records (_recent) needs and no more. cachetools'
LRUCache did the same with its bookkeeping in Python, on every set: five of them are set
on each write, about 1 % of a v3 CreateBooking's CPU. OrderedDict keeps the order in C.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    __slots__ = ("_data", "_size")

    def __init__(self, size: int):
        if size < 1:
            raise ValueError("an Lru holds at least one entry")
        self._data: OrderedDict[K, V] = OrderedDict()
        self._size = size

    def get(self, key: K) -> V | None:
        """The value (never None: the store keeps none), now the most recent; None if not held."""
        data = self._data
        value = data.get(key)
        if value is not None:
            data.move_to_end(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        data[key] = value
        data.move_to_end(key)
        if len(data) > self._size:
            data.popitem(last=False)

    def __delitem__(self, key: K) -> None:
        del self._data[key]

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()
