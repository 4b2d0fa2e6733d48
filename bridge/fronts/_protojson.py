"""A v3 request body (proto3 JSON) into its message: protobuf's json_format.Parse, the
plain cases first.

json_format walks each field through layers of pure Python: about 55 µs for a
CreateBooking body, some 3 % of what the bridge spends on the call. A request the way Actions
Center sends it (known fields with strings, integers or integer strings, enum names,
booleans, objects and lists of them) is filled in here from a table built once per
message type. Anything else (a null, a float, bytes, a map, a well-known type, an
unknown enum name, a string with an unpaired surrogate, a duplicate key, a field named
twice, two members of one oneof, …) is not decided here: the body goes to
json_format.Parse, so its answer and its errors are exactly protobuf's. Unknown fields
are ignored, as the v3 front asks of json_format.
"""

from __future__ import annotations

import json
import re
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_INTEGER = re.compile(r"-?[0-9]+\Z")
# Enough for Actions Center's messages; a deeper body is left to json_format.
_MAX_DEPTH = 16


class _Unsure(Exception):
    """Left to json_format."""


def parse(cls: type[Message], text: str) -> Message:
    """``cls`` from ``text``, as ``json_format.Parse(text, cls(), ignore_unknown_fields=True)``."""
    message = cls()
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
        if type(data) is not dict:
            raise _Unsure
        _fill(message, data, 0)
    except (_Unsure, ValueError, RecursionError):
        message = cls()
        json_format.Parse(text, message, ignore_unknown_fields=True)
    return message


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _Unsure  # json_format refuses a duplicate key, in its own words
    return found


def _fill(message: Message, data: dict[str, Any], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _Unsure
    fields = _fields(message.DESCRIPTOR)
    seen: set[str] = set()
    for key, value in data.items():
        known = fields.get(key)
        if known is None:
            if key.startswith("["):  # an extension's name: refused even when unknown
                raise _Unsure
            continue
        name, oneof, repeated, convert = known
        if value is None or name in seen:
            raise _Unsure
        seen.add(name)
        if oneof is not None:
            if oneof in seen:
                raise _Unsure
            seen.add(oneof)
        if repeated:
            if type(value) is not list:
                raise _Unsure
            target = getattr(message, name)
            for item in value:
                if convert is None:
                    if type(item) is not dict:
                        raise _Unsure
                    _fill(target.add(), item, depth + 1)
                else:
                    target.append(convert(item))
        elif convert is None:
            if type(value) is not dict:
                raise _Unsure
            sub = getattr(message, name)
            sub.SetInParent()
            _fill(sub, value, depth + 1)
        else:
            setattr(message, name, convert(value))


# Per message type, each field under its JSON name and its own name: (its name, its
# oneof's name or None, whether repeated, its value's conversion or None for a message).
_TABLES: dict[str, dict[str, tuple[str, str | None, bool, Any]]] = {}


def _fields(descriptor: Descriptor) -> dict[str, tuple[str, str | None, bool, Any]]:
    table = _TABLES.get(descriptor.full_name)
    if table is None:
        table = {}
        for field in descriptor.fields:
            oneof = field.containing_oneof
            entry = (field.name, None if oneof is None else oneof.name, field.is_repeated, _converter(field))
            table[field.json_name] = table[field.name] = entry
        _TABLES[descriptor.full_name] = table
    return table


def _converter(field: FieldDescriptor) -> Any:
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        if field.message_type.GetOptions().map_entry or field.message_type.full_name.startswith("google.protobuf."):
            return _unsure
        return None
    if field.cpp_type == FieldDescriptor.CPPTYPE_STRING and field.type != FieldDescriptor.TYPE_BYTES:
        return _string
    if field.cpp_type == FieldDescriptor.CPPTYPE_BOOL:
        return _bool
    if field.cpp_type in _INTEGERS:
        return _integer
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        by_name = {value.name: value.number for value in field.enum_type.values}
        return lambda value: _enum(by_name, value)
    return _unsure  # floats and bytes


_INTEGERS = frozenset({FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64,
                       FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64})


def _unsure(value: Any) -> Any:
    raise _Unsure


def _string(value: Any) -> str:
    # One with an unpaired surrogate is refused by setattr (a ValueError): left to json_format.
    if type(value) is not str:
        raise _Unsure
    return value


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _Unsure
    return value


def _integer(value: Any) -> int:
    # Out of the field's range, setattr raises ValueError, which is also left to json_format.
    if type(value) is int:
        return value
    if type(value) is str and _INTEGER.match(value):
        return int(value)
    raise _Unsure


def _enum(by_name: dict[str, int], value: Any) -> int:
    if type(value) is not str:
        raise _Unsure
    number = by_name.get(value)
    if number is None:
        raise _Unsure
    return number
