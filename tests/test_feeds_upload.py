"""feeds upload against a real SFTP server on loopback (asyncssh's own), one dropbox folder
per username: files land whole in the right dropbox or not under their name at all, the
host key is checked, and every refusal is one line."""

from __future__ import annotations

import logging
import os
import pathlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import asyncssh
import pytest

from bridge.config import Config, FeedsConfig
from bridge.inventory.feeds.upload import UploadError, upload

STAMP = "20261129T103000Z"
USERNAMES = {"merchants": "feeds-merchants-1", "services": "feeds-services-1", "availability": "feeds-availability-1"}
KEY_ENV = "TEST_SFTP_KEY"


@dataclass
class Dropboxes:
    """The server's side: what it holds, and the faults it is told to inject."""

    root: pathlib.Path
    host_key: asyncssh.SSHKey
    port: int = 0
    connections: int = 0
    written: int = 0  # bytes, over every session
    # Connections to come that are closed as soon as they are accepted.
    refuse_connections: int = 0
    # One entry per SFTP session to come: abort the connection once this many bytes were written.
    drop_after_bytes: list[int] = field(default_factory=list)
    # Sessions to come that abort the connection right after carrying out a rename.
    drop_after_rename: int = 0
    posix_rename: bool = True

    def files(self, username: str) -> dict[str, bytes]:
        folder = self.root / username
        return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}

    def everything(self) -> list[pathlib.Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())


class _Session(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel, boxes: Dropboxes):
        folder = boxes.root / chan.get_extra_info("username")
        folder.mkdir(exist_ok=True)
        super().__init__(chan, chroot=os.fsencode(folder))  # each username sees only its dropbox
        self._boxes = boxes
        self._drop_at = boxes.drop_after_bytes.pop(0) if boxes.drop_after_bytes else None
        self._drop_after_rename = boxes.drop_after_rename > 0
        boxes.drop_after_rename = max(0, boxes.drop_after_rename - 1)
        self._written = 0
        self._dropped = False

    def write(self, file_obj: object, offset: int, data: bytes) -> object:
        if self._dropped:
            return None  # writes the client pipelined before the drop never arrive
        if self._drop_at is not None and self._written + len(data) >= self._drop_at:
            # Only part of this write lands (one write may carry a whole file), then the
            # connection goes as in a network drop: no answer, no goodbye.
            super().write(file_obj, offset, data[:self._drop_at - self._written])
            self._dropped = True
            self.channel.get_connection().abort()
            return None
        self._written += len(data)
        self._boxes.written += len(data)
        return super().write(file_obj, offset, data)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> object:
        if not self._boxes.posix_rename:
            raise asyncssh.SFTPOpUnsupported("posix-rename not supported here")
        result = super().posix_rename(oldpath, newpath)
        self._after_rename()
        return result

    def rename(self, oldpath: bytes, newpath: bytes) -> object:
        result = super().rename(oldpath, newpath)
        self._after_rename()
        return result

    def _after_rename(self) -> None:
        if self._drop_after_rename:
            self.channel.get_connection().abort()


class _Counting(asyncssh.SSHServer):
    def __init__(self, boxes: Dropboxes):
        self._boxes = boxes

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._boxes.connections += 1
        if self._boxes.refuse_connections:
            self._boxes.refuse_connections -= 1
            conn.abort()


@pytest.fixture
def client_key(tmp_path: pathlib.Path) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(tmp_path / "id_ed25519"))
    return key


@pytest.fixture
async def dropboxes(tmp_path: pathlib.Path, client_key: asyncssh.SSHKey) -> AsyncIterator[Dropboxes]:
    boxes = Dropboxes(root=tmp_path / "dropboxes", host_key=asyncssh.generate_private_key("ssh-ed25519"))
    boxes.root.mkdir()
    server = await asyncssh.listen(
        "127.0.0.1", 0, server_factory=lambda: _Counting(boxes), server_host_keys=[boxes.host_key],
        authorized_client_keys=asyncssh.import_authorized_keys(client_key.export_public_key().decode()),
        sftp_factory=lambda chan: _Session(chan, boxes), allow_scp=False,
    )
    boxes.port = server.sockets[0].getsockname()[1]
    try:
        yield boxes
    finally:
        server.close()
        await server.wait_closed()


