"""Structured logs: one JSON object per line, with the record's ``extra`` fields.

What goes in is chosen at the call sites, which never pass tokens, secrets or customer
data; the formatter adds nothing of its own beyond the time (UTC, milliseconds), level,
logger, message and, inside a call, the call's request id (bridge.reqid), so every line
a call causes can be found with its call line.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from . import reqid

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

# One encoder for every line: json.dumps with ``default`` builds a new one per call.
_encode = json.JSONEncoder(default=str).encode

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if "request_id" not in entry and (request_id := reqid.current()) is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode(entry)


_second: tuple[int, str] = (-1, "")


def timestamp(created: float) -> str:
    """``2026-11-29T10:45:48.123Z``: UTC, so lines from hosts in any zone sort together."""
    global _second
    # Rounded from whole milliseconds: float seconds would print .123 as .122.
    seconds, millis = divmod(round(created * 1000), 1000)
    if _second[0] != seconds:  # formatted once a second, not once a line
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{millis:03d}Z"


def setup(level: int | str = logging.INFO) -> None:
    # Every record would otherwise ask for the process id (a system call), the thread
    # and the process name, which no line prints.
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    # Nor the caller's file and line (a walk up the stack per record; the logging HOWTO's
    # "Optimization" section names this switch).
    logging._srcfile = None
    if hasattr(logging, "logAsyncioTasks"):  # 3.12+: the task's name, per record
        logging.logAsyncioTasks = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    set_level(level)
    # httpx logs full URLs at INFO; our upstream client logs its own redacted line.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # psycopg's pool logs every connection handed out and returned at INFO (the PostgreSQL store).
    logging.getLogger("psycopg").setLevel(logging.WARNING)


def set_level(level: int | str) -> None:
    """``level``: a logging level or one of LEVELS' names ([server] log_level)."""
    logging.getLogger().setLevel(level.upper() if isinstance(level, str) else level)
