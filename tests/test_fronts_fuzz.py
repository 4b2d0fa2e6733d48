"""Property: whatever a caller sends, every front answers it cleanly.

Random requests against a real bridge (the harness: simulator over HTTP, gRPC and REST on
loopback). Each example is one of: a well-formed request of the method with one or two
fields set to random values of their type (extreme integers and timestamps, odd strings,
unknown enum numbers), so the value reaches the validators; a message of the method with
random fields throughout; for v3, a field's value swapped for JSON of another type, or
JSON junk; for v0/v2, random bytes as a malformed message. No answer may be a 500,
INTERNAL or UNKNOWN, no error text may run long, and nothing is written upstream: the
requests name the real merchant but never a real service, lease or booking, so even one
that passes every check is refused before any hold or change.

Hypothesis drives plain functions in a worker thread; each example's call runs on the
harness's event loop (run_coroutine_threadsafe). derandomize=True: the same examples on
every run, so CI is deterministic, and no example database is kept.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import grpc
from google.protobuf import descriptor as d
from google.protobuf import json_format, message_factory
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge._proto import booking_v0_pb2 as v0
from bridge._proto import booking_v2_pb2 as v2
from bridge.failures import MAX_MESSAGE
from bridge.fronts.rest import METHODS
from bridge.simulator import seed

from . import test_v2_grpc as v2_calls
from .harness import Harness, at, client_message, lease_message

T = TypeVar("T")
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NO_SERVICE = "no-such-service"
START, MINUTES = at(1, 10), 30
INT64, INT32 = (-(2**63), 2**63 - 1), (-(2**31), 2**31 - 1)
NOW = int(at(0, 8).timestamp())
# Boundaries the validators care about, and times around the harness's clock.
INTERESTING = [0, 1, -1, 59, 60, 1800, 86400, 86401, *INT64, *INT32, 253_402_300_799, 253_402_300_800,
               -62_135_596_800, NOW, NOW + 86400, NOW + 3 * 365 * 86400, 4_102_444_800, 999_999_999, 10**9]
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
STRINGS = st.one_of(TEXT, st.sampled_from(["", " ", seed.STOCKHOLM, "a@example.com", "x" * 300, "é" * 256]))
PATHS = ["status", "start_time", "duration", "slot.start_time", "slot.duration", "slot.resources.party_size"]
FAIL = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
F = d.FieldDescriptor


def ints(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(low, high), st.sampled_from([i for i in INTERESTING if low <= i <= high]))


def scalar(field: d.FieldDescriptor) -> st.SearchStrategy[Any]:
    """A value of the field's type: any the protobuf runtime lets one set."""
    t = field.type
    if t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return ints(*INT64)
    if t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32, F.TYPE_ENUM):  # proto3 enums are open
        return ints(*INT32)
    if t in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return ints(0, 2**64 - 1)
    if t in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return ints(0, 2**32 - 1)
    if t == F.TYPE_BOOL:
        return st.booleans()
    if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(width=32)
    if t == F.TYPE_BYTES:
        return st.binary(max_size=16)
    return st.one_of(st.sampled_from(PATHS), STRINGS) if field.name == "paths" else STRINGS


def leaves(descriptor: d.Descriptor, depth: int = 0) -> list[tuple[d.FieldDescriptor, ...]]:
    """Every path from the message to a scalar field, four messages deep at most."""
    found: list[tuple[d.FieldDescriptor, ...]] = []
    for field in descriptor.fields:
        if field.message_type is None:
            found.append((field,))
        elif field.message_type.GetOptions().map_entry:
            continue  # maps (payment tokenization parameters): nothing the bridge reads
        elif depth < 4:
            found += [(field, *rest) for rest in leaves(field.message_type, depth + 1)]
    return found


def set_leaf(message: Message, path: tuple[d.FieldDescriptor, ...], value: Any) -> None:
    for field in path[:-1]:
        container = getattr(message, field.name)
        message = (container[0] if len(container) else container.add()) if field.is_repeated else container
    last = path[-1]
    if last.is_repeated:
        getattr(message, last.name).extend(value)
    else:
        setattr(message, last.name, value)


def present(message: Message) -> list[tuple[d.FieldDescriptor, ...]]:
    """The paths to the scalar fields the message sets: the ones the bridge reads."""
    found: list[tuple[d.FieldDescriptor, ...]] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            found.append((field,))
        else:
            for item in value if field.is_repeated else [value]:
                found += [(field, *rest) for rest in present(item)]
    return found