def setup(tmp_path: pathlib.Path, boxes: Dropboxes, *, host_key: asyncssh.SSHKey | None = None,
          **feeds: object) -> tuple[Config, dict[str, str]]:
    """A config file's folder with the known_hosts beside it, and the environment naming the key."""
    folder = tmp_path / "etc"
    folder.mkdir(exist_ok=True)
    key = (host_key or boxes.host_key).export_public_key().decode().strip()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{boxes.port} {key}\n")
    settings = {"sftp_host": "127.0.0.1", "sftp_port": boxes.port, "private_key_env": KEY_ENV,
                **{f"{kind}_username": name for kind, name in USERNAMES.items()}, **feeds}
    config = Config(feeds=FeedsConfig(**settings), source=folder / "bridge.toml")  # type: ignore[arg-type]
    return config, {KEY_ENV: str(tmp_path / "id_ed25519")}


def feed_set(tmp_path: pathlib.Path, sizes: dict[str, int]) -> dict[str, bytes]:
    """Feed files named as the export names them; content that shows a misplaced byte."""
    out = tmp_path / "feeds"
    out.mkdir(exist_ok=True)
    written = {}
    for name, size in sizes.items():
        data = (name.encode() + bytes(range(256))) * (size // (len(name) + 256) + 1)
        (out / name).write_bytes(data[:size])
        written[name] = data[:size]
    return written


def shard(kind: str, number: int = 1, total: int = 1, suffix: str = ".json") -> str:
    return f"{kind}_{STAMP}_{number:02d}-of-{total:02d}{suffix}"


async def test_each_kind_lands_whole_in_its_own_dropbox(
    tmp_path: pathlib.Path, dropboxes: Dropboxes, client_key: asyncssh.SSHKey, caplog: pytest.LogCaptureFixture
) -> None:
    sent = feed_set(tmp_path, {
        shard("merchants"): 1_500,
        shard("services", 1, 2, ".json.gz"): 300_000,
        shard("services", 2, 2, ".json.gz"): 70_001,
        shard("availability"): 0,
    })
    (tmp_path / "feeds" / ".staging-7").mkdir()  # the export's leftovers are not feeds
    (tmp_path / "feeds" / "README.txt").write_text("not a feed")
    config, environ = setup(tmp_path, dropboxes)
    said: list[str] = []

    uploaded = await upload(config, tmp_path / "feeds", environ=environ, say=said.append)

    assert uploaded == [shard("merchants"), shard("services", 1, 2, ".json.gz"), shard("services", 2, 2, ".json.gz"),
                        shard("availability")]
    for kind, username in USERNAMES.items():
        assert dropboxes.files(username) == {name: data for name, data in sent.items() if name.startswith(kind)}
    assert said == [f"uploaded merchants {shard('merchants')} (1500 bytes)",
                    f"uploaded services {shard('services', 1, 2, '.json.gz')} (300000 bytes)",
                    f"uploaded services {shard('services', 2, 2, '.json.gz')} (70001 bytes)",
                    f"uploaded availability {shard('availability')} (0 bytes)"]
    assert dropboxes.connections == 3  # one per dropbox, not one per file
    assert caplog.records  # asyncssh's own lines: none may carry the key
    key_lines = client_key.export_private_key().decode().splitlines()[1:-1]
    for line in key_lines:
        assert line not in caplog.text and not any(line in said_line for said_line in said)


async def test_a_host_key_other_than_known_hosts_says_is_refused_before_anything_is_written(
    tmp_path: pathlib.Path, dropboxes: Dropboxes
) -> None:
    feed_set(tmp_path, {shard("merchants"): 100})
    config, environ = setup(tmp_path, dropboxes, host_key=asyncssh.generate_private_key("ssh-ed25519"))

    with pytest.raises(UploadError) as raised:
        await upload(config, tmp_path / "feeds", environ=environ, say=lambda line: None)

    message = str(raised.value)
    assert "\n" not in message
    assert f"127.0.0.1:{dropboxes.port}" in message and "host key does not match" in message
    assert str(tmp_path / "etc" / "known_hosts") in message
    assert dropboxes.connections == 1  # refused at once, not retried
    assert dropboxes.everything() == []


@pytest.mark.parametrize("problem, expected", [
    ("no feed files", "no feed files"),
    ("empty username", "[feeds] services_username: empty"),
    ("key env unset", f"[feeds] private_key_env: {KEY_ENV} is not set"),
    ("key file missing", "which cannot be read: No such file or directory"),
    ("key file not a key", "which is not a usable SSH private key"),
    ("key file encrypted", "Passphrase must be specified"),
    ("known_hosts missing", "[feeds] known_hosts_file: "),
    ("known_hosts without this host", "has no key for 127.0.0.1"),
])
async def test_what_cannot_work_is_one_line_before_connecting(
    tmp_path: pathlib.Path, dropboxes: Dropboxes, problem: str, expected: str
) -> None:
    feed_set(tmp_path, {} if problem == "no feed files" else {shard("merchants"): 10, shard("services"): 10})
    config, environ = setup(tmp_path, dropboxes, **({"services_username": ""} if problem == "empty username" else {}))
    key_path = tmp_path / "id_ed25519"
    if problem == "key env unset":
        environ = {}
    elif problem == "key file missing":
        key_path.unlink()
    elif problem == "key file not a key":
        key_path.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END OPENSSH PRIVATE KEY-----\n")
    elif problem == "key file encrypted":
        asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key_path), format_name="pkcs8-pem", passphrase="c2VjcmV0")
    elif problem == "known_hosts missing":
        (tmp_path / "etc" / "known_hosts").unlink()
    elif problem == "known_hosts without this host":
        (tmp_path / "etc" / "known_hosts").write_text(
            f"partnerupload.google.com {dropboxes.host_key.export_public_key().decode()}")

    with pytest.raises(UploadError) as raised:
        await upload(config, tmp_path / "feeds", environ=environ, say=lambda line: None)

    message = str(raised.value)
    assert "\n" not in message
    assert expected in message
    assert "c2VjcmV0" not in message and "PRIVATE KEY" not in message
    assert dropboxes.connections == 0


