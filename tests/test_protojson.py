"""The v3 front's body parser (bridge/fronts/_protojson.py) must answer exactly what
protobuf's json_format.Parse answers, message or error, for any body: it only takes a
faster road for the plain ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.fronts import _protojson
from bridge.fronts.rest import METHODS

REQUESTS = [cls for cls, _ in METHODS.values()]

# Values any field may be given, right or wrong for it.
_ODD = st.sampled_from([None, 1.5, 2.0, True, False, "", "12", "-7", "1_000", " 1", "+3", "1e3", "x\ud800y", "Zoë",
                        "NaN", 2**63, -(2**31) - 1, [], {}, [None], ["a"], [1]])


def _value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        if depth > 3 or field.message_type.GetOptions().map_entry:
            one: st.SearchStrategy[Any] = st.just({})
        else:
            one = _object(field.message_type, depth + 1)
    elif field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        one = st.sampled_from([v.name for v in field.enum_type.values] + ["NOT_A_VALUE", 1])
    elif field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        one = st.booleans()
    elif field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        one = st.text(max_size=8)
    else:
        one = st.one_of(st.integers(-(2**64), 2**64), st.integers(-(2**40), 2**40).map(str))
    one = st.one_of(one, one, one, _ODD)  # mostly right
    return st.lists(one, max_size=3) if field.is_repeated else one


def _object(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """Key-value pairs (a key may come twice, under either of a field's names)."""
    keyed = [st.tuples(st.sampled_from([f.name, f.json_name]), _value(f, depth)) for f in descriptor.fields]
    unknown = st.tuples(st.sampled_from(["unknown", "[ext.name]", "Slot"]), st.integers())
    return st.lists(st.one_of(*keyed, unknown) if keyed else unknown, max_size=6)


def _text(pairs: Any) -> str:
    """JSON text, keeping duplicate keys (which json.dumps of a dict cannot)."""
    if isinstance(pairs, list) and all(isinstance(p, tuple) for p in pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{_text(v)}" for k, v in pairs) + "}"
    if isinstance(pairs, list):
        return "[" + ",".join(_text(v) for v in pairs) + "]"
    return json.dumps(pairs)


def _outcome(parse: Any) -> tuple[str, Any]:
    try:
        message = parse()
    except json_format.ParseError as exc:
        return "error", str(exc)
    return "message", message


@pytest.mark.parametrize("cls", REQUESTS, ids=lambda cls: cls.__name__)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_body_parses_as_json_format_parses_it(cls: Any, data: st.DataObject) -> None:
    text = _text(data.draw(_object(cls.DESCRIPTOR)))

    def protobufs() -> Any:
        message = cls()
        json_format.Parse(text, message, ignore_unknown_fields=True)
        return message

    assert _outcome(lambda: _protojson.parse(cls, text)) == _outcome(protobufs)


@pytest.mark.parametrize(("method", "text"), [
    *(("CreateBooking", text) for text in ["", "[]", "1", '"x"', "null", "{", '{"a": 1, "a": 2}', '{"slot": {"a": 1, "a": 1}}']),
    ("CreateBooking", '{"slot": {"start_sec": true}}'),
    ("CreateBooking", '{"slot": {"start_sec": 2.0}}'),
    ("CreateBooking", '{"slot": {"start_sec": 1.5}}'),
    ("CreateBooking", '{"idempotency_token": "x\\ud800y"}'),
    ("CreateBooking", '{"[ext.name]": 1}'),
    # A field under both its names: the later wins, a list whole.
    ("BatchAvailabilityLookup", '{"slot_time": [{"service_id": "a"}], "slotTime": [{"service_id": "b"}]}'),
    ("CreateBooking", '{"idempotency_token": "a", "idempotencyToken": "b"}'),
])
def test_an_odd_body_gets_json_format_s_answer(method: str, text: str) -> None:
    cls = METHODS[method][0]

    def protobufs() -> Any:
        message = cls()
        json_format.Parse(text, message, ignore_unknown_fields=True)
        return message

    assert _outcome(lambda: _protojson.parse(cls, text)) == _outcome(protobufs)


def test_a_plain_booking_request_takes_the_fast_road(monkeypatch: pytest.MonkeyPatch) -> None:
    """What Actions Center sends is never handed to json_format (its cost is why this exists)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("json_format was asked")

    monkeypatch.setattr(json_format, "Parse", refuse)
    cls = METHODS["CreateBooking"][0]
    text = json.dumps({
        "idempotency_token": "t", "slot": {"merchant_id": "m", "service_id": "s", "start_sec": "1790000000",
                                           "duration_sec": 1800, "resources": {"staff_id": "st", "party_size": 2}},
        "user_information": {"user_id": "u", "given_name": "Zoë", "email": "z@example.com"},
        "payment_information": {"prepaymentStatus": "PREPAYMENT_NOT_PROVIDED"}, "unknown": [1],
    })
    message = _protojson.parse(cls, text)
    assert message.slot.start_sec == 1790000000
    assert message.slot.resources.party_size == 2
    assert message.user_information.given_name == "Zoë"
