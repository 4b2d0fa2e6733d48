"""No secret and no customer data in any log line: what is forbidden, and the capture that
holds every test to it (wired up as autouse fixtures in tests/conftest.py).

Lines are checked as an operator would read them: each record rendered by the bridge's
own JsonFormatter, so ``extra`` fields and tracebacks are included. Child processes'
output (``booking-bridge serve`` in tests/test_v0_kill.py) is checked from the file it
was written to; see :func:`watch`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import pathlib
import re
from collections.abc import Iterable, Iterator

from bridge.logs import JsonFormatter
from bridge.simulator import seed

from .harness import ENV

# --- what is forbidden ------------------------------------------------------------------

# Every credential a test hands the bridge or the simulator. From the harness's
# environment only what is named as a credential: ids (QMATIC_CLIENT_ID, which the
# simulator's own banner prints) and settings may be logged.
SECRETS: tuple[str, ...] = (
    *(value for name, value in ENV.items() if re.search(r"SECRET|KEY|PASSWORD|TOKEN|CREDENTIAL", name)),
    seed.DEMO_CLIENT_SECRET,
    "s3cret-Value",  # tests/test_upstream_client.py
    "csecret-Zz91-never-on-disk",  # tests/test_cassette_redaction.py
    "identity-key-Kp3x-0123456789",  # tests/test_cassette_redaction.py
    "k" * 32,  # tests/test_cli.py
    # A raw personalIdentifier handed to the upstream client in tests/test_upstream_*.py.
    "HASH0123456789abcdef",
)

# A customer nobody else uses, for the per-front end-to-end tests in
# tests/test_logs_no_pii.py: if any of it shows up, it came from that booking.
PROBE = {
    "given_name": "Wendeline",
    "family_name": "Quarrowby-Tsvetanova",
    "email": "wendeline.q7k2@probe-mail.example",
    "telephone": "+46 73-918 27 64",
}

# The customers the tests send: tests/harness.py client_message, tests/test_v2_grpc.py
# user, tests/test_v3_rest.py user, and the one-off customers of test_upstream_client,
# test_upstream_models, test_cassettes_replay, test_cassette_redaction and the recorder's
# FakeCustomer (bridge/cassette/_inputs.py), plus PROBE. Single letters ("A", "B") are
# left out: they cannot be told from ordinary text.
NAMES: tuple[str, ...] = (
    "Ada", "Lovelace",
    "John", "Smith",
    "Grace", "Hopper",
    "King",
    "Zebulon", "Quartermaine",
    "Cassette", "Testperson",
    PROBE["given_name"], PROBE["family_name"],
)
PHONES: tuple[str, ...] = (
    "+46 70-123 45 67",
    "+12091111111",
    "+31 20 555-0100",
    "+44 20 7946 0000",
    "+44 20 7946 0958",
    "+44 20 7946 0999",
    "+1 555-0100",
    "+1 555-0199",
    PROBE["telephone"],
)

# A phone may be re-spelled on its way (E.164, national 0-prefix, other separators), so it
# is matched on its last nine digits once the usual separators are dropped from the line.
# Shorter numbers are matched whole; under eight digits ("+31 555") they would match
# ports and latencies by chance.
_PHONE_DIGITS = 9
_SEPARATORS = str.maketrans("", "", " -().")


def _phone_digits(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())[-_PHONE_DIGITS:]
    if len(digits) < 8:
        raise ValueError(f"{phone!r}: too few digits to match without false alarms")
    return digits


# An address needs a dotted domain with a letters-only top level, so "user@localhost",
# "x@127.0.0.1" and "pkg@1.2.3" are not taken for e-mail. "ada@example.com" is.
_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9\-])"
# Header shapes: "Authorization: …", "'authorization': …", '"Authorization": …'.
_AUTHORIZATION = r"(?i:(?<![A-Za-z\-])authorization[\"']?\s*[:=])"
# Long enough that "bearer token required" is not a bearer token.
_BEARER = r"(?i:\bbearer\s+[A-Za-z0-9\-._~+/]{16,}=*)"
# Only flagged when it decodes to "user:password" (see _is_credential), so "Basic realm"
# and prose do not trip it.
_BASIC = r"(?i:\bbasic\s+(?P<basic_value>[A-Za-z0-9+/]{4,}={0,2}))"

# SSH names its protocol extensions like addresses ("posix-rename@openssh.com"): not mail.
_PROTOCOL_NAMES = ("@openssh.com", "@libssh.org", "@asyncssh.com")

_SECRETS = sorted(set(SECRETS), key=len, reverse=True)
_EMAIL_RE = re.compile(_EMAIL)
_AUTHORIZATION_RE = re.compile(_AUTHORIZATION)
_BEARER_RE = re.compile(_BEARER)
_BASIC_RE = re.compile(_BASIC)
_NAME_RE = re.compile(r"(?<![A-Za-z0-9_])(?:" + "|".join(re.escape(n) for n in NAMES) + r")(?![A-Za-z0-9_])")
_PHONES = tuple(_phone_digits(p) for p in PHONES)

# JSON escapes glue words together ("…\\nAda…" reads "nAda"): each becomes a space, or
# the character it spells, before matching.
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)")


def _unescape(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16)) if match.group(1) else " "


def _is_credential(encoded: str) -> bool:
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded


def findings(line: str, extra: Iterable[str] = ()) -> list[str]:
    """The rules ``line`` breaks, by name; empty when it is clean.

    ``extra`` adds literals for this check only (access tokens, a test's own values).
    """
    # Every line of every test goes through here, so each regex sits behind a plain
    # substring test that almost every clean line fails.
    text = _ESCAPE.sub(_unescape, line) if "\\" in line else line
    lower = text.lower()
    found = []
    if any(s in text for s in _SECRETS) or any(v and (v in line or v in text) for v in extra):
        found.append("secret")
    if "@" in text and any(not m.group(0).lower().endswith(_PROTOCOL_NAMES) for m in _EMAIL_RE.finditer(text)):
        found.append("e-mail")
    if "PRIVATE KEY" in text or '"private_key"' in text:
        found.append("private key")
    if "authorization" in lower and _AUTHORIZATION_RE.search(text):
        found.append("authorization header")
    if "bearer" in lower and _BEARER_RE.search(text):
        found.append("bearer token")
    if "basic" in lower and any(_is_credential(m.group("basic_value")) for m in _BASIC_RE.finditer(text)):
        found.append("basic credentials")
    # Case-sensitive and whole-word: "Grace" the customer, not "shutdown_grace_seconds".
    if any(n in text for n in NAMES) and _NAME_RE.search(text):
        found.append("name")
    squeezed = text.translate(_SEPARATORS)
    if any(digits in squeezed for digits in _PHONES):
        found.append("phone")
    return found


def leaks(lines: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """One description per offending line: which rules it breaks, and the line."""
    extra = tuple(extra)
    out = []
    for line in lines:
        if broken := findings(line, extra):
            out.append(f"{', '.join(broken)}: {line[:500]}")
    return out


# --- the capture --------------------------------------------------------------------------


class Capture(logging.Handler):
    """Every record, as a JSON line; a test's lines are checked at its teardown."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []  # the running test's, or those between tests
        self.tokens: set[str] = set()  # access tokens the simulator issued during the test
        self.files: list[pathlib.Path] = []  # child processes' logs written during the test

    def emit(self, record: logging.LogRecord) -> None:
        # Formatted now, while the record's arguments still say what they said.
        try:
            self.lines.append(self.format(record))
        except Exception:  # a broken record must not break the code that logged it
            self.handleError(record)

    def file_lines(self) -> Iterator[str]:
        for path in self.files:
            if path.exists():
                yield from path.read_text(errors="replace").splitlines()


# A stack, not one slot: a pytester session run inline (tests/test_logs_no_pii.py) installs
# its own capture inside the outer test's and must hand the outer one back intact.
_installed: list[Capture] = []


def install() -> Capture:
    _installed.append(Capture())
    return _installed[-1]


def uninstall(capture: Capture) -> None:
    _installed.remove(capture)


def _current() -> Capture | None:
    return _installed[-1] if _installed else None


def captured() -> list[str]:
    """The running test's log lines so far (for tests that assert what was logged)."""
    capture = _current()
    assert capture is not None, "the log capture is not installed (tests/conftest.py)"
    return list(capture.lines)


def watch(path: pathlib.Path) -> None:
    """Check ``path`` (a child process's log) at the end of the running test."""
    if (capture := _current()) is not None:
        capture.files.append(path)


def note_token(token: str) -> None:
    if (capture := _current()) is not None:
        capture.tokens.add(token)
