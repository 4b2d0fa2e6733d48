"""Friendly ids from names: what Actions Center will know a merchant, service or staff
member by. Lower-case ASCII words joined by hyphens, unique within their table."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable


def slug(name: str, fallback: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words) or fallback


class Ids:
    """Hands out unique ids; ``taken`` are ids already used elsewhere (other files)."""

    def __init__(self, taken: Iterable[str] = ()):
        self._used = set(taken)

    def take(self, name: str, fallback: str) -> str:
        base = slug(name, fallback)
        candidate, n = base, 2
        while candidate in self._used:
            candidate, n = f"{base}-{n}", n + 1
        self._used.add(candidate)
        return candidate
