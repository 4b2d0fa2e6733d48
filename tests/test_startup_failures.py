"""What keeps `booking-bridge serve` from starting is one `error:` line and a documented exit
code, never a traceback; `booking-bridge check` finds each of them first.

Every case runs the real console entry point as a child process (bounded by a timeout, after
which subprocess.run kills and reaps it) on a configuration that `check` accepts until the
one fault is put in."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from bridge import exitcodes

from .harness import ENV
from .pki import Authority

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Setup:
    folder: pathlib.Path
    grpc: str
    rest: str
    metrics: str
    tls: dict[str, str] | None = None
    store: str = "bridge.sqlite3"
    # [store] url instead of path: PostgreSQL.
    url: str = ""

    def write(self) -> pathlib.Path:
        config = self.folder / "bridge.toml"
        tls = "".join(f'{key} = "{value}"\n' for key, value in (self.tls or {}).items())
        config.write_text(
            f'[server]\ngrpc_listen = "{self.grpc}"\nrest_listen = "{self.rest}"\nmetrics_listen = "{self.metrics}"\n'
            '[server.rest_auth]\nusername = "google"\npassword_env = "BRIDGE_REST_PASSWORD"\n'
            + (f"[server.tls]\n{tls}" if tls else "")
            + '[upstream]\nbase_url = "http://127.0.0.1:9/external/v1"\ntoken_url = "http://127.0.0.1:9/oauth2/token"\n'
            'account = "demo"\ntenant_id = "t-1"\n'
            + (f'[store]\nurl = "{self.url}"\n' if self.url else f'[store]\npath = "{self.store}"\n')
        )
        return config


@dataclasses.dataclass(frozen=True)
class Run:
    code: int
    errors: list[str]
    output: str


def run(command: str, config: pathlib.Path, *extra: str) -> Run:
    result = subprocess.run([sys.executable, "-m", "bridge", command, "--config", str(config), *extra],
                            env={**os.environ, **ENV}, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    return Run(result.returncode, [line for line in output.splitlines() if line.startswith("error:")], output)


@pytest.fixture
def setup(tmp_path: pathlib.Path) -> Setup:
    return Setup(tmp_path, grpc=f"127.0.0.1:{free_port()}", rest=f"127.0.0.1:{free_port()}",
                 metrics=f"127.0.0.1:{free_port()}")


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("pki"), "start-up CA")


@contextlib.contextmanager
def read_only(path: pathlib.Path) -> Iterator[None]:
    """No writing into ``path`` for this process. Root ignores permission bits, so as root
    the file or folder is made immutable (chattr +i), which binds root too."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is not available: nothing is read-only to root")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@contextlib.contextmanager
def listening(address: str) -> Iterator[None]:
    """Another process's listener on ``address``, as plainly as most servers bind."""
    host, _, port = address.rpartition(":")
    with socket.socket() as holder:
        holder.bind((host, int(port)))
        holder.listen()
        yield


def assert_one_error(result: Run, code: int, *needles: str) -> None:
    assert result.code == code, result.output
    assert "Traceback" not in result.output
    assert len(result.errors) == 1, result.output
    for needle in needles:
        assert needle in result.errors[0], result.output


def assert_refused(config: pathlib.Path, serve_code: int, *needles: str) -> None:
    """check finds it (exit 1) and serve stops on it with ``serve_code``, one line each."""
    assert_one_error(run("check", config), exitcodes.PROBLEMS, *needles)
    assert_one_error(run("serve", config), serve_code, *needles)


def test_the_configuration_these_cases_start_from_is_accepted(setup: Setup, authority: Authority) -> None:
    server = authority.server("server")
    setup.tls = {"cert_file": str(server.cert), "key_file": str(server.key), "client_ca_file": str(authority.roots)}
    result = run("check", setup.write())
    assert result.code == exitcodes.OK, result.output
    assert result.errors == []


