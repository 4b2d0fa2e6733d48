"""What the upstream client sends is the JSON httpx's ``json=`` would send, byte for byte:
recorded cassettes and the simulator's checks compare bodies, and a customer's name in
any script must reach Qmatic as written."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bridge.upstream._exchange import json_body

# What the client's bodies hold (bridge/upstream/_models.py): no floats.
_SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text()
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                       max_leaves=20)


def httpx_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@given(_VALUES)
def test_a_body_is_what_httpx_would_send(value: Any) -> None:
    assert json_body(value) == httpx_json(value)


def test_names_in_any_script_and_control_characters() -> None:
    body = {"firstName": "Åsa \u00e9\u4e2d\U0001f600", "notes": "line\nbreak \"quoted\" \\ \u2028 \x01", "n": 3}
    assert json_body(body) == httpx_json(body)
    assert "Åsa".encode() in json_body(body)
