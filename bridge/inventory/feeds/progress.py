"""Export progress: a bar redrawn in place on a terminal, a plain line per tenth elsewhere
(a cron mail or a journal gets ten lines, not thousands)."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    def __init__(self, total: int, what: str, stream: TextIO | None = None):
        self._total = max(1, total)
        self._what = what
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._done = 0
        self._said = -1

    def step(self) -> None:
        self._done += 1
        tenth = self._done * 10 // self._total
        if self._tty:
            filled = self._done * 30 // self._total
            self._stream.write(f"\r{self._what} [{'#' * filled}{' ' * (30 - filled)}] {self._done}/{self._total}")
            if self._done >= self._total:
                self._stream.write("\n")
            self._stream.flush()
        elif tenth > self._said:
            self._said = tenth
            self._stream.write(f"{self._what}: {self._done}/{self._total} ({tenth * 10} %)\n")
            self._stream.flush()