@st.composite
def mutated(draw: st.DrawFn, template: Message) -> Message:
    """The template with one to three fields set to random values of their type: mostly
    fields it sets (so the rest of the request stays valid and the value is what gets
    judged), sometimes any field of its type."""
    message = type(template)()
    message.CopyFrom(template)
    paths = st.one_of(st.sampled_from(present(template)), st.sampled_from(present(template)),
                      st.sampled_from(leaves(message.DESCRIPTOR)))
    for path in draw(st.lists(paths, min_size=1, max_size=3)):
        value = draw(st.lists(scalar(path[-1]), max_size=40) if path[-1].is_repeated else scalar(path[-1]))
        set_leaf(message, path, value)
    return message


@st.composite
def anything(draw: st.DrawFn, descriptor: d.Descriptor) -> Message:
    """A message of the type with random fields set, nothing else."""
    message = message_factory.GetMessageClass(descriptor)()
    for path in draw(st.lists(st.sampled_from(leaves(descriptor)), max_size=8)):
        value = draw(st.lists(scalar(path[-1]), max_size=4) if path[-1].is_repeated else scalar(path[-1]))
        set_leaf(message, path, value)
    return message


def messages(template: Message) -> st.SearchStrategy[Message]:
    return st.one_of(mutated(template), mutated(template), mutated(template), anything(template.DESCRIPTOR))


def on_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, T]], T]:
    return lambda coro: asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)


# -- v3 JSON ----------------------------------------------------------------------------

_SLOT = {"merchant_id": seed.STOCKHOLM, "service_id": NO_SERVICE, "start_sec": int(START.timestamp()),
         "duration_sec": MINUTES * 60, "resources": {"party_size": 1}}
_USER = {"user_id": "u-1", "given_name": "Zebulon", "family_name": "Quartermaine", "email": "z@example.com",
         "telephone": "+1 555-0199"}
V3_TEMPLATES = {
    "BatchAvailabilityLookup": {"merchant_id": seed.STOCKHOLM, "slot_time": [
        {"service_id": NO_SERVICE, "start_sec": _SLOT["start_sec"], "duration_sec": 1800}]},
    "CheckAvailability": {"slot": _SLOT},
    "CreateLease": {"lease": {"slot": _SLOT, "user_reference": "r-1", "lease_expiration_time_sec": NOW + 600}},
    "CreateBooking": {"slot": _SLOT, "idempotency_token": "t-1", "user_information": _USER},
    "UpdateBooking": {"booking": {"booking_id": "b-none", "slot": {"start_sec": _SLOT["start_sec"], "duration_sec": 1800}}},
    "GetBookingStatus": {"booking_id": "b-none"},
    "ListBookings": {"user_id": "u-1"},
}
assert set(V3_TEMPLATES) == set(METHODS)

JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def v3_body(draw: st.DrawFn, method: str) -> bytes:
    template = json_format.ParseDict(V3_TEMPLATES[method], METHODS[method][0]())
    body = json_format.MessageToDict(draw(messages(template)), preserving_proto_field_name=True)
    if body and draw(st.integers(0, 3)) == 0:  # now and then, a value of the wrong JSON type
        body[draw(st.sampled_from(sorted(body)))] = draw(JUNK)
    return json.dumps(body).encode()


_V3_BODIES = st.sampled_from(sorted(METHODS)).flatmap(lambda m: st.tuples(st.just(m), v3_body(m)))
V3_CASES = st.one_of(
    _V3_BODIES, _V3_BODIES, _V3_BODIES,
    st.tuples(st.sampled_from(sorted(METHODS)), st.one_of(JUNK.map(lambda v: json.dumps(v).encode()), st.binary(max_size=64))),
)


async def test_v3_answers_any_body_without_a_500_or_an_upstream_write(harness: Harness) -> None:
    run = on_loop(asyncio.get_running_loop())
    seen: set[int] = set()

    @FUZZ
    @given(V3_CASES)
    def check(case: tuple[str, bytes]) -> None:
        method, body = case
        r = run(harness.rest.post(f"/{method}", content=body))
        seen.add(r.status_code)
        assert r.status_code in (200, 400, 404), (r.status_code, r.text)
        if r.status_code != 200:
            error = r.json()["error"]
            assert error["code"] == r.status_code and len(error["message"]) <= MAX_MESSAGE, error

    await asyncio.to_thread(check)
    assert v2_calls.writes(harness) == 0
    assert {200, 400, 404} <= seen  # examples got past parsing, not only refused outright


