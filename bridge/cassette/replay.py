"""Replay: a cassette loaded into a respx router that answers exactly the recorded requests, in order.

Give ``replay.transport`` to the code under test (``Bridge.open(..., transport=)`` or
``QmaticClient(..., transport=)``) and configure it with ``replay.meta.base_url`` and
``token_url``. The n-th request must match the n-th recorded one (see ``_match``) and gets
its recorded answer. Anything else — a request the cassette lacks, or recorded requests
never made — is a ``CassetteMismatch`` whose message diffs the recorded requests against
the ones made.
"""

from __future__ import annotations

import difflib
import json
import os
import pathlib
from typing import Any
from urllib.parse import urlsplit

import httpx
import respx

from ._format import Cassette, Meta, body_bytes, load
from ._match import Bindings


class CassetteMismatch(AssertionError):
    """The code's upstream requests are not the cassette's."""


class Replay:
    def __init__(self, cassette: Cassette, name: str = ""):
        self.cassette = cassette
        self.name = name or cassette.meta.scenario
        self.bindings = Bindings()
        self.made: list[httpx.Request] = []
        self._broken_at: int | None = None
        # Also usable as a context manager (``with replay.router:``), which routes every
        # httpx client in the process here, not only the ones given ``transport``.
        self.router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
        self.router.route(name="cassette").mock(side_effect=self._answer)
        self.transport = httpx.MockTransport(self.router.handler)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Replay:
        path = pathlib.Path(path)
        return cls(load(path), path.stem)

    @property
    def meta(self) -> Meta:
        return self.cassette.meta

    @property
    def diverged(self) -> bool:
        return self._broken_at is not None

    @property
    def unused(self) -> int:
        return max(0, len(self.cassette.interactions) - len(self.made))

    def verify(self) -> None:
        """Raise CassetteMismatch unless every recorded request, and nothing else, was made."""
        if self.diverged or self.unused:
            raise CassetteMismatch(self.report())

    def report(self) -> str:
        recorded = self.cassette.interactions
        if self._broken_at is None:
            headline = f"{self.unused} of the {len(recorded)} recorded request(s) were never made"
        elif self._broken_at >= len(recorded):
            headline = f"request {self._broken_at + 1} was made after the cassette's last ({len(recorded)})"
        else:
            headline = f"request {self._broken_at + 1} is not the one the cassette recorded there"
        expected = [line for item in recorded for line in _recorded_lines(item["request"])]
        actual = [line for request in self.made for line in self._made_lines(request)]
        diff = difflib.unified_diff(
            expected, actual, fromfile=f"cassette {self.name} (recorded)", tofile="requests made", lineterm="", n=2
        )
        return f"cassette {self.name!r}: {headline}\n" + "\n".join(diff)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.made.append(request)
        index = len(self.made) - 1
        recorded = self.cassette.interactions
        if (
            self._broken_at is None
            and index < len(recorded)
            and self.bindings.match_request(recorded[index]["request"], request)
        ):
            return _response(recorded[index]["response"], request)
        if self._broken_at is None:
            self._broken_at = index
        # Raised into the code under test, which may swallow it; the pytest plugin reports it anyway.
        raise CassetteMismatch(self.report())

    def _made_lines(self, request: httpx.Request) -> list[str]:
        url = urlsplit(str(request.url))
        lines = [self.bindings.disguise(f"{request.method} {_path(url.path, url.query)}")]
        content = request.content
        if content:
            text = content.decode("utf-8", errors="replace")
            try:
                text = _compact(json.loads(text))
            except ValueError:
                pass
            lines.append("    " + self.bindings.disguise(text))
        return lines


def _recorded_lines(request: dict[str, Any]) -> list[str]:
    url = urlsplit(request["uri"])
    lines = [f"{request['method']} {_path(url.path, url.query)}"]
    body = request.get("body")
    if body:
        lines.append("    " + (_compact(body["json"]) if "json" in body else str(body.get("string") or "")))
    return lines


def _response(recorded: dict[str, Any], request: httpx.Request) -> httpx.Response:
    headers = [(name, value) for name, values in recorded.get("headers", {}).items() for value in values]
    return httpx.Response(
        recorded["status"]["code"], headers=headers, content=body_bytes(recorded.get("body")), request=request
    )


def _path(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