@pytest.mark.parametrize("key", ["grpc_listen", "rest_listen", "metrics_listen"])
def test_an_address_in_use(setup: Setup, key: str) -> None:
    config = setup.write()
    with listening({"grpc_listen": setup.grpc, "rest_listen": setup.rest, "metrics_listen": setup.metrics}[key]):
        assert_refused(config, exitcodes.LISTEN, f"[server] {key}", "in use")


def test_check_skip_listen_leaves_the_addresses_to_the_running_bridge(setup: Setup) -> None:
    # Checking a changed configuration before a SIGHUP: the bridge holds its own addresses.
    config = setup.write()
    with listening(setup.grpc):
        result = run("check", config, "--skip-listen")
    assert result.code == exitcodes.OK, result.output


def test_both_fronts_on_one_address(setup: Setup) -> None:
    setup.rest = setup.grpc
    assert_refused(setup.write(), exitcodes.CONFIG, "grpc_listen, rest_listen")


def test_metrics_on_a_front_s_port_even_on_another_interface(setup: Setup) -> None:
    setup.metrics = "0.0.0.0:" + setup.rest.rpartition(":")[2]
    assert_refused(setup.write(), exitcodes.CONFIG, "rest_listen, metrics_listen")


TlsFault = Callable[[Authority, pathlib.Path], dict[str, str]]


def _mismatched(ca: Authority, folder: pathlib.Path) -> dict[str, str]:
    one, other = ca.server("one"), ca.server("other")
    return {"cert_file": str(one.cert), "key_file": str(other.key)}


def _cert_not_pem(ca: Authority, folder: pathlib.Path) -> dict[str, str]:
    server = ca.server("server")
    (folder / "cert.txt").write_text("this is not a certificate\n")
    return {"cert_file": str(folder / "cert.txt"), "key_file": str(server.key)}


def _key_not_pem(ca: Authority, folder: pathlib.Path) -> dict[str, str]:
    server = ca.server("server")
    return {"cert_file": str(server.cert), "key_file": str(server.cert)}


def _expired(ca: Authority, folder: pathlib.Path) -> dict[str, str]:
    server = ca.server("expired", expired=True)
    return {"cert_file": str(server.cert), "key_file": str(server.key)}


def _ca_not_pem(ca: Authority, folder: pathlib.Path) -> dict[str, str]:
    server = ca.server("server")
    (folder / "roots.pem").write_bytes(b"\x00\x01 binary")
    return {"cert_file": str(server.cert), "key_file": str(server.key), "client_ca_file": str(folder / "roots.pem")}


@pytest.mark.parametrize("fault, key", [
    (_mismatched, "key_file"),
    (_cert_not_pem, "cert_file"),
    (_key_not_pem, "key_file"),
    (_ca_not_pem, "client_ca_file"),
    (_expired, "cert_file"),
])
def test_tls_files_that_do_not_load(setup: Setup, authority: Authority, fault: TlsFault, key: str) -> None:
    setup.tls = fault(authority, setup.folder)
    assert_refused(setup.write(), exitcodes.CONFIG, f"[server.tls] {key}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its mode")
def test_an_unreadable_client_ca_file(setup: Setup, authority: Authority) -> None:
    server = authority.server("server")
    roots = setup.folder / "roots.pem"
    roots.write_bytes(authority.roots.read_bytes())
    roots.chmod(0)
    setup.tls = {"cert_file": str(server.cert), "key_file": str(server.key), "client_ca_file": str(roots)}
    assert_refused(setup.write(), exitcodes.CONFIG, "[server.tls] client_ca_file", "Permission denied")


def test_a_store_that_is_not_a_database(setup: Setup) -> None:
    (setup.folder / "bridge.sqlite3").write_text("a text file where the store should be\n" * 100)
    assert_refused(setup.write(), exitcodes.CONFIG, "[store] path", "not a SQLite database")


def test_a_store_folder_that_is_not_writable(setup: Setup) -> None:
    (setup.folder / "store").mkdir()
    setup.store = "store/bridge.sqlite3"
    config = setup.write()
    with read_only(setup.folder / "store"):
        assert_refused(config, exitcodes.CONFIG, "[store] path", "not writable")


