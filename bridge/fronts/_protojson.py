"""Proto3 JSON for the v3 front, as protobuf's json_format reads and writes it, the plain
cases first.

json_format walks each field through layers of pure Python: about 55 µs to parse a
CreateBooking body, 350 µs to print a BatchAvailabilityLookup answer of 50 slots. The
messages Actions Center and the bridge exchange are plain (known fields with strings,
integers, enum names, booleans, objects and lists of them), and are read and written
here from a table built once per message type.

``parse``: anything else (a null, a float, bytes, a map, a well-known type, an unknown
enum name, a string with an unpaired surrogate, a duplicate key, a field named twice,
two members of one oneof, …) is not decided here: the body goes to json_format.Parse,
so its answer and its errors are exactly protobuf's. Unknown fields are ignored, as the
v3 front asks of json_format.

``to_dict``: a message holding anything else (a float, bytes, a map, a well-known type,
an enum number without a name) is printed by json_format.MessageToDict whole.
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
        return None if _plain_message(field) else _unsure
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


def _plain_message(field: FieldDescriptor) -> bool:
    """Neither a map's entry nor a well-known type: json_format writes those its own way."""
    message = field.message_type
    return not message.GetOptions().map_entry and not message.full_name.startswith("google.protobuf.")


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


# -- printing ---------------------------------------------------------------------------------


def to_dict(message: Message) -> dict[str, Any]:
    """As ``json_format.MessageToDict(message, preserving_proto_field_name=True)``."""
    try:
        return _dict(message)
    except _Unsure:
        return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _dict(message: Message) -> dict[str, Any]:
    descriptor = message.DESCRIPTOR
    printers = _PRINTERS.get(descriptor) or _printers(descriptor)
    out: dict[str, Any] = {}
    for field, value in message.ListFields():  # by field number, as json_format lists them
        known = printers.get(field)
        if known is None:  # an extension
            raise _Unsure
        name, repeated, write = known
        out[name] = [write(item) for item in value] if repeated else write(value)
    return out


# Per message type, each field (its descriptor) → (its name, whether repeated, how one
# value is written). Keyed by the descriptors themselves: asking one its name costs more.
_PRINTERS: dict[Any, dict[Any, tuple[str, bool, Any]]] = {}


def _printers(descriptor: Descriptor) -> dict[Any, tuple[str, bool, Any]]:
    table = {field: (field.name, field.is_repeated, _writer(field)) for field in descriptor.fields}
    _PRINTERS[descriptor] = table
    return table


def _writer(field: FieldDescriptor) -> Any:
    if field.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
        return _dict if _plain_message(field) else _unsure
    if field.cpp_type in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return str
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        names = {value.number: value.name for value in field.enum_type.values}
        return lambda number: _name(names, number)
    if field.cpp_type in _INTEGERS or field.cpp_type == FieldDescriptor.CPPTYPE_BOOL or (
            field.cpp_type == FieldDescriptor.CPPTYPE_STRING and field.type != FieldDescriptor.TYPE_BYTES):
        return _same
    return _unsure  # floats and bytes


def _same(value: Any) -> Any:
    return value


def _name(names: dict[int, str], number: int) -> str:
    name = names.get(number)
    if name is None:
        raise _Unsure
    return name
