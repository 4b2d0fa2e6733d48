"""The HTTP Basic credentials the REST front accepts, replaceable while it serves (SIGHUP).

Where they come from: ``[server.rest_auth]`` names the users and the environment variables
holding their passwords; an ``env_file`` there supplies those variables too, and wins, so a
rotation needs no restart: write the new password into the file, send SIGHUP.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from ..config import Config
from ..envfile import EnvFileError, overlay
from ..exitcodes import StartupFailure


class CredentialsError(StartupFailure):
    """One line; never a password."""


def from_config(config: Config, environ: Mapping[str, str] = os.environ) -> list[tuple[str, str]]:
    """The accepted (username, password) pairs: the current one and, while rotating, the next."""
    auth = config.server.rest_auth
    if auth is None:
        return []
    try:
        environ = overlay(environ, config.resolve(auth.env_file) if auth.env_file else None)
    except EnvFileError as exc:
        raise CredentialsError(f"[server.rest_auth] env_file: {exc}") from None
    for key in ("password_env", "next_password_env"):
        var = getattr(auth, key)
        if var and not environ.get(var):
            raise CredentialsError(f"[server.rest_auth] {key}: environment variable {var} is not set")
    return auth.credentials(environ)


class BasicCredentials:
    """What the Basic auth middleware compares against, read afresh on every request."""

    def __init__(self, pairs: Sequence[tuple[str, str]]):
        self.replace(pairs)

    def replace(self, pairs: Sequence[tuple[str, str]]) -> None:
        # One assignment: a request sees the old pairs or the new, never a mix.
        self.pairs = [(user.encode(), password.encode()) for user, password in pairs]
