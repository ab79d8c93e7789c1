"""Request bodies, chunks and trace ids, and response decoding: the client's pure pieces."""

from __future__ import annotations

import pytest

from hubspot_courses_destination.hubspot.bodies import (
    BATCH_LIMIT,
    archive_body,
    chunks,
    decode_json,
    outgoing,
    prepare_rows,
    read_body,
    upsert_body,
)
from hubspot_courses_destination.hubspot.models import UpsertRow


def test_chunks_of_at_most_the_batch_limit() -> None:
    assert [len(c) for c in chunks(list(range(250)))] == [BATCH_LIMIT, BATCH_LIMIT, 50]
    assert chunks([]) == []


def test_prepare_rows_gives_unique_trace_ids_and_keeps_given_ones() -> None:
    rows = prepare_rows([UpsertRow("a", {}), UpsertRow("b", {}, trace_id="mine")])
    assert rows[1].trace_id == "mine" and rows[0].trace_id and rows[0].trace_id != "mine"
    with pytest.raises(ValueError, match="duplicate row key"):
        prepare_rows([UpsertRow("a", {}), UpsertRow("a", {})])
    with pytest.raises(ValueError, match="duplicate objectWriteTraceId"):
        prepare_rows([UpsertRow("a", {}, "t"), UpsertRow("b", {}, "t")])
    with pytest.raises(ValueError, match="non-empty string key"):
        prepare_rows([UpsertRow("", {})])


def test_bodies() -> None:
    assert upsert_body([UpsertRow("a", {"x": "1"}, "t0")], "key") == {
        "inputs": [{"id": "a", "idProperty": "key", "objectWriteTraceId": "t0", "properties": {"x": "1"}}]
    }
    assert read_body(["a"], None, ["x"]) == {"inputs": [{"id": "a"}], "properties": ["x"], "propertiesWithHistory": []}
    assert read_body(["a"], "key", [])["idProperty"] == "key"
    assert archive_body(["1", "2"]) == {"inputs": [{"id": "1"}, {"id": "2"}]}


def test_outgoing_encodes_the_body_once() -> None:
    request = outgoing("http://h", "POST", "/p", {"a": 1}, row_keys=["k"])
    assert (request.url, request.data, request.row_keys, request.safe_to_repeat) == ("http://h/p", b'{"a":1}', ["k"], True)
    assert outgoing("http://h", "GET", "/p").data is None


@pytest.mark.parametrize(
    "content, expected",
    [(b"", None), (b'{"a": 1}', {"a": 1}), (b"<html>502</html>", None), (b'{"a": NaN}', "nan")],
)
def test_decode_json(content: bytes, expected: object) -> None:
    decoded = decode_json(content)
    if expected == "nan":
        assert decoded["a"] != decoded["a"]  # what orjson refuses, the json module reads
    else:
        assert decoded == expected
