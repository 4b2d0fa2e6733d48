"""[server.rest_auth] env_file: the NAME=value file the REST passwords rotate through."""

from __future__ import annotations

import pathlib

import pytest

from bridge import config as config_mod
from bridge.envfile import EnvFileError, overlay, read


def private(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_the_systemd_and_docker_spellings_are_read(tmp_path: pathlib.Path) -> None:
    env = private(tmp_path / "rest.env", '# comment\n; another\n\nA=plain\nexport B = "double quoted"\nC=\'single\'\nD=\n')
    assert read(env) == {"A": "plain", "B": "double quoted", "C": "single", "D": ""}


def test_the_file_wins_over_the_environment(tmp_path: pathlib.Path) -> None:
    env = private(tmp_path / "rest.env", "A=from-file\n")
    assert overlay({"A": "from-env", "B": "kept"}, env) == {"A": "from-file", "B": "kept"}


def test_a_file_others_can_read_is_refused_without_showing_its_values(tmp_path: pathlib.Path) -> None:
    env = tmp_path / "rest.env"
    env.write_text("BRIDGE_REST_PASSWORD=never-shown-Xy7\n")
    env.chmod(0o644)
    with pytest.raises(EnvFileError) as err:
        read(env)
    assert "readable by others" in str(err.value) and "never-shown" not in str(err.value)


def test_a_line_that_is_not_an_assignment_names_its_number_only(tmp_path: pathlib.Path) -> None:
    env = private(tmp_path / "rest.env", "A=1\nsecret-looking-text\n")
    with pytest.raises(EnvFileError) as err:
        read(env)
    assert "line 2" in str(err.value) and "secret-looking" not in str(err.value)


def test_check_takes_the_password_from_the_file(tmp_path: pathlib.Path) -> None:
    private(tmp_path / "rest.env", "BRIDGE_REST_PASSWORD=pw-from-file\n")
    config = config_mod.from_dict({
        "server": {"rest_listen": "127.0.0.1:0",
                   "rest_auth": {"username": "google", "password_env": "BRIDGE_REST_PASSWORD", "env_file": "rest.env"}},
        "upstream": {"account": "demo", "tenant_id": "t"},
    }, source=tmp_path / "bridge.toml")
    environ = {"QMATIC_CLIENT_ID": "i", "QMATIC_CLIENT_SECRET": "s", "BRIDGE_IDENTITY_KEY": "k" * 20}
    assert config_mod.check_environment(config, environ) == []
    (tmp_path / "rest.env").unlink()
    problems = config_mod.check_environment(config, environ)
    assert [p for p in problems if p.startswith("[server.rest_auth] env_file:")]
