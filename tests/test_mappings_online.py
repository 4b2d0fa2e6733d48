"""`booking-bridge check --online`: the offline checks, then Qmatic's token, then every
mapping against the catalogue. Credentials Qmatic refuses are one line saying what its
token endpoint answered, never a traceback; plain `check` asks Qmatic nothing."""

from __future__ import annotations

import asyncio
import pathlib
import re
import socket

import pytest

from bridge import cli
from bridge.simulator import Simulator, seed

from .harness import ENV

MAPPING = f"""
[merchants."stockholm"]
branch_id = "{seed.STOCKHOLM}"
time_zone = "Europe/Stockholm"
category = "hair_salon"
services = {{ "haircut" = "{seed.HAIRCUT}" }}
"""


def write_config(tmp_path: pathlib.Path, sim: Simulator, mapping: str = MAPPING, **upstream: str) -> pathlib.Path:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "demo.toml").write_text(mapping)
    values = {"base_url": sim.base_url, "token_url": sim.token_url, "account": seed.DEMO_ACCOUNT,
              "tenant_id": seed.DEMO_TENANT_ID, **upstream}
    path = tmp_path / "bridge.toml"
    path.write_text(
        "[upstream]\n" + "".join(f'{key} = "{value}"\n' for key, value in values.items())
        + '[store]\npath = "bridge.sqlite3"\n'
        + '[booking]\nmappings_dir = "mappings"\ndefault_time_zone = "Europe/London"\n'
    )
    return path


async def check(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], config: pathlib.Path,
                *flags: str, **env: str) -> tuple[int, str, str]:
    for name, value in {**ENV, **env}.items():
        monkeypatch.setenv(name, value)
    code = await asyncio.to_thread(cli.main, ["check", "--config", str(config), *flags])
    out, err = capsys.readouterr()
    return code, out, err


async def test_online_check_of_good_credentials_and_mappings_passes(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await check(monkeypatch, capsys, write_config(tmp_path, sim), "--online")
    assert code == 0, err
    assert f"[upstream] token: issued by {sim.token_url}; catalogue read" in out
    assert re.search(r"^stockholm +Stockholm Central +1 +0$", out, re.MULTILINE)
    assert "mappings: 2 merchant(s), 0 error(s), 2 warning(s)" in out
    # London is in no file: served by identity, named, and only warned about.
    assert [line.split(":")[0] for line in err.splitlines()] == ["note", "warning", "warning"]
    assert err.startswith("note: 1 branch(es) are in no mapping file and map by identity: London Bridge")


async def test_plain_check_asks_the_upstream_nothing(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await check(monkeypatch, capsys, write_config(tmp_path, sim))
    assert code == 0
    assert "token" not in out
    assert sim.requests == []


@pytest.mark.parametrize(
    ("env", "upstream", "answer"),
    [
        ({"QMATIC_CLIENT_SECRET": "not-the-secret"}, {}, "401 UNAUTHORIZED: bad client credentials"),
        ({}, {"account": "someone-else"}, "401 UNAUTHORIZED: unknown X-ACCOUNT"),
    ],
    ids=["wrong secret", "wrong account"],
)
async def test_credentials_the_token_endpoint_refuses_are_one_line_with_its_answer(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    env: dict[str, str], upstream: dict[str, str], answer: str,
) -> None:
    config = write_config(tmp_path, sim, **upstream)
    code, out, err = await check(monkeypatch, capsys, config, "--online", **env)
    assert code == 1
    assert err.splitlines() == [
        f"error: [upstream] token_url: {sim.token_url} answered {answer}; check [upstream] account and the client "
        "id and secret in QMATIC_CLIENT_ID and QMATIC_CLIENT_SECRET"
    ]
    assert "Traceback" not in out + err and "not-the-secret" not in out + err
    assert [r.path for r in sim.requests] == ["/oauth2/token"]  # refused once, not retried, nothing else asked


async def test_a_token_endpoint_that_does_not_answer_is_one_line(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    token_url = f"http://127.0.0.1:{port}/oauth2/token"
    code, _, err = await check(monkeypatch, capsys, write_config(tmp_path, sim, token_url=token_url), "--online")
    assert code == 1
    assert err.splitlines() == [f"error: [upstream] token_url: {token_url}: no answer (ConnectError)"]


async def test_online_check_fails_on_a_mapping_error(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = MAPPING.replace(f'"haircut" = "{seed.HAIRCUT}"', f'"photo" = "{seed.PASSPORT}"')
    code, out, err = await check(monkeypatch, capsys, write_config(tmp_path, sim, mapping), "--online")
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("error: ")] == [
        "error: merchant 'stockholm': services.\"photo\": 'Passport photo' cannot be booked through Actions Center: "
        "asks screening questions (1)"]


async def test_offline_problems_stop_the_online_part(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("QMATIC_CLIENT_SECRET", raising=False)
    config = write_config(tmp_path, sim)
    for name, value in ENV.items():
        if name != "QMATIC_CLIENT_SECRET":
            monkeypatch.setenv(name, value)
    code = await asyncio.to_thread(cli.main, ["check", "--config", str(config), "--online"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines() == [
        "error: [upstream] client_secret_env: environment variable QMATIC_CLIENT_SECRET is not set",
        "note: --online skipped: fix the problems above first",
    ]
    assert sim.requests == []


async def test_an_oauth2_refusal_is_read_too_and_an_echoed_secret_is_not_printed() -> None:
    import httpx

    from bridge import config as config_mod
    from bridge.mappings_cli.reading import Catalogues, Unreadable

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "invalid_client",
                                         "error_description": "secret s3cr3t-value does not match\nthe client"})

    config = config_mod.from_dict({"upstream": {"base_url": "https://qmatic.invalid/external/v1",
                                                "token_url": "https://qmatic.invalid/oauth2/token",
                                                "account": "demo", "tenant_id": "t"}})
    env = {"QMATIC_CLIENT_ID": "the-client", "QMATIC_CLIENT_SECRET": "s3cr3t-value"}
    async with Catalogues(config, env, httpx.MockTransport(token_endpoint)) as catalogues:
        with pytest.raises(Unreadable) as refused:
            await catalogues.offerings("t")
    assert str(refused.value).startswith(
        "[upstream] token_url: https://qmatic.invalid/oauth2/token answered 401 invalid_client: "
        "secret <client secret> does not match the client; check")


async def test_discover_says_the_same_of_refused_credentials_and_of_missing_ones(
    sim: Simulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, sim))
    for name, value in {**ENV, "QMATIC_CLIENT_SECRET": "not-the-secret"}.items():
        monkeypatch.setenv(name, value)
    assert await asyncio.to_thread(cli.main, ["mappings", "discover", "--config", config]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: [upstream] token_url: {sim.token_url} answered 401 UNAUTHORIZED")

    monkeypatch.delenv("QMATIC_CLIENT_ID")
    assert await asyncio.to_thread(cli.main, ["mappings", "discover", "--config", config]) == 2
    assert capsys.readouterr().err == (
        "error: [upstream] client_id_env: environment variable QMATIC_CLIENT_ID is not set\n")
