"""A throwaway PostgreSQL cluster for the PostgreSQL configurations: tests/pgcluster.py's.

Started once per run, on a free loopback port (fsync off, as for the tests), a fresh
database per load; removed at the end. When it cannot start, the reason is kept and the
PostgreSQL rows are reported as skipped.
"""

from __future__ import annotations

import pathlib
import subprocess
from typing import Any

from . import procs


class Postgres:
    def __init__(self) -> None:
        self.cluster: Any = None
        self.version = ""

    def start(self) -> str | None:
        """None when running; else why not."""
        import sys

        if str(procs.ROOT) not in sys.path:
            sys.path.append(str(procs.ROOT))
        try:
            from tests import pgcluster
        except ImportError as exc:
            return f"tests/pgcluster.py cannot be imported: {exc}"
        try:
            self.cluster = pgcluster.start()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        try:
            done = subprocess.run([str(self.cluster.bin / "postgres"), "--version"], capture_output=True, text=True)
            self.version = done.stdout.strip()
        except OSError:
            pass
        return None

    def cpu_seconds(self) -> float:
        """CPU of the server and its processes (one backend per pooled connection) so far;
        a backend that ended meanwhile takes its share with it."""
        if self.cluster is None:
            return 0.0
        try:
            postmaster = int((self.cluster.folder / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        total = 0.0
        for entry in pathlib.Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == postmaster or int(entry.name) == postmaster:
                    total += procs.cpu_seconds(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
        return total

    def new_database(self) -> str:
        return self.cluster.new_database()

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
