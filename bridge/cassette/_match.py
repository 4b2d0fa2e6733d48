"""Does a request the code made match the one the cassette recorded?

Method, path, query and body must match. A placeholder in the recording (``<email-1>``)
matches any value, provided that one placeholder stands for one value across the whole
replay: the test's own customer, key and token may differ from the recording's, but
where the recording sent the same value twice the code must too.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from ._redact import PLACEHOLDER


class Bindings:
    """Placeholder -> the value it stood for in this replay."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def match_request(self, recorded: dict[str, Any], actual: httpx.Request) -> bool:
        """Whether ``actual`` is ``recorded``; bindings change only when it is."""
        trial = Bindings()
        trial.values = dict(self.values)
        if not trial._request(recorded, actual):
            return False
        self.values = trial.values
        return True

    def disguise(self, text: str) -> str:
        """``text`` with bound values shown as their placeholders, for a diff against the recording."""
        for placeholder, value in sorted(self.values.items(), key=lambda kv: len(kv[1]), reverse=True):
            if value:
                text = text.replace(value, placeholder)
        return text

    def _request(self, recorded: dict[str, Any], actual: httpx.Request) -> bool:
        if recorded.get("method") != actual.method:
            return False
        want = urlsplit(recorded.get("uri", ""))
        got = urlsplit(str(actual.url))
        if not self._text(want.path, got.path):
            return False
        want_query = sorted(parse_qsl(want.query, keep_blank_values=True), key=lambda kv: kv[0])
        got_query = sorted(parse_qsl(got.query, keep_blank_values=True), key=lambda kv: kv[0])
        if [k for k, _ in want_query] != [k for k, _ in got_query]:
            return False
        if not all(self._text(w, g) for (_, w), (_, g) in zip(want_query, got_query)):
            return False
        return self._body(recorded.get("body"), actual.content)

    def _body(self, recorded: dict[str, Any] | None, content: bytes) -> bool:
        if not recorded:
            return not content
        text = content.decode("utf-8", errors="replace")
        if "json" in recorded:
            try:
                value = json.loads(text)
            except ValueError:
                return False
            return self._value(recorded["json"], value)
        return self._text(str(recorded.get("string") or ""), text)

    def _value(self, recorded: Any, actual: Any) -> bool:
        if isinstance(recorded, dict):
            return (
                isinstance(actual, dict)
                and recorded.keys() == actual.keys()
                and all(self._value(recorded[k], actual[k]) for k in recorded)
            )
        if isinstance(recorded, list):
            return (
                isinstance(actual, list)
                and len(recorded) == len(actual)
                and all(self._value(r, a) for r, a in zip(recorded, actual))
            )
        if isinstance(recorded, str):
            return isinstance(actual, str) and self._text(recorded, actual)
        # 1 == True in Python, not in JSON.
        return type(recorded) is type(actual) and recorded == actual

    def _text(self, recorded: str, actual: str) -> bool:
        names = PLACEHOLDER.findall(recorded)
        if not names:
            return recorded == actual
        literals = PLACEHOLDER.split(recorded)
        pattern, unbound = re.escape(literals[0]), []
        for name, literal in zip(names, literals[1:]):
            bound = self.values.get(name)
            if bound is not None:
                pattern += re.escape(bound)
            else:
                pattern += "(.+?)"
                unbound.append(name)
            pattern += re.escape(literal)
        found = re.fullmatch(pattern, actual, re.DOTALL)
        if found is None:
            return False
        for name, value in zip(unbound, found.groups()):
            if self.values.setdefault(name, value) != value:
                return False  # the same placeholder twice in one string, with two values
        return True