async def test_a_key_the_server_does_not_accept_is_one_line_and_not_retried(
    tmp_path: pathlib.Path, dropboxes: Dropboxes
) -> None:
    feed_set(tmp_path, {shard("merchants"): 10})
    config, environ = setup(tmp_path, dropboxes)
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(tmp_path / "other_key"))

    with pytest.raises(UploadError) as raised:
        await upload(config, tmp_path / "feeds", environ={KEY_ENV: str(tmp_path / "other_key")},
                     say=lambda line: None)

    assert str(raised.value) == (f"[feeds] 127.0.0.1:{dropboxes.port} refused the key named by {KEY_ENV} "
                                 f"for dropbox '{USERNAMES['merchants']}'")
    assert dropboxes.connections == 1
    assert dropboxes.everything() == []


async def test_a_connection_dropped_mid_file_leaves_nothing_under_its_name_and_the_retry_sends_it_whole(
    tmp_path: pathlib.Path, dropboxes: Dropboxes
) -> None:
    sent = feed_set(tmp_path, {shard("merchants"): 200_000, shard("merchants", 2, 2): 50})
    config, environ = setup(tmp_path, dropboxes)
    dropboxes.drop_after_bytes = [64 * 1024]
    said: list[str] = []
    seen_after_drop: dict[str, bytes] = {}

    def note(line: str) -> None:
        said.append(line)
        if "trying again" in line:
            seen_after_drop.update(dropboxes.files(USERNAMES["merchants"]))

    await upload(config, tmp_path / "feeds", environ=environ, say=note, retry_delays=(0, 0))

    # Between the drop and the retry the dropbox held a partial temporary file, nothing final.
    assert list(seen_after_drop) == [f".{shard('merchants')}.1.part"]
    assert len(seen_after_drop[f".{shard('merchants')}.1.part"]) == 64 * 1024
    # The retry cleared it and sent the file again from its start.
    assert dropboxes.files(USERNAMES["merchants"]) == sent
    assert dropboxes.connections == 2
    assert said[0].startswith(f"merchants {shard('merchants')}: connection dropped (")
    assert said[0].endswith("trying again in 0 s (attempt 2 of 3)")
    assert said[1:] == [f"uploaded merchants {shard('merchants')} (200000 bytes)",
                        f"uploaded merchants {shard('merchants', 2, 2)} (50 bytes)"]


