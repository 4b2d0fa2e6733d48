"""What would stop ``serve`` from starting, found before it tries: the listening addresses,
the TLS files and the store. ``check`` reports the same lines, so an operator finds them
before a deployment does.

Each finding is one line naming the configuration key. ``serve`` exits with
:data:`exitcodes.LISTEN` when only addresses are the trouble (they may come free: a
previous instance still stopping), with :data:`exitcodes.CONFIG` otherwise.
"""

from __future__ import annotations

import errno
import os
import pathlib
import socket
import sqlite3
import tempfile
from dataclasses import dataclass

from typing import TYPE_CHECKING

from . import tls as tls_mod
from .config import Config, ConfigError, ServerConfig, check_environment
from .exitcodes import CONFIG, LISTEN, StartupFailure

if TYPE_CHECKING:
    from .app import Bridge

_WILDCARDS = {"", "0.0.0.0", "::", "[::]", "*"}


@dataclass(frozen=True)
class Findings:
    listen: list[str]
    other: list[str]

    def __bool__(self) -> bool:
        return bool(self.listen or self.other)

    @property
    def lines(self) -> list[str]:
        return [*self.other, *self.listen]


def open_bridge(config: Config) -> Bridge:
    """The bridge for ``serve``, once nothing found stands in its way: ConfigError for the
    environment, StartupFailure (with its exit code) for the rest."""
    from .app import Bridge
    from .server import resolved_server_config

    problems = check_environment(config)
    if problems:
        raise ConfigError(problems)
    findings = preflight(config, resolved_server_config(config))
    if findings:
        raise StartupFailure(*findings.lines, code=CONFIG if findings.other else LISTEN)
    from .store import NeedsMigration

    try:
        return Bridge.open(config)
    except sqlite3.Error as exc:  # the store changed since it was looked at
        raise StartupFailure(f"[store] path: {exc}") from None
    except NeedsMigration as exc:  # likewise: migrated back by another release meanwhile
        raise StartupFailure(f"[store]: {exc}") from None


def preflight(config: Config, server: ServerConfig, *, listen: bool = True) -> Findings:
    """``server`` is ``config.server`` with the TLS paths resolved against the file. TLS files
    that do not exist are left to check_environment, which says so."""
    from .store import UNREACHABLE

    tls = server.tls
    present = tls is None or all(pathlib.Path(p).is_file() for p in (tls.cert_file, tls.key_file, tls.client_ca_file) if p)
    store = store_problems(config)
    # A database that does not answer may come back, as an address in use may come free:
    # it goes with them (exit 3, worth a restart), not with what needs fixing (exit 2).
    waiting = [line for line in store if line.startswith(UNREACHABLE)]
    other = [*same_address(server), *(tls_mod.problems(tls) if present else []),
             *(line for line in store if line not in waiting)]
    return Findings(listen=[*waiting, *(listen_problems(server) if listen else [])], other=other)


# Every address the process listens on: the two fronts and the metrics endpoint.
LISTEN_KEYS = ("grpc_listen", "rest_listen", "metrics_listen")


def _addresses(server: ServerConfig) -> list[tuple[str, str]]:
    return [(key, getattr(server, key, "")) for key in LISTEN_KEYS if getattr(server, key, "")]


def same_address(server: ServerConfig) -> list[str]:
    """No two listeners on one port: one of them would not get it."""
    found = []
    addresses = _addresses(server)
    for i, (key, address) in enumerate(addresses):
        for other_key, other in addresses[i + 1:]:
            host, _, port = address.rpartition(":")
            other_host, _, other_port = other.rpartition(":")
            overlapping = host == other_host or host in _WILDCARDS or other_host in _WILDCARDS
            if port == other_port and port != "0" and overlapping:
                found.append(f"[server] {key}, {other_key}: both on port {port}; give each its own")
    return found


def listen_problems(server: ServerConfig) -> list[str]:
    """Bind each address the way the servers will, then let it go again."""
    found = []
    for key, address in _addresses(server):
        problem = bind_problem(address)
        if problem:
            found.append(f"[server] {key}: {problem}")
    return found


def bind_problem(address: str) -> str | None:
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(None if host in _WILDCARDS else host, int(port),
                                   type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {address}: {exc.strerror}"
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As the servers bind: TIME_WAIT leftovers do not count as in use, a listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
            probe.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{address} is in use by another process (another booking-bridge?)"
            return f"cannot listen on {address}: {exc.strerror}"
    return None


def store_problems(config: Config) -> list[str]:
    """The store must be a SQLite database (or not exist yet) in a folder this process can
    write: SQLite writes its WAL and shared-memory files beside the database. PostgreSQL's
    must answer. Either must be at this release's schema version (a new SQLite file is
    created at it): else one line naming ``booking-bridge store migrate``."""
    from .store import version_problem

    if config.store.url:
        problem = version_problem(config)
        return [problem] if problem else []
    path = config.resolve(config.store.path)
    folder = path.parent
    if not folder.is_dir():
        return []  # check_environment says so
    if path.is_dir():
        return [f"[store] path: {path} is a folder, not a database file"]
    problem = _not_writable(folder, path)
    if problem:
        return [f"[store] path: {problem}"]
    if path.exists():
        problem = _not_sqlite(path)
        if problem:
            return [f"[store] path: {path}: {problem}"]
        problem = version_problem(config)
        if problem:
            return [problem]
    return []


def _not_writable(folder: pathlib.Path, path: pathlib.Path) -> str | None:
    # Tried, not judged from mode bits: root, read-only mounts and ACLs all answer here.
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".booking-bridge-probe-"):
            pass
    except OSError as exc:
        return f"folder {folder} is not writable: {exc.strerror}"
    # The WAL and shared-memory files too: left behind by a process of another user (a backup
    # run as root), they lock the bridge out of its own store.
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            try:
                fd = os.open(file, os.O_WRONLY | os.O_APPEND)
            except OSError as exc:
                return f"{file} is not writable: {exc.strerror}"
            os.close(fd)
    return None


def _not_sqlite(path: pathlib.Path) -> str | None:
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return f"cannot be opened: {exc}"
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        return f"not a SQLite database ({exc})"
    finally:
        db.close()
    return None
