"""The bench's child processes: how they are started, found ready, measured and ended.

Every child is started here and ended here, by its own pid, also when the run fails.
CPU time and peak memory are read from /proc (Linux), so a child is measured from the
outside, threads included, without its cooperation.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the bench dies, however it dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def python(module: str, *args: str) -> list[str]:
    """``python -m module args``, finding bench/ even under PYTHONSAFEPATH. The checkout is
    appended to sys.path, not put first, so an installed bridge still wins over ./bridge."""
    boot = (f"import runpy, sys; sys.path.append({str(ROOT)!r}); "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", boot, *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime: fields 14 and 15


def _status_mib(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB
    return float("nan")


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had."""
    return _status_mib(pid, "VmHWM")


def rss_mib(pid: int) -> float:
    """VmRSS: the resident memory the process has now."""
    return _status_mib(pid, "VmRSS")


class Child:
    """One child process; its stderr (and stdout unless it announces itself) go to ``log``."""

    def __init__(self, name: str, argv: list[str], log: pathlib.Path, env: dict[str, str] | None = None,
                 announces: bool = False, cwd: pathlib.Path | None = None):
        self.name, self.log = name, log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                argv, env={**os.environ, **(env or {})}, cwd=cwd,
                # A child that announces itself writes one JSON line to stdout; the pipe on
                # stdin lets helpers notice that the bench died (they end at EOF).
                stdin=subprocess.PIPE, stdout=subprocess.PIPE if announces else out, stderr=out,
                preexec_fn=_die_with_parent,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    async def announcement(self, timeout: float = 30.0) -> dict[str, Any]:
        """The JSON line the child prints once it serves."""
        assert self.process.stdout is not None
        loop = asyncio.get_running_loop()
        try:
            line = await asyncio.wait_for(loop.run_in_executor(None, self.process.stdout.readline), timeout)
        except TimeoutError:
            raise RuntimeError(f"{self.name} did not start within {timeout:.0f} s; see {self.log}") from None
        if not line:
            raise RuntimeError(f"{self.name} exited ({self.process.wait()}) before serving; see {self.log}: "
                               f"{self.tail()}")
        return json.loads(line)

    def tail(self, chars: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it has not ended within ``timeout``; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        code = self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()
        return code


async def until_stopped() -> None:
    """In a helper child: until SIGTERM or SIGINT, or until stdin closes (the bench died).
    Read from the event loop, not a thread: a thread blocked on stdin aborts the exit."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()

    loop.add_reader(fd, readable)
    await stop.wait()


async def wait_for_port(port: int, child: Child, timeout: float = 30.0) -> None:
    """Until something accepts connections on loopback ``port`` (or the child died)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited ({child.process.returncode}): {child.tail()}") from None
            if loop.time() > deadline:
                raise RuntimeError(f"{child.name}: nothing listens on {port} after {timeout:.0f} s") from None
            await asyncio.sleep(0.05)


def run(name: str, argv: list[str], log: pathlib.Path, env: dict[str, str] | None = None,
        timeout: float = 120.0) -> None:
    """A command that must finish and succeed (``store migrate``)."""
    with open(log, "ab") as out:
        done = subprocess.run(argv, env={**os.environ, **(env or {})}, stdout=out, stderr=out, timeout=timeout)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{name} exited {done.returncode}: {tail}")
