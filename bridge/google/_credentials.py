"""The Google Cloud service account key the bridge signs its token requests with.

Every failure is a ``GoogleCredentialsError`` of one line naming the file and what is
wrong with it. Neither the key nor any part of the file's content is ever put in a
message: a message may end up in a log or on a console someone shares.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.auth import crypt

from ._errors import GoogleCredentialsError

REQUIRED = ("client_email", "private_key", "token_uri")


@dataclass(frozen=True)
class ServiceAccount:
    client_email: str
    token_uri: str
    private_key_id: str
    # Holds the private key; kept out of repr and comparisons so it cannot be printed.
    signer: crypt.Signer = field(repr=False, compare=False)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ServiceAccount:
        where = f"service account key file {os.fspath(path)}"
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise GoogleCredentialsError(f"{where} does not exist") from None
        except IsADirectoryError:
            raise GoogleCredentialsError(f"{where} is a directory, not a key file") from None
        except OSError as exc:
            raise GoogleCredentialsError(f"{where} cannot be read ({exc.strerror or type(exc).__name__})") from None
        try:
            info = json.loads(raw)
        except UnicodeDecodeError:
            raise GoogleCredentialsError(f"{where} is not JSON (not UTF-8 text)") from None
        except json.JSONDecodeError as exc:
            # Only the position: exc.msg never quotes the content, exc.doc would.
            raise GoogleCredentialsError(f"{where} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
        return cls.from_info(info, source=where)

    @classmethod
    def from_env(cls, env_var_name: str, environ: Mapping[str, str] | None = None) -> ServiceAccount:
        """The key file named by the environment variable ``env_var_name``."""
        env = os.environ if environ is None else environ
        path = env.get(env_var_name, "").strip()
        if not path:
            raise GoogleCredentialsError(
                f"environment variable {env_var_name} is not set; it must name the service account key file"
            )
        return cls.from_file(path)

    @classmethod
    def from_info(cls, info: Any, *, source: str = "service account key") -> ServiceAccount:
        """From the key file's parsed JSON; ``source`` names it in error messages."""
        if not isinstance(info, Mapping):
            raise GoogleCredentialsError(f"{source} is not a JSON object")
        kind = info.get("type")
        if kind is not None and kind != "service_account":
            # An end user's or an external account's credentials file is the usual mix-up.
            raise GoogleCredentialsError(f"{source} is of type {_short(kind)!r}, not a service account key")
        missing = [name for name in REQUIRED if not isinstance(info.get(name), str) or not info[name].strip()]
        if missing:
            raise GoogleCredentialsError(f"{source} has no {', '.join(missing)}")
        token_uri = info["token_uri"].strip()
        if not token_uri.startswith(("https://", "http://")):
            raise GoogleCredentialsError(f"{source} has a token_uri that is not an http(s) URL")
        key_id = info.get("private_key_id")
        try:
            signer = crypt.RSASigner.from_string(info["private_key"], key_id if isinstance(key_id, str) and key_id else None)
            # An EC key loads as well and fails only when it signs: find out now, not
            # at the first token request.
            signer.sign(b"probe")
        except Exception:
            # cryptography's own words may quote bytes of the key; ours do not.
            raise GoogleCredentialsError(f"{source} has a private_key that is not a PEM-encoded RSA private key") from None
        return cls(
            client_email=info["client_email"].strip(),
            token_uri=token_uri,
            private_key_id=key_id if isinstance(key_id, str) else "",
            signer=signer,
        )


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"
