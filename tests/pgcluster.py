"""A throwaway PostgreSQL cluster for the tests: initdb and pg_ctl from the installed
server (Debian's /usr/lib/postgresql/*/bin, else PATH), on a free loopback port, in a
temporary folder removed at the end.

PostgreSQL refuses to run as root, so under root (CI) the cluster runs as the
``postgres`` OS user (``nobody`` where there is none) through runuser. Nothing is
installed here: .ci/run installs Debian's postgresql; without it the tests that need a
cluster skip, unless BRIDGE_REQUIRE_POSTGRES=1 turns that skip into a failure.
"""

from __future__ import annotations

import glob
import os
import pathlib
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass

USER = "bridge"  # the cluster's superuser; trust authentication on loopback only
TEMPLATE = "bridge_template"  # migrated once; each test's database is a copy


def binaries() -> pathlib.Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return pathlib.Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return pathlib.Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    folder: pathlib.Path
    bin: pathlib.Path
    port: int
    run_as: str | None
    _count: int = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _as_user(self, *command: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *command] if self.run_as else list(command)

    def psql(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as db:
            db.execute(sql)  # type: ignore[arg-type]

    def new_database(self, template: str = "template0") -> str:
        """A fresh database (a copy of ``template``); its URL."""
        self._count += 1
        name = f"t{os.getpid()}_{self._count}"
        self.psql(f"CREATE DATABASE {name} TEMPLATE {template}")
        return self.url(name)

    def stop(self) -> None:
        try:
            subprocess.run(self._as_user(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate",
                                         "-w", "stop"), capture_output=True, timeout=60)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start() -> Cluster:
    """A running cluster; RuntimeError saying why not (FileNotFoundError: not installed)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on PATH); "
                                ".ci/run installs Debian's postgresql")
    run_as = None
    root = os.geteuid() == 0
    # Under root the server's user must reach the folder: /tmp, whatever TMPDIR says.
    folder = pathlib.Path(tempfile.mkdtemp(prefix="bridge-pg-", dir="/tmp" if root else None))
    if root:
        run_as = "postgres" if _user_exists("postgres") else "nobody"
        entry = pwd.getpwnam(run_as)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    os.chmod(folder, 0o700)
    cluster = Cluster(folder, bin_dir, _free_port(), run_as)
    data, log = folder / "data", folder / "server.log"
    try:
        _run(cluster._as_user(str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
                              "--locale=C", "--no-sync"))
        options = (f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {folder} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        _run(cluster._as_user(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
                              "-t", "60", "start"), log)
        cluster.psql(f"CREATE DATABASE {TEMPLATE}")
    except BaseException:
        cluster.stop()
        raise
    _watch(cluster)
    return cluster


def _watch(cluster: Cluster) -> None:
    """Should this process die without its teardown (SIGKILL, a CI timeout), a detached
    shell notices within a second and stops the cluster and removes its folder."""
    stop = " ".join(shlex.quote(part) for part in cluster._as_user(
        str(cluster.bin / "pg_ctl"), "-D", str(cluster.folder / "data"), "-m", "immediate", "stop"))
    script = (f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
              f"{stop} >/dev/null 2>&1; rm -rf {shlex.quote(str(cluster.folder))}")
    subprocess.Popen(["sh", "-c", script], start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _run(command: list[str], log: pathlib.Path | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}{tail}")
