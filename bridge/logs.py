"""Structured logs: one JSON object per line, with the record's ``extra`` fields.

What goes in is chosen at the call sites, which never pass tokens, secrets or customer
data; the formatter adds nothing of its own beyond the time (UTC, milliseconds), level,
logger, message and, inside a call, the call's request id (bridge.reqid), so every line
a call causes can be found with its call line. Lines are written in batches
(BatchingHandler).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import TextIO

from . import reqid

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

# One encoder for every line: json.dumps with ``default`` builds a new one per call.
_encode = json.JSONEncoder(default=str).encode

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        exception = self.formatException(record.exc_info) if record.exc_info else None
        return _line(record.created, record.levelname, record.name, record.getMessage(), extra, exception)


def _line(created: float, level: str, logger: str, message: str, extra: dict[str, object],
          exception: str | None = None) -> str:
    entry: dict[str, object] = {"time": timestamp(created), "level": level, "logger": logger, "message": message}
    entry.update(extra)
    if "request_id" not in entry and (request_id := reqid.current()) is not None:
        entry["request_id"] = request_id
    if exception is not None:
        entry["exception"] = exception
    return _encode(entry)


def emit(logger: logging.Logger, level: int, message: str, extra: dict[str, object]) -> None:
    """What ``logger.log(level, message, extra=extra)`` writes, for a line logged on every
    call. When the line would reach only this module's handler, it is formatted here and
    handed to it: the LogRecord and the walk through logging's handler chain cost more
    than the line itself (about 4 % of a v0 call's CPU). Otherwise (another handler, a
    filter: tests capturing records, say) it goes through ``logger.log``."""
    if not logger.isEnabledFor(level):
        return
    handler = _sole_handler(logger, level)
    if handler is None:
        logger.log(level, message, extra=extra)
        return
    handler.put(level, _line(time.time(), logging.getLevelName(level), logger.name, message, extra))


def _sole_handler(logger: logging.Logger, level: int) -> BatchingHandler | None:
    """The handler ``logger``'s line at ``level`` reaches, if it is one BatchingHandler
    formatting with JsonFormatter and nothing on the way filters."""
    if logger.filters:  # only the logger a line is logged on filters it; its parents do not
        return None
    found = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if (found is not None or type(handler) is not BatchingHandler or handler.filters
                    or type(handler.formatter) is not JsonFormatter):
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found if found is not None and level >= found.level else None


_second: tuple[int, str] = (-1, "")


def timestamp(created: float) -> str:
    """``2026-11-29T10:45:48.123Z``: UTC, so lines from hosts in any zone sort together."""
    global _second
    # Rounded from whole milliseconds: float seconds would print .123 as .122.
    seconds, millis = divmod(round(created * 1000), 1000)
    if _second[0] != seconds:  # formatted once a second, not once a line
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{millis:03d}Z"


# An info line waits at most this long to be written with the others, and at most this
# many wait.
WRITE_EVERY = 0.05
MAX_WAITING = 1000


class BatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes the lines logged on an event loop together, every WRITE_EVERY seconds. A
    write per line gave the GIL to the SQLite writer and gRPC's threads at every line:
    about 5 % of a v0 call's CPU. A line at WARNING or above, or logged outside a running
    loop, is written at once, after any still waiting, so the order holds and no warning
    waits. Lines waiting when a loop ends are written by the next line or by ``flush``
    (logging.shutdown, at exit); a process killed outright loses the last WRITE_EVERY
    seconds of info lines."""

    def __init__(self, stream: TextIO):
        super().__init__(stream)
        self._waiting: list[str] = []
        self._drain_on: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._take(record.levelno, self.format(record))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def put(self, level: int, line: str) -> None:
        """A line formatted by :func:`emit`, logged at ``level``."""
        with self.lock:  # type: ignore[union-attr]
            try:
                self._take(level, line)
            except Exception:
                self.handleError(_FIELDS)

    def _take(self, level: int, line: str) -> None:
        line += self.terminator
        loop = _running_loop() if level < logging.WARNING else None
        if loop is None or len(self._waiting) >= MAX_WAITING:
            self._write(line)
            return
        self._waiting.append(line)
        if self._drain_on is not loop:
            self._drain_on = loop
            loop.call_later(WRITE_EVERY, self._drain)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._waiting:
                self._write("")
            super().flush()

    def _drain(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._drain_on = None
            try:
                self._write("")
            except Exception:
                self.handleError(_WAITING)

    def _write(self, line: str) -> None:
        text = "".join(self._waiting) + line if self._waiting else line
        self._waiting = []
        self.stream.write(text)
        self.stream.flush()


# What handleError names when the waiting lines, or a line from emit(), could not be written.
_WAITING = logging.makeLogRecord({"msg": "log lines waiting to be written together"})
_FIELDS = logging.makeLogRecord({"msg": "a line logged with bridge.logs.emit"})


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def setup(level: int | str = logging.INFO) -> None:
    # Every record would otherwise ask for the process id (a system call), the thread
    # and the process name, which no line prints.
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    # Nor the caller's file and line (a walk up the stack per record; the logging HOWTO's
    # "Optimization" section names this switch).
    logging._srcfile = None
    if hasattr(logging, "logAsyncioTasks"):  # 3.12+: the task's name, per record
        logging.logAsyncioTasks = False
    handler = BatchingHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for replaced in root.handlers:
        replaced.flush()  # a BatchingHandler's waiting lines
    root.handlers[:] = [handler]
    set_level(level)
    # httpx logs full URLs at INFO; our upstream client logs its own redacted line.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # psycopg's pool logs every connection handed out and returned at INFO (the PostgreSQL store).
    logging.getLogger("psycopg").setLevel(logging.WARNING)


def set_level(level: int | str) -> None:
    """``level``: a logging level or one of LEVELS' names ([server] log_level)."""
    logging.getLogger().setLevel(level.upper() if isinstance(level, str) else level)
