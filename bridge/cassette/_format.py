"""The cassette file: vcrpy's JSON layout plus a ``booking_bridge`` block of our own.

::

    {"version": 1,
     "interactions": [{"request":  {"method", "uri", "headers": {name: [values]}, "body"},
                       "response": {"status": {"code", "message"}, "headers", "body"}}],
     "booking_bridge": {"scenario", "recorded_at", "partial", "error", "base_url", ...}}

One departure from vcrpy, for readable diffs: a body is ``{"json": value}`` when it is
JSON and ``{"string": text}`` otherwise (vcrpy always stores the text under "string");
an empty request body is ``null``. Keys are sorted and the file is indented, so
re-recording a scenario changes only the lines whose values changed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

VERSION = 1  # vcrpy's cassette format version
META_KEY = "booking_bridge"

# Only these headers say something about the contract; the rest (date, server,
# user-agent, content-length, connection...) would make every recording differ.
REQUEST_HEADERS = frozenset({"accept", "accept-language", "authorization", "content-type", "x-account", "x-tenant-id"})
RESPONSE_HEADERS = frozenset({"content-type", "location", "retry-after", "www-authenticate"})


class CassetteError(ValueError):
    """A file that is not a cassette this version can read."""


@dataclass(frozen=True)
class Exchange:
    """One request and its answer as they crossed the wire, before redaction."""

    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int
    reason: str
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes  # decoded (no content-encoding)


@dataclass
class Meta:
    scenario: str
    # The recording clock's time when the scenario started; replay runs the bridge then.
    recorded_at: dt.datetime
    base_url: str
    token_url: str
    partial: bool = False
    error: str | None = None
    # What the scenario used, so a replay can ask the bridge for the same things.
    offering: dict[str, Any] = field(default_factory=dict)
    slots: list[dict[str, str]] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    # Where the upstream answered other than docs/upstream-contract.md says.
    divergences: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "recorded_at": self.recorded_at.isoformat(),
            "base_url": self.base_url,
            "token_url": self.token_url,
            "partial": self.partial,
            "error": self.error,
            "offering": self.offering,
            "slots": self.slots,
            "inputs": self.inputs,
            "divergences": self.divergences,
        }

    @classmethod
    def from_json(cls, data: Any) -> Meta:
        if not isinstance(data, dict):
            raise CassetteError(f"{META_KEY!r} must be an object")
        try:
            return cls(
                scenario=str(data["scenario"]),
                recorded_at=dt.datetime.fromisoformat(data["recorded_at"]),
                base_url=str(data["base_url"]),
                token_url=str(data["token_url"]),
                partial=bool(data.get("partial", False)),
                error=data.get("error"),
                offering=dict(data.get("offering") or {}),
                slots=list(data.get("slots") or []),
                inputs=dict(data.get("inputs") or {}),
                divergences=list(data.get("divergences") or []),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CassetteError(f"{META_KEY!r} is incomplete or malformed: {exc}") from None


@dataclass
class Cassette:
    meta: Meta
    interactions: list[dict[str, Any]]

    def dumps(self) -> str:
        document = {"version": VERSION, "interactions": self.interactions, META_KEY: self.meta.to_json()}
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def loads(cls, text: str) -> Cassette:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise CassetteError(f"not JSON: {exc}") from None
        if not isinstance(document, dict) or document.get("version") != VERSION:
            raise CassetteError(f"not a version {VERSION} cassette")
        interactions = document.get("interactions")
        if not isinstance(interactions, list) or not all(_is_interaction(i) for i in interactions):
            raise CassetteError("'interactions' must be a list of {request, response} objects")
        return cls(meta=Meta.from_json(document.get(META_KEY)), interactions=interactions)

    def write(self, path: pathlib.Path) -> None:
        """Replace ``path`` whole: a reader never sees half a cassette."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # A plain open, not mkstemp: the file gets the umask's mode, like any file to commit.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(self.dumps(), encoding="utf-8")
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def load(path: str | os.PathLike[str]) -> Cassette:
    path = pathlib.Path(path)
    try:
        return Cassette.loads(path.read_text(encoding="utf-8"))
    except CassetteError as exc:
        raise CassetteError(f"{path}: {exc}") from None


def interaction(exchange: Exchange) -> dict[str, Any]:
    """The cassette entry for an exchange: only the headers that matter, bodies decoded."""
    request_type = _header(exchange.request_headers, "content-type")
    response_type = _header(exchange.response_headers, "content-type")
    return {
        "request": {
            "method": exchange.method,
            "uri": exchange.url,
            "headers": _headers(exchange.request_headers, REQUEST_HEADERS),
            "body": _body(exchange.request_body, request_type) if exchange.request_body else None,
        },
        "response": {
            "status": {"code": exchange.status, "message": exchange.reason},
            "headers": _headers(exchange.response_headers, RESPONSE_HEADERS),
            "body": _body(exchange.response_body, response_type),
        },
    }


def body_bytes(body: dict[str, Any] | None) -> bytes:
    """A recorded body back as the bytes to serve."""
    if not body:
        return b""
    if "json" in body:
        return json.dumps(body["json"], ensure_ascii=False).encode("utf-8")
    return str(body.get("string") or "").encode("utf-8")


def _body(content: bytes, content_type: str) -> dict[str, Any]:
    text = content.decode("utf-8", errors="replace")
    if "json" in content_type.lower() and text.strip():
        try:
            return {"json": json.loads(text)}
        except ValueError:
            pass  # a JSON content type with a broken body is itself worth keeping verbatim
    return {"string": text}


def _headers(headers: Iterable[tuple[str, str]], keep: frozenset[str]) -> dict[str, list[str]]:
    kept: dict[str, list[str]] = {}
    for name, value in headers:
        if name.lower() in keep:
            kept.setdefault(name.lower(), []).append(value)
    return kept


def _header(headers: Iterable[tuple[str, str]], name: str) -> str:
    return next((value for key, value in headers if key.lower() == name), "")


def _is_interaction(item: object) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("request"), dict)
        and isinstance(item.get("response"), dict)
        and isinstance(item["request"].get("method"), str)
        and isinstance(item["request"].get("uri"), str)
    )