# The shared-memory file as another user's process (a backup run as root) may leave it.
@pytest.mark.parametrize("name", ["bridge.sqlite3", "bridge.sqlite3-shm"])
def test_a_store_file_that_is_not_writable(setup: Setup, name: str) -> None:
    import sqlite3

    sqlite3.connect(setup.folder / "bridge.sqlite3").close()
    (setup.folder / name).touch()
    config = setup.write()
    with read_only(setup.folder / name):
        assert_refused(config, exitcodes.CONFIG, "[store] path", name, "not writable")


# -- schema versions: serve refuses a store to migrate, naming the command ----------------


def migrate(config: pathlib.Path) -> Run:
    result = subprocess.run([sys.executable, "-m", "bridge", "store", "migrate", "--config", str(config)],
                            env={**os.environ, **ENV}, capture_output=True, text=True, timeout=60)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return Run(result.returncode, errors, result.stdout)  # stderr may log the file's tightening


def test_a_first_release_sqlite_store_is_migrated_not_rejected(setup: Setup) -> None:
    from .test_store import first_release_store

    first_release_store(setup.folder / "bridge.sqlite3")
    config = setup.write()
    assert_refused(config, exitcodes.CONFIG, "[store]", "predates schema versions",
                   f"run `booking-bridge store migrate --config {config}`")
    done = migrate(config)
    assert (done.code, done.output) == (exitcodes.OK, "store: migrated from schema version 0 to 1\n")
    assert migrate(config).output == "store: already at schema version 1\n"
    assert run("check", config).code == exitcodes.OK


def test_migrate_creates_a_new_sqlite_store(setup: Setup) -> None:
    done = migrate(setup.write())
    assert (done.code, done.output) == (exitcodes.OK, "store: created at schema version 1\n")


def test_a_postgres_database_is_created_by_migrate_and_serve_refuses_it_before(setup: Setup, postgres: object) -> None:
    setup.url = postgres.new_database()  # type: ignore[attr-defined]
    config = setup.write()
    assert_refused(config, exitcodes.CONFIG, "[store]", "the database", "predates schema versions",
                   "booking-bridge store migrate --config")
    done = migrate(config)
    assert (done.code, done.output) == (exitcodes.OK, "store: migrated from schema version 0 to 1\n")
    assert run("check", config).code == exitcodes.OK
    listed = subprocess.run([sys.executable, "-m", "bridge", "bookings", "list", "--config", str(config)],
                            env={**os.environ, **ENV}, capture_output=True, text=True, timeout=60)
    assert (listed.returncode, listed.stderr) == (exitcodes.OK, "")

    # serve starts on it, answers, and stops cleanly on SIGTERM.
    import signal
    import time

    child = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "--config", str(config)],
                             env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        host, _, port = setup.grpc.rpartition(":")
        deadline = time.monotonic() + 30
        while True:
            assert child.poll() is None, child.communicate()
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not listen within 30 s"
                time.sleep(0.05)
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=30)
        assert child.returncode == exitcodes.OK and "Traceback" not in err, err
        assert "psycopg" not in err, err  # no line per pooled connection
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_postgres_url_with_a_password_or_no_server(setup: Setup) -> None:
    setup.url = "postgresql://bridge:secret@127.0.0.1:5/bridge"
    result = run("check", setup.write())
    assert result.code == exitcodes.PROBLEMS and "secret" not in result.output
    assert any("[store] url: holds a password" in line and "PGPASSWORD" in line for line in result.errors)
    setup.url = f"postgresql://bridge@127.0.0.1:{free_port()}/bridge"
    # It may come back, as an address in use may come free: exit 3, worth a restart.
    assert_refused(setup.write(), exitcodes.LISTEN, "[store] url: cannot connect")


def test_a_postgres_database_that_is_not_there_is_a_configuration_error(setup: Setup, postgres: object) -> None:
    setup.url = postgres.url("no_such_database")  # type: ignore[attr-defined]
    assert_refused(setup.write(), exitcodes.CONFIG, "[store] url: refused", "does not exist")
