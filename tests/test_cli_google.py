"""check and serve on the [google] section: a missing feature is said, a key or token that
cannot work is one clear line, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import sys
from collections.abc import AsyncIterator

import pytest

from bridge.clock import SystemClock
from bridge.simulator import FakeGoogle, seed

ENV = {"QMATIC_CLIENT_ID": "id", "QMATIC_CLIENT_SECRET": "secret", "BRIDGE_IDENTITY_KEY": "k" * 32}


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogle]:
    fake = FakeGoogle(SystemClock())
    await fake.start()
    yield fake
    await fake.stop()


def config(tmp_path: pathlib.Path, google: str = "") -> pathlib.Path:
    path = tmp_path / "bridge.toml"
    path.write_text(
        '[server]\ngrpc_listen = "127.0.0.1:0"\n'
        f'[upstream]\naccount = "{seed.DEMO_ACCOUNT}"\ntenant_id = "{seed.DEMO_TENANT_ID}"\n'
        '[store]\npath = "bridge.sqlite3"\n' + google
    )
    return path


def google_section(fake: FakeGoogle) -> str:
    return f'[google]\npartner_id = "{fake.partner_id}"\napi_base_url = "{fake.base_url}"\n'


async def run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", *args, env={**os.environ, **ENV, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, out.decode(), err.decode()


async def test_check_says_notifications_are_mandatory_without_google(tmp_path: pathlib.Path) -> None:
    code, out, err = await run("check", "--config", str(config(tmp_path)), env={})
    assert code == 0, err
    assert "booking notifications are mandatory for a live integration" in out


async def test_check_with_a_working_key_is_ok(tmp_path: pathlib.Path, google: FakeGoogle) -> None:
    key = google.write_key_file(tmp_path / "key.json")
    code, out, err = await run("check", "--config", str(config(tmp_path, google_section(google))),
                               env={"GOOGLE_APPLICATION_CREDENTIALS": str(key)})
    assert (code, err) == (0, "")
    assert len(google.tokens_issued) == 1


@pytest.mark.parametrize("problem", ["missing", "not-json", "no-private-key", "refused"])
async def test_a_key_that_cannot_work_is_one_line_from_check_and_serve(
    tmp_path: pathlib.Path, google: FakeGoogle, problem: str
) -> None:
    key = tmp_path / "key.json"
    if problem == "not-json":
        key.write_text("-----BEGIN PRIVATE KEY-----\n")
    elif problem == "no-private-key":
        info = dict(google.service_account_info())
        del info["private_key"]
        key.write_text(json.dumps(info))
    elif problem == "refused":
        from bridge.simulator.google_auth import FakeServiceAccount

        # A key this Google never issued: the assertion's signature does not verify.
        info = FakeServiceAccount().info(google.token_uri)
        key.write_text(json.dumps(info))
    path = config(tmp_path, google_section(google))
    for command, code_expected in (("check", 1), ("serve", 2)):
        code, _, err = await run(command, "--config", str(path), env={"GOOGLE_APPLICATION_CREDENTIALS": str(key)})
        lines = [line for line in err.splitlines() if line.startswith("error: ")]
        assert code == code_expected, err
        assert len(lines) == 1, err
        assert "Traceback" not in err
        assert "[google]" in lines[0]
        if problem == "refused":
            assert google.token_uri in lines[0] and "invalid_grant" in lines[0]
        assert "PRIVATE KEY" not in err


async def test_check_says_when_the_read_budget_cannot_cover_the_watched_bookings(
    tmp_path: pathlib.Path, google: FakeGoogle
) -> None:
    import sqlite3

    from bridge.store import SqliteStore

    await SqliteStore(tmp_path / "bridge.sqlite3").close()  # the schema
    with sqlite3.connect(tmp_path / "bridge.sqlite3") as db:
        db.executemany("INSERT INTO watches (booking_id, ends_at) VALUES (?, ?)",
                       [(f"b{i}", 4102444800.0) for i in range(300)])
    key = google.write_key_file(tmp_path / "key.json")
    section = google_section(google) + "max_upstream_reads_per_second = 1.0\n"
    code, _, err = await run("check", "--config", str(config(tmp_path, section)),
                             env={"GOOGLE_APPLICATION_CREDENTIALS": str(key)})
    assert code == 1
    [line] = err.splitlines()
    assert "300 bookings are watched" in line and "covers 220" in line and "raise it to 1.4 or more" in line
