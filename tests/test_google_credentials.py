"""Loading the service account key: every problem is one line, naming the file, never the key."""

from __future__ import annotations

import json
import pathlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bridge.google import GoogleCredentialsError, GoogleError, ServiceAccount

TOKEN_URI = "https://oauth2.googleapis.com/token"


def pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def info(rsa_pem) -> dict:
    return {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k1",
        "private_key": rsa_pem,
        "client_email": "bridge@p.iam.gserviceaccount.com",
        "token_uri": TOKEN_URI,
    }


def write(tmp_path: pathlib.Path, content: str | bytes) -> pathlib.Path:
    path = tmp_path / "key.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def refused(load) -> GoogleCredentialsError:
    with pytest.raises(GoogleCredentialsError) as caught:
        load()
    error = caught.value
    assert isinstance(error, GoogleError)
    assert "\n" not in str(error)
    # Nothing chained below it: a traceback would show no other exception.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error


def test_a_good_key_file_loads(tmp_path, info):
    account = ServiceAccount.from_file(write(tmp_path, json.dumps(info)))
    assert (account.client_email, account.token_uri, account.private_key_id) == (
        "bridge@p.iam.gserviceaccount.com",
        TOKEN_URI,
        "k1",
    )
    assert "PRIVATE" not in repr(account)
    assert account.signer.key_id == "k1"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    assert str(refused(lambda: ServiceAccount.from_file(path))) == f"service account key file {path} does not exist"


def test_a_directory(tmp_path):
    assert str(refused(lambda: ServiceAccount.from_file(tmp_path))) == (
        f"service account key file {tmp_path} is a directory, not a key file"
    )


def test_unreadable_path(tmp_path, info):
    # Below a plain file: an OSError other than "missing" (the tests run as root, so a
    # file's mode would not stop the read).
    path = write(tmp_path, json.dumps(info)) / "key.json"
    assert str(refused(lambda: ServiceAccount.from_file(path))) == (
        f"service account key file {path} cannot be read (Not a directory)"
    )


def test_not_json(tmp_path, rsa_pem):
    # A PEM file given where the JSON key file belongs: the message must not quote it.
    path = write(tmp_path, rsa_pem)
    error = refused(lambda: ServiceAccount.from_file(path))
    assert str(error) == f"service account key file {path} is not JSON (Expecting value at line 1 column 1)"


def test_not_utf8(tmp_path):
    path = write(tmp_path, b"\xff\xfe{")
    assert str(refused(lambda: ServiceAccount.from_file(path))) == f"service account key file {path} is not JSON (not UTF-8 text)"


def test_json_but_not_an_object(tmp_path):
    path = write(tmp_path, "[1, 2]")
    assert str(refused(lambda: ServiceAccount.from_file(path))) == f"service account key file {path} is not a JSON object"


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        (["private_key"], "private_key"),
        (["client_email"], "client_email"),
        (["token_uri"], "token_uri"),
        (["client_email", "token_uri"], "client_email, token_uri"),
    ],
)
def test_a_required_key_is_missing(tmp_path, info, drop, named):
    for name in drop:
        del info[name]
    path = write(tmp_path, json.dumps(info))
    assert str(refused(lambda: ServiceAccount.from_file(path))) == f"service account key file {path} has no {named}"


def test_an_empty_private_key_counts_as_missing(tmp_path, info):
    info["private_key"] = "  "
    path = write(tmp_path, json.dumps(info))
    assert str(refused(lambda: ServiceAccount.from_file(path))) == f"service account key file {path} has no private_key"


@pytest.mark.parametrize("kind", ["garbage", "truncated", "ec"])
def test_a_private_key_that_does_not_parse(tmp_path, info, rsa_pem, kind):
    info["private_key"] = {
        "garbage": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1icm9rZW4=\n-----END PRIVATE KEY-----\n",
        "truncated": rsa_pem[: len(rsa_pem) // 2],
        "ec": pem(ec.generate_private_key(ec.SECP256R1())),
    }[kind]
    path = write(tmp_path, json.dumps(info))
    error = refused(lambda: ServiceAccount.from_file(path))
    assert str(error) == f"service account key file {path} has a private_key that is not a PEM-encoded RSA private key"
    for line in info["private_key"].splitlines():
        if "PRIVATE KEY" not in line:
            assert line not in str(error)


def test_another_kind_of_credentials_file(tmp_path, info):
    info["type"] = "authorized_user"
    path = write(tmp_path, json.dumps(info))
    assert str(refused(lambda: ServiceAccount.from_file(path))) == (
        f"service account key file {path} is of type 'authorized_user', not a service account key"
    )


def test_a_token_uri_that_is_not_a_url(tmp_path, info):
    info["token_uri"] = "oauth2.googleapis.com/token"
    path = write(tmp_path, json.dumps(info))
    assert str(refused(lambda: ServiceAccount.from_file(path))) == (
        f"service account key file {path} has a token_uri that is not an http(s) URL"
    )


@pytest.mark.parametrize("environ", [{}, {"GOOGLE_KEY": ""}, {"GOOGLE_KEY": "  "}])
def test_env_var_unset_or_empty(environ):
    assert str(refused(lambda: ServiceAccount.from_env("GOOGLE_KEY", environ))) == (
        "environment variable GOOGLE_KEY is not set; it must name the service account key file"
    )


def test_env_var_names_the_file(tmp_path, info):
    path = write(tmp_path, json.dumps(info))
    assert ServiceAccount.from_env("GOOGLE_KEY", {"GOOGLE_KEY": str(path)}).client_email == info["client_email"]
    missing = tmp_path / "gone.json"
    assert str(refused(lambda: ServiceAccount.from_env("GOOGLE_KEY", {"GOOGLE_KEY": str(missing)}))) == (
        f"service account key file {missing} does not exist"
    )
