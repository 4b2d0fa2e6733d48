"""`feeds upload`: a feed set into Google's SFTP dropboxes, one dropbox (username) per kind.

Google starts processing a file as soon as it appears under its name, so each file is
written under a temporary name and renamed only once the server has acknowledged all of
it: a dropped connection leaves at most a temporary file, never half a feed. The server's
host key must match the known_hosts file; there is no trust on first use.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import asyncssh

from ...config import Config, FeedsConfig

KINDS = ("merchants", "services", "availability")
_FEED_FILE = re.compile(r"(merchants|services|availability)_[^/]+\.json(\.gz)?")

ATTEMPTS = 3
# Waits before the second and third attempt at a file.
RETRY_DELAYS = (2.0, 8.0)
# Connecting and logging in, so a server that never answers is an attempt that failed.
_CONNECT_TIMEOUT = 30.0
# An upload whose connection went silent fails after about a minute instead of hanging.
_KEEPALIVE_INTERVAL = 20.0
_GOODBYE_TIMEOUT = 5.0


class UploadError(Exception):
    """One line saying what stopped the upload."""


async def upload(
    config: Config,
    directory: pathlib.Path,
    *,
    environ: Mapping[str, str] = os.environ,
    say: Callable[[str], None] = print,
    retry_delays: Sequence[float] = RETRY_DELAYS,
) -> list[str]:
    """Upload every feed file in ``directory``; returns their remote names, in upload order.

    Merchants go first, then services, then availability, so that Google never holds
    services for merchants it has not been sent. Everything that can be checked without
    the network is checked before the first connection.
    """
    feeds = config.feeds
    files = _feed_files(directory)
    usernames = _usernames(feeds, files)
    key = _private_key(feeds, environ)
    known_hosts = _known_hosts(config)
    uploaded: list[str] = []
    for kind, paths in files.items():
        dropbox = _Dropbox(feeds, usernames[kind], key, known_hosts)
        try:
            for path in paths:
                await _upload_file(dropbox, kind, path, say, retry_delays)
                uploaded.append(path.name)
        finally:
            await dropbox.close()
    return uploaded


def _feed_files(directory: pathlib.Path) -> dict[str, list[pathlib.Path]]:
    if not directory.is_dir():
        raise UploadError(f"{directory}: no such folder")
    found: dict[str, list[pathlib.Path]] = {kind: [] for kind in KINDS}
    # Only the folder's own files: the export stages its work in a hidden subfolder.
    for path in sorted(directory.iterdir()):
        if path.is_file() and _FEED_FILE.fullmatch(path.name):
            found[path.name.split("_", 1)[0]].append(path)
    files = {kind: paths for kind, paths in found.items() if paths}
    if not files:
        raise UploadError(f"{directory}: no feed files (merchants_*, services_*, availability_*.json[.gz]) to upload")
    return files


def _usernames(feeds: FeedsConfig, files: Mapping[str, list[pathlib.Path]]) -> dict[str, str]:
    usernames = {kind: getattr(feeds, f"{kind}_username") for kind in files}
    if missing := [kind for kind, username in usernames.items() if not username]:
        keys = ", ".join(f"{kind}_username" for kind in missing)
        raise UploadError(f"[feeds] {keys}: empty, but the feed set has {', '.join(missing)} files to upload")
    return usernames


def _private_key(feeds: FeedsConfig, environ: Mapping[str, str]) -> asyncssh.SSHKey:
    # Errors name the variable and the file, never what is in it.
    name = feeds.private_key_env
    path = environ.get(name, "")
    if not path:
        raise UploadError(f"[feeds] private_key_env: {name} is not set (it names the SSH private key file)")
    try:
        return asyncssh.read_private_key(path)
    except OSError as exc:
        raise UploadError(f"[feeds] private_key_env: {name} names {path}, which cannot be read: {exc.strerror}") from None
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise UploadError(f"[feeds] private_key_env: {name} names {path}, which is not a usable SSH private key "
                          f"({exc})") from None


def _known_hosts(config: Config) -> _KnownHosts:
    feeds = config.feeds
    path = config.resolve(feeds.known_hosts_file)
    try:
        hosts = asyncssh.read_known_hosts(str(path))
    except OSError as exc:
        raise UploadError(f"[feeds] known_hosts_file: {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UploadError(f"[feeds] known_hosts_file: {path}: not in known_hosts format ({exc})") from None
    host_keys, ca_keys, *_ = hosts.match(feeds.sftp_host, "", feeds.sftp_port)
    if not host_keys and not ca_keys:
        raise UploadError(f"[feeds] known_hosts_file: {path} has no key for {feeds.sftp_host} "
                          f"(as [{feeds.sftp_host}]:{feeds.sftp_port} or {feeds.sftp_host})")
    return _KnownHosts(path, hosts)


@dataclass(frozen=True)
class _KnownHosts:
    path: pathlib.Path
    hosts: asyncssh.SSHKnownHosts


class _Dropped(Exception):
    """The connection failed or was lost: the file in flight can start again on a new one."""


class _Dropbox:
    """One username's SFTP session, opened when first needed and again after a drop."""

    def __init__(self, feeds: FeedsConfig, username: str, key: asyncssh.SSHKey, known_hosts: _KnownHosts):
        self._feeds = feeds
        self.username = username
        self._key = key
        self._known_hosts = known_hosts
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None

    async def sftp(self) -> asyncssh.SFTPClient:
        if self._sftp is None:
            await self._connect()
        assert self._sftp is not None
        return self._sftp

    async def _connect(self) -> None:
        host, port = self._feeds.sftp_host, self._feeds.sftp_port
        try:
            self._conn = await asyncssh.connect(
                host, port, username=self.username, client_keys=[self._key],
                known_hosts=self._known_hosts.hosts,
                # Nothing from this machine's ~/.ssh or agent: only what [feeds] says.
                config=[], agent_path=None, x509_trusted_certs=None, preferred_auth="publickey",
                connect_timeout=_CONNECT_TIMEOUT, keepalive_interval=_KEEPALIVE_INTERVAL, keepalive_count_max=3,
            )
            self._sftp = await self._conn.start_sftp_client()
        except asyncssh.HostKeyNotVerifiable as exc:
            self.abort()
            raise UploadError(f"[feeds] sftp_host {host}:{port}: the server's host key does not match "
                              f"{self._known_hosts.path} ({exc.reason}); not connecting") from None
        except asyncssh.PermissionDenied:
            self.abort()
            raise UploadError(f"[feeds] {host}:{port} refused the key named by {self._feeds.private_key_env} "
                              f"for dropbox {self.username!r}") from None
        except (OSError, asyncssh.Error, asyncio.TimeoutError) as exc:
            self.abort()
            raise _Dropped(f"cannot connect to {host}:{port} ({_reason(exc)})") from None

    async def discard(self, name: str) -> None:
        """Remove ``name`` if the session still stands; an error here must not hide the first."""
        if self._sftp is not None:
            try:
                await self._sftp.remove(name)
            except (OSError, asyncssh.Error):
                pass

    def abort(self) -> None:
        if self._conn is not None:
            self._conn.abort()
        self._conn = self._sftp = None

    async def close(self) -> None:
        """Say goodbye; a server that does not answer in a few seconds is cut off."""
        conn, self._conn, self._sftp = self._conn, None, None
        if conn is not None:
            conn.close()
            try:
                await asyncio.wait_for(conn.wait_closed(), _GOODBYE_TIMEOUT)
            except asyncio.TimeoutError:
                conn.abort()


