"""The console script: check reports every problem on its own line; demo runs end to end."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from bridge import cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOOD_ENV = {"QMATIC_CLIENT_ID": "id", "QMATIC_CLIENT_SECRET": "secret", "BRIDGE_IDENTITY_KEY": "k" * 32}


def test_check_accepts_the_example_configuration(monkeypatch, capsys) -> None:
    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["check", "--config", str(ROOT / "config.example.toml")]) == 0
    assert "ok (2 mapped merchant(s)" in capsys.readouterr().out


def test_check_names_each_problem_on_its_own_line(tmp_path: pathlib.Path, monkeypatch, capsys) -> None:
    for name in GOOD_ENV:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "bad.toml").write_text('[merchants."m1"]\ntime_zone = "Mars/Olympus"\n')
    config = tmp_path / "bridge.toml"
    config.write_text(
        '[server]\ngrpc_listen = "nowhere"\n'
        '[upstream]\naccount = "My System"\ntenant_id = "t"\nlanguage = "xx"\n'
        '[[upstream.errors]]\nstatus = "409"\ncause = "NO_SUCH_CAUSE"\n'
        '[booking]\nmappings_dir = "maps"\n'
    )
    assert cli.main(["check", "--config", str(config)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    expected = [
        "grpc_listen",
        "account",
        "language",
        "[[upstream.errors]] row 1",
        "QMATIC_CLIENT_ID",
        "QMATIC_CLIENT_SECRET",
        "BRIDGE_IDENTITY_KEY",
        "branch_id is required",
        "Mars/Olympus",
    ]
    for needle in expected:
        assert sum(needle in line for line in lines) == 1, (needle, lines)
    assert len(lines) == len(expected)
    assert all(line.startswith("error: ") for line in lines)


def test_check_reports_a_missing_file(tmp_path: pathlib.Path, capsys) -> None:
    assert cli.main(["check", "--config", str(tmp_path / "nope.toml")]) == 1
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["[server\n", "[surprise]\n", '[store]\npath = 3\n'])
def test_check_refuses_broken_files(tmp_path: pathlib.Path, text: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    assert cli.main(["check", "--config", str(config)]) == 1


def test_demo_runs_the_whole_flow_over_real_grpc() -> None:
    env = {k: v for k, v in os.environ.items() if k not in GOOD_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "demo"], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("CreateLease", "RESOURCE_EXHAUSTED", "CONFIRMED", "reschedule", "CANCELED",
                 "BatchAvailabilityLookup", "byte-identical answer: True", "1 booking(s) for the user"):
        assert step in result.stdout


def test_check_names_rest_problems(tmp_path: pathlib.Path, monkeypatch, capsys) -> None:
    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BRIDGE_REST_PASSWORD", raising=False)
    config = tmp_path / "bridge.toml"
    config.write_text(
        '[server]\nrest_listen = "127.0.0.1:8443"\n'
        '[server.rest_auth]\nusername = "google"\npassword_env = "BRIDGE_REST_PASSWORD"\nnext_username = "g2"\n'
        '[upstream]\naccount = "demo"\ntenant_id = "t"\n'
    )
    assert cli.main(["check", "--config", str(config)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert sum("next_username, next_password_env: set both or neither" in line for line in lines) == 1
    assert sum("BRIDGE_REST_PASSWORD is not set" in line for line in lines) == 1
    assert len(lines) == 2


def test_rest_listen_without_credentials_is_refused(tmp_path: pathlib.Path, capsys) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[server]\nrest_listen = "127.0.0.1:8443"\n[upstream]\naccount = "demo"\ntenant_id = "t"\n')
    assert cli.main(["check", "--config", str(config)]) == 1
    assert "[server.rest_auth]: required when rest_listen is set" in capsys.readouterr().err