async def test_a_file_dropped_on_every_attempt_fails_naming_it_and_is_never_under_its_name(
    tmp_path: pathlib.Path, dropboxes: Dropboxes
) -> None:
    feed_set(tmp_path, {shard("merchants"): 10, shard("services"): 200_000, shard("availability"): 10})
    config, environ = setup(tmp_path, dropboxes)
    # The merchants session is the first; each services attempt is dropped.
    dropboxes.drop_after_bytes = [10**9, 1, 1, 1]
    said: list[str] = []

    with pytest.raises(UploadError) as raised:
        await upload(config, tmp_path / "feeds", environ=environ, say=said.append, retry_delays=(0, 0))

    assert str(raised.value).startswith(f"services {shard('services')}: not uploaded after 3 attempts; "
                                        "the last: connection dropped (")
    left = [p.name for p in dropboxes.everything() if p.parent.name == USERNAMES["services"]]
    assert left == [f".{shard('services')}.3.part"]  # the last attempt's; the next run clears it
    assert list(dropboxes.files(USERNAMES["merchants"])) == [shard("merchants")]
    assert dropboxes.files(USERNAMES["availability"]) == {}  # stopped at the failure
    assert dropboxes.connections == 4
    assert len([line for line in said if "trying again" in line]) == 2


async def test_a_connection_that_fails_is_tried_again(tmp_path: pathlib.Path, dropboxes: Dropboxes) -> None:
    sent = feed_set(tmp_path, {shard("services"): 700})
    config, environ = setup(tmp_path, dropboxes)
    dropboxes.refuse_connections = 2
    said: list[str] = []

    uploaded = await upload(config, tmp_path / "feeds", environ=environ, say=said.append, retry_delays=(0, 0))

    assert uploaded == [shard("services")]
    assert dropboxes.files(USERNAMES["services"]) == sent
    assert dropboxes.connections == 3
    assert [line.split(": ", 1)[1].split(" (")[0] for line in said[:2]] == [f"cannot connect to 127.0.0.1:{dropboxes.port}"] * 2


async def test_a_rename_whose_answer_was_lost_is_not_sent_twice(tmp_path: pathlib.Path, dropboxes: Dropboxes) -> None:
    sent = feed_set(tmp_path, {shard("availability"): 5_000})
    config, environ = setup(tmp_path, dropboxes)
    dropboxes.drop_after_rename = 1
    said: list[str] = []

    uploaded = await upload(config, tmp_path / "feeds", environ=environ, say=said.append, retry_delays=(0, 0))

    assert uploaded == [shard("availability")]
    assert dropboxes.files(USERNAMES["availability"]) == sent
    assert dropboxes.connections == 2
    assert dropboxes.written == 5_000  # the second connection found it in place
    assert said[-1] == f"uploaded availability {shard('availability')} (5000 bytes)"


async def test_a_server_without_posix_rename_gets_a_plain_rename(tmp_path: pathlib.Path, dropboxes: Dropboxes) -> None:
    sent = feed_set(tmp_path, {shard("merchants"): 3_000})
    config, environ = setup(tmp_path, dropboxes)
    dropboxes.posix_rename = False

    await upload(config, tmp_path / "feeds", environ=environ, say=lambda line: None)

    assert dropboxes.files(USERNAMES["merchants"]) == sent


async def test_an_earlier_runs_temporary_files_are_cleared(tmp_path: pathlib.Path, dropboxes: Dropboxes) -> None:
    sent = feed_set(tmp_path, {shard("merchants"): 3_000})
    config, environ = setup(tmp_path, dropboxes)
    folder = dropboxes.root / USERNAMES["merchants"]
    folder.mkdir()
    for attempt in (1, 2, 3):
        (folder / f".{shard('merchants')}.{attempt}.part").write_bytes(b"half")

    await upload(config, tmp_path / "feeds", environ=environ, say=lambda line: None)

    assert dropboxes.files(USERNAMES["merchants"]) == sent


async def test_a_server_refusal_is_one_line_and_leaves_no_temporary_file(
    tmp_path: pathlib.Path, dropboxes: Dropboxes
) -> None:
    feed_set(tmp_path, {shard("merchants"): 3_000})
    config, environ = setup(tmp_path, dropboxes)
    folder = dropboxes.root / USERNAMES["merchants"]
    folder.mkdir()
    (folder / shard("merchants")).mkdir()  # the final name is taken by something a rename cannot replace

    with pytest.raises(UploadError) as raised:
        await upload(config, tmp_path / "feeds", environ=environ, say=lambda line: None)

    assert str(raised.value).startswith(f"merchants {shard('merchants')}: '{USERNAMES['merchants']}' refused it: ")
    assert dropboxes.everything() == []
    assert dropboxes.connections == 1
