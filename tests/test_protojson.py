"""The v3 front's JSON (bridge/fronts/_protojson.py) must be exactly protobuf's
json_format: what Parse answers, message or error, for any body, and what MessageToDict
writes for any message. It only takes a faster road for the plain ones."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bridge._proto import booking_v3_pb2 as pb
from bridge.fronts import _protojson
from bridge.fronts.rest import METHODS

REQUESTS = [cls for cls, _ in METHODS.values()]
ANSWERS = [getattr(pb, f"{name}Response") for name in METHODS]

# Values any field may be given, right or wrong for it.
_ODD = st.sampled_from([None, 1.5, 2.0, True, False, "", "12", "-7", "1_000", " 1", "+3", "1e3", "x\ud800y", "Zoë",
                        "NaN", 2**63, -(2**31) - 1, [], {}, [None], ["a"], [1]])


def _value(field: FieldDescriptor, depth: int, odd: bool) -> st.SearchStrategy[Any]:
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        if depth > 2 or field.message_type.GetOptions().map_entry:
            one: st.SearchStrategy[Any] = st.just({})
        else:
            one = _object(field.message_type, depth + 1, odd)
    elif field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        one = st.sampled_from([v.name for v in field.enum_type.values] + (["NOT_A_VALUE", 1] if odd else []))
    elif field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        one = st.booleans()
    elif field.cpp_type == FieldDescriptor.CPPTYPE_STRING:
        one = st.text(max_size=8) if odd else st.text(st.characters(codec="utf-8"), max_size=8)
    elif field.cpp_type in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        one = st.floats(width=32, allow_nan=False, allow_infinity=False)
    else:
        one = st.one_of(st.integers(-(2**64), 2**64), st.integers(-(2**40), 2**40).map(str)) if odd \
            else st.integers(0, 2**31 - 1)
    if odd:
        one = st.one_of(one, one, one, _ODD)  # mostly right
    return st.lists(one, max_size=3 if odd else 2) if field.is_repeated else one


def _object(descriptor: Descriptor, depth: int = 0, odd: bool = True) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """Key-value pairs (a key may come twice, under either of a field's names); ``odd``:
    values of the wrong kind too, and unknown keys."""
    if not odd:  # one key per field, and per oneof: what json_format reads without complaint
        grouped = [st.tuples(st.just(f.containing_oneof.name if f.containing_oneof else f.name),
                             st.sampled_from([f.name, f.json_name]), _value(f, depth, odd)) for f in descriptor.fields]
        if not grouped:
            return st.just([])
        pairs = st.lists(st.one_of(*grouped), max_size=6 >> depth, unique_by=lambda g: g[0])
        return pairs.map(lambda gs: [(key, value) for _, key, value in gs])
    keyed = [st.tuples(st.sampled_from([f.name, f.json_name]), _value(f, depth, odd)) for f in descriptor.fields]
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
        # Some of protobuf's own errors name an object by its address (a surrogate in a
        # key: "<built-in method get of … at 0x7f…>"), which differs between two parses.
        return "error", re.sub(r"0x[0-9a-f]+", "0x…", str(exc))
    return "message", message


@pytest.mark.parametrize("cls", REQUESTS, ids=lambda cls: cls.__name__)
@settings(max_examples=100, deadline=None)
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


@pytest.mark.parametrize("cls", ANSWERS, ids=lambda cls: cls.__name__)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_any_answer_is_written_as_message_to_dict_writes_it(cls: Any, data: st.DataObject) -> None:
    message = cls()
    try:  # any message json_format would read: every field type, set or not
        json_format.Parse(_text(data.draw(_object(cls.DESCRIPTOR, odd=False))), message, ignore_unknown_fields=True)
    except json_format.ParseError:
        assume(False)
    assert _protojson.to_dict(message) == json_format.MessageToDict(message, preserving_proto_field_name=True)


def test_an_enum_number_without_a_name_is_written_as_message_to_dict_writes_it() -> None:
    message = pb.CreateBookingResponse(booking=pb.Booking(booking_id="b", status=99))
    assert _protojson.to_dict(message) == json_format.MessageToDict(message, preserving_proto_field_name=True)


def test_a_plain_availability_answer_takes_the_fast_road(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("json_format was asked")

    monkeypatch.setattr(json_format, "MessageToDict", refuse)
    answer = pb.BatchAvailabilityLookupResponse(slot_time_availability=[
        pb.SlotTimeAvailability(slot_time=pb.SlotTime(service_id="s", start_sec=1790000000 + 900 * i, duration_sec=1800,
                                                      resource_ids=pb.ResourceIds(staff_id="st")), available=i % 2 == 0)
        for i in range(3)])
    written = _protojson.to_dict(answer)
    assert written["slot_time_availability"][0] == {
        "slot_time": {"service_id": "s", "start_sec": "1790000000", "duration_sec": "1800",
                      "resource_ids": {"staff_id": "st"}},
        "available": True}
    assert "available" not in written["slot_time_availability"][1]  # false is the default: left out