# -- v0 and v2 protobuf ------------------------------------------------------------------


def _v0_update() -> v0.UpdateBookingRequest:
    booking = v0.Booking(booking_id="b-none", status=v0.CANCELED)
    booking.start_time.FromDatetime(START)
    booking.duration.FromSeconds(1800)
    return v0.UpdateBookingRequest(booking=booking, update_mask={"paths": ["start_time", "duration"]})


GRPC_TEMPLATES: dict[str, Message] = {
    "v0/CreateLease": v0.CreateLeaseRequest(lease=lease_message(START, service=NO_SERVICE)),
    "v0/CreateBooking": v0.CreateBookingRequest(lease_ref=v0.LeaseReference(lease_id="l-none"),
                                                client_information=client_message()),
    "v0/UpdateBooking": _v0_update(),
    "v2/CreateLease": v2_calls.lease_request(START, service=NO_SERVICE, minutes=MINUTES),
    "v2/CreateBooking": v2_calls.booking_request(START, service=NO_SERVICE, minutes=MINUTES),
    "v2/UpdateBooking": v2_calls.reschedule_request("b-none", START, service=NO_SERVICE, minutes=MINUTES),
    "v2/CheckAvailability": v2.CheckAvailabilityRequest(slot=v2_calls.slot(START, service=NO_SERVICE, minutes=MINUTES)),
    "v2/BatchAvailabilityLookup": v2.BatchAvailabilityLookupRequest(
        merchant_id=seed.STOCKHOLM, slot_time=[v2.SlotTime(service_id=NO_SERVICE, start_sec=_SLOT["start_sec"],
                                                           duration_sec=1800)]),
    "v2/GetBookingStatus": v2.GetBookingStatusRequest(booking_id="b-none"),
    "v2/ListBookings": v2.ListBookingsRequest(user_id="u-1"),
}
_PACKAGE = {"v0": v0.DESCRIPTOR.package, "v2": v2.DESCRIPTOR.package}


def grpc_path(name: str) -> str:
    front, method = name.split("/")
    return f"/{_PACKAGE[front]}.BookingService/{method}"


_GRPC_MESSAGES = st.sampled_from(sorted(GRPC_TEMPLATES)).flatmap(
    lambda name: st.tuples(st.just(name), messages(GRPC_TEMPLATES[name]).map(lambda m: m.SerializeToString())))
GRPC_CASES = st.one_of(
    _GRPC_MESSAGES, _GRPC_MESSAGES, _GRPC_MESSAGES,
    # Bytes that mostly do not parse; those that do are validated like any message.
    st.tuples(st.sampled_from(sorted(GRPC_TEMPLATES)), st.binary(max_size=64)),
)


async def test_v0_and_v2_answer_any_message_without_internal_or_an_upstream_write(harness: Harness) -> None:
    assert {m.name for m in v0.DESCRIPTOR.services_by_name["BookingService"].methods} | {
        m.name for m in v2.DESCRIPTOR.services_by_name["BookingService"].methods
    } == {name.split("/")[1] for name in GRPC_TEMPLATES}
    run = on_loop(asyncio.get_running_loop())
    # Bytes in, bytes out: the bridge parses, so a malformed message reaches it as sent.
    calls = {name: harness.channel.unary_unary(grpc_path(name)) for name in GRPC_TEMPLATES}
    seen: set[grpc.StatusCode] = set()

    async def send(name: str, body: bytes) -> tuple[grpc.StatusCode, str]:
        try:
            await calls[name](body, timeout=10)
        except grpc.aio.AioRpcError as err:
            return err.code(), err.details() or ""
        return grpc.StatusCode.OK, ""

    @FUZZ
    @given(GRPC_CASES)
    def check(case: tuple[str, bytes]) -> None:
        name, body = case
        code, details = run(send(name, body))
        seen.add(code)
        assert code not in FAIL, (name, code, details)
        assert len(details) <= MAX_MESSAGE

    await asyncio.to_thread(check)
    assert v2_calls.writes(harness) == 0
    assert {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND} <= seen
