"""The cassette file and the recording transport: what an exchange becomes on disk."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import pathlib

import httpx
import pytest

from bridge.cassette import Cassette, Meta, load
from bridge.cassette._format import CassetteError, Exchange, body_bytes, interaction
from bridge.cassette._record import RecordingTransport

T0 = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone.utc)


def exchange(**overrides: object) -> Exchange:
    fields: dict[str, object] = {
        "method": "POST",
        "url": "https://qmatic.invalid/external/v1/reservations",
        "request_headers": (
            ("Host", "qmatic.invalid"),
            ("User-Agent", "python-httpx/0.28.1"),
            ("Content-Type", "application/json"),
            ("X-TENANT-ID", "<tenant-1>"),
            ("Content-Length", "12"),
        ),
        "request_body": b'{"a": [1, 2]}',
        "status": 201,
        "reason": "Created",
        "response_headers": (
            ("Date", "Mon, 23 Nov 2026 07:00:00 GMT"),
            ("Content-Type", "application/json"),
            ("Retry-After", "3"),
        ),
        "response_body": b'{"appointmentId": "a-1"}',
    }
    fields.update(overrides)
    return Exchange(**fields)  # type: ignore[arg-type]


def meta(**overrides: object) -> Meta:
    fields: dict[str, object] = {
        "scenario": "s",
        "recorded_at": T0,
        "base_url": "https://qmatic.invalid/external/v1",
        "token_url": "https://qmatic.invalid/oauth2/token",
    }
    fields.update(overrides)
    return Meta(**fields)  # type: ignore[arg-type]


def test_an_exchange_keeps_only_the_headers_that_matter_and_decodes_json() -> None:
    entry = interaction(exchange())
    assert entry == {
        "request": {
            "method": "POST",
            "uri": "https://qmatic.invalid/external/v1/reservations",
            "headers": {"content-type": ["application/json"], "x-tenant-id": ["<tenant-1>"]},
            "body": {"json": {"a": [1, 2]}},
        },
        "response": {
            "status": {"code": 201, "message": "Created"},
            "headers": {"content-type": ["application/json"], "retry-after": ["3"]},
            "body": {"json": {"appointmentId": "a-1"}},
        },
    }


def test_bodies_that_are_not_json_stay_text() -> None:
    entry = interaction(
        exchange(
            request_headers=(("Content-Type", "application/x-www-form-urlencoded"),),
            request_body=b"grant_type=client_credentials",
            response_headers=(("Content-Type", "application/json"),),
            response_body=b"<html>bad gateway</html>",
        )
    )
    assert entry["request"]["body"] == {"string": "grant_type=client_credentials"}
    # A JSON content type over a broken body is itself a finding: kept verbatim.
    assert entry["response"]["body"] == {"string": "<html>bad gateway</html>"}


def test_empty_bodies() -> None:
    entry = interaction(exchange(method="DELETE", request_headers=(), request_body=b"", status=204, response_body=b""))
    assert entry["request"]["body"] is None
    assert entry["response"]["body"] == {"string": ""}
    assert body_bytes(entry["response"]["body"]) == b""
    assert body_bytes(None) == b""


def test_recorded_bodies_are_served_back_as_the_same_document() -> None:
    assert json.loads(body_bytes({"json": {"x": ["é", 1, None]}})) == {"x": ["é", 1, None]}
    assert body_bytes({"string": "plain"}) == b"plain"


def test_dumps_is_sorted_indented_and_independent_of_insertion_order(tmp_path: pathlib.Path) -> None:
    one = Cassette(meta(offering={"b": 1, "a": 2}), [interaction(exchange())])
    reordered = interaction(exchange())
    reordered["response"] = dict(reversed(list(reordered["response"].items())))
    two = Cassette(meta(offering={"a": 2, "b": 1}), [reordered])
    assert one.dumps() == two.dumps()
    text = one.dumps()
    assert text.endswith("}\n") and '\n  "booking_bridge": {' in text
    document = json.loads(text)
    assert list(document) == ["booking_bridge", "interactions", "version"]
    assert document["version"] == 1


def test_write_and_load_round_trip(tmp_path: pathlib.Path) -> None:
    original = Cassette(
        meta(
            partial=True,
            error="boom",
            slots=[{"start": "x", "end": "y"}],
            inputs={"day": "2026-11-24"},
            divergences=["d"],
        ),
        [interaction(exchange())],
    )
    path = tmp_path / "deep" / "s.json"
    original.write(path)
    again = load(path)
    assert again == original
    assert again.meta.recorded_at == T0
    assert [p.name for p in path.parent.iterdir()] == ["s.json"]  # no temporary file left


@pytest.mark.parametrize(
    "text, problem",
    [
        ("not json", "not JSON"),
        ('{"version": 2, "interactions": []}', "version 1"),
        ('{"version": 1, "interactions": [{"request": {}}], "booking_bridge": {}}', "interactions"),
        ('{"version": 1, "interactions": []}', "booking_bridge"),
        ('{"version": 1, "interactions": [], "booking_bridge": {"scenario": "s"}}', "incomplete"),
    ],
)
def test_what_is_not_a_cassette_is_refused_with_a_reason(text: str, problem: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(CassetteError) as err:
        load(path)
    assert problem in str(err.value)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed, as from the network", "in memory, as from a mock"])
async def test_the_recording_transport_keeps_decoded_bodies_and_passes_answers_through(streamed: bool) -> None:
    seen: list[bytes] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        payload = gzip.compress(b'{"ok": true}')
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        if streamed:
            return httpx.Response(200, headers=headers, stream=httpx.ByteStream(payload))
        return httpx.Response(200, headers=headers, content=payload)

    recording = RecordingTransport(httpx.MockTransport(upstream))
    async with httpx.AsyncClient(transport=recording) as client:
        response = await client.post("https://up.example/x?q=1", json={"n": 1}, headers={"X-TENANT-ID": "t"})
    assert response.json() == {"ok": True}
    assert seen == [b'{"n":1}']
    [recorded] = recording.exchanges
    assert (recorded.method, recorded.url, recorded.status, recorded.reason) == (
        "POST",
        "https://up.example/x?q=1",
        200,
        "OK",
    )
    assert recorded.request_body == b'{"n":1}'
    assert recorded.response_body == b'{"ok": true}'
    assert ("x-tenant-id", "t") in [(k.lower(), v) for k, v in recorded.request_headers]


async def test_the_recording_transport_records_nothing_for_a_request_that_got_no_answer() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    recording = RecordingTransport(httpx.MockTransport(down))
    async with httpx.AsyncClient(transport=recording) as client:
        with pytest.raises(httpx.ConnectError, match="^refused$"):
            await client.get("https://up.example/x")
    assert recording.exchanges == []