async def _upload_file(dropbox: _Dropbox, kind: str, path: pathlib.Path, say: Callable[[str], None],
                       retry_delays: Sequence[float]) -> None:
    name = path.name
    size = path.stat().st_size
    # A fresh temporary name per attempt: a dropped attempt's writes can never land in
    # the file the next attempt is writing.
    temporary = [f".{name}.{attempt}.part" for attempt in range(1, ATTEMPTS + 1)]
    for attempt in range(1, ATTEMPTS + 1):
        try:
            sftp = await dropbox.sftp()
            # The rename may have happened with only its answer lost.
            if attempt > 1 and await _has(sftp, name, size):
                break
            await _remove(sftp, temporary)  # earlier attempts', or an earlier run's
            await _put(sftp, path, temporary[attempt - 1], name)
            break
        except _Dropped as exc:
            reason = str(exc)
        except (asyncssh.SFTPConnectionLost, asyncssh.DisconnectError) as exc:
            reason = f"connection dropped ({_reason(exc)})"
        except OSError as exc:
            # Rarely the network, mostly the local file: either way another try is cheap.
            reason = _reason(exc)
        except asyncssh.SFTPError as exc:
            # The server refused (permissions, quota): trying again would meet the same answer.
            await dropbox.discard(temporary[attempt - 1])
            raise UploadError(f"{kind} {name}: {dropbox.username!r} refused it: {_reason(exc)}") from None
        dropbox.abort()
        if attempt == ATTEMPTS:
            raise UploadError(f"{kind} {name}: not uploaded after {ATTEMPTS} attempts; the last: {reason}")
        delay = retry_delays[min(attempt, len(retry_delays)) - 1] if retry_delays else 0.0
        say(f"{kind} {name}: {reason}; trying again in {delay:g} s (attempt {attempt + 1} of {ATTEMPTS})")
        await asyncio.sleep(delay)
    say(f"uploaded {kind} {name} ({size} bytes)")


async def _put(sftp: asyncssh.SFTPClient, path: pathlib.Path, temporary: str, name: str) -> None:
    await sftp.put(str(path), temporary)
    try:
        await sftp.posix_rename(temporary, name)
    except asyncssh.SFTPOpUnsupported:
        # Plain SFTP rename refuses an existing target; names are unique by timestamp.
        await sftp.rename(temporary, name)


async def _has(sftp: asyncssh.SFTPClient, name: str, size: int) -> bool:
    try:
        return (await sftp.stat(name)).size == size
    except asyncssh.SFTPConnectionLost:
        raise
    except asyncssh.SFTPError:
        return False


async def _remove(sftp: asyncssh.SFTPClient, names: Sequence[str]) -> None:
    # Best effort: usually there is nothing to remove, and a dropbox may forbid it. All
    # at once, so that it costs one round trip, not one per name.
    results = await asyncio.gather(*(sftp.remove(name) for name in names), return_exceptions=True)
    for error in (result for result in results if isinstance(result, BaseException)):
        if isinstance(error, asyncssh.SFTPConnectionLost) or not isinstance(error, asyncssh.SFTPError):
            raise error


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.DisconnectError | asyncssh.SFTPError):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
