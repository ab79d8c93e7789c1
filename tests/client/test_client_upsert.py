"""batch_upsert against the sandbox: outcomes, chunking, partial failure, whole-batch refusals."""

from __future__ import annotations

from typing import Callable

import pytest

from hubspot_courses_destination.hubspot import HubSpotClient, PropertyError, UpsertRow
from hubspot_courses_destination.errors import ObjectNotActivatedError, RequestRejectedError
from hubspot_courses_destination.sandbox import Sandbox

from .conftest import COURSES, ID_PROPERTY, keys_in, rows, settle

UPSERT = "/batch/upsert"


def test_created_then_updated_with_hubspot_ids(sandbox: Sandbox, client: HubSpotClient) -> None:
    first = client.batch_upsert(COURSES, ID_PROPERTY, rows(3))
    assert [o.status for o in first] == ["created"] * 3
    by_key = {r["properties"][ID_PROPERTY]: r for r in sandbox.records()}
    for o in first:
        assert o.hubspot_id == by_key[o.key]["id"]
        assert o.trace_id and o.category is None and o.property_errors == ()

    second = client.batch_upsert(COURSES, ID_PROPERTY, [UpsertRow("c-00001", {"hs_course_name": "Renamed"}), *rows(1, start=3)])
    assert [(o.key, o.status) for o in second] == [("c-00001", "updated"), ("c-00003", "created")]
    assert second[0].hubspot_id == first[1].hubspot_id
    assert sandbox.record_by(ID_PROPERTY, "c-00001")["properties"]["hs_course_name"] == "Renamed"  # type: ignore[index]
    assert len(sandbox.records()) == 4
    assert settle(sandbox).count_requests("POST", UPSERT) == 2


def test_chunks_of_at_most_100_each_input_with_unique_trace_id(sandbox: Sandbox, client: HubSpotClient) -> None:
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(250))
    assert [o.key for o in outcomes] == [r.key for r in rows(250)]  # one outcome per row, input order
    assert {o.status for o in outcomes} == {"created"}
    assert len({o.trace_id for o in outcomes}) == 250
    assert len({o.hubspot_id for o in outcomes}) == 250
    assert sorted(e.n_inputs for e in settle(sandbox).request_log if e.path.endswith(UPSERT)) == [50, 100, 100]  # type: ignore[type-var]
    assert keys_in(sandbox) == sorted(r.key for r in rows(250))


def test_results_arrive_shuffled_and_are_matched_by_trace_id(sandbox: Sandbox, client: HubSpotClient) -> None:
    # The sandbox shuffles results; names differ per row, so a positional match would show.
    outcomes = client.batch_upsert(COURSES, ID_PROPERTY, rows(100))
    for o in outcomes:
        record = sandbox.record_by(ID_PROPERTY, o.key)
        assert record is not None and record["id"] == o.hubspot_id
        assert record["properties"]["hs_course_name"] == f"Course {int(o.key[2:])}"


def test_partial_failure_writes_valid_rows_and_reports_each_invalid_one(sandbox: Sandbox, client: HubSpotClient) -> None:
    batch = [
        *rows(2),
        UpsertRow("bad-number", {"hs_course_name": "B", "hs_enrollment_capacity": "lots"}),
        UpsertRow("bad-property", {"hs_course_name": "C", "no_such_property": "x"}),
        *rows(2, start=2),
    ]
    outcomes = {o.key: o for o in client.batch_upsert(COURSES, ID_PROPERTY, batch)}
    assert keys_in(sandbox) == ["c-00000", "c-00001", "c-00002", "c-00003"]
    assert [outcomes[k].status for k in ("c-00000", "c-00001", "c-00002", "c-00003")] == ["created"] * 4

    bad_number = outcomes["bad-number"]
    assert (bad_number.status, bad_number.category, bad_number.code, bad_number.hubspot_id) == (
        "rejected", "VALIDATION_ERROR", "INVALID_INTEGER", None,
    )
    assert bad_number.property_errors == (PropertyError("hs_enrollment_capacity", "INVALID_INTEGER", "lots was not a valid number"),)
    bad_property = outcomes["bad-property"]
    assert bad_property.status == "rejected" and bad_property.code == "PROPERTY_DOESNT_EXIST"
    assert bad_property.property_errors[0].name == "no_such_property"
    assert settle(sandbox).count_requests("POST", UPSERT) == 1  # a 207 is an answer, not a retry


def test_duplicate_keys_raise_before_anything_is_sent(sandbox: Sandbox, client: HubSpotClient) -> None:
    with pytest.raises(ValueError, match="duplicate row key 'c-00001'"):
        client.batch_upsert(COURSES, ID_PROPERTY, [*rows(2), *rows(1, start=1)])
    assert client.batch_upsert(COURSES, ID_PROPERTY, []) == []
    assert settle(sandbox).count_requests("POST", UPSERT) == 0


def test_whole_request_refusal_is_terminal_with_hubspot_metadata(sandbox: Sandbox, client: HubSpotClient) -> None:
    with pytest.raises(RequestRejectedError) as info:
        client.batch_upsert(COURSES, "hs_course_name", rows(2))  # not a unique-value property
    err = info.value
    assert err.status == 400 and err.category == "VALIDATION_ERROR" and err.correlation_id
    assert err.row_keys == ("c-00000", "c-00001")
    assert "non-unique" in str(err)
    assert sandbox.records() == []
    # no retry: one request, then both halves refused the same way -> not about a row, raised
    assert settle(sandbox).count_requests("POST", UPSERT) == 3


def test_object_not_activated(sandbox: Sandbox, client: HubSpotClient) -> None:
    sandbox.set_object_enabled(False)
    assert client.is_object_enabled(COURSES) is False
    with pytest.raises(ObjectNotActivatedError, match="Super Admin"):
        client.batch_upsert(COURSES, ID_PROPERTY, rows(1))
    sandbox.set_object_enabled(True)
    assert client.is_object_enabled(COURSES) is True


def test_terminal_error_in_one_chunk_stops_the_others(sandbox: Sandbox, make_client: Callable[..., HubSpotClient]) -> None:
    client = make_client(sandbox, max_concurrency=1)
    batch = rows(1000)
    sandbox.set_object_enabled(False)
    with pytest.raises(ObjectNotActivatedError):
        client.batch_upsert(COURSES, ID_PROPERTY, batch)
    # with one worker, the queued chunks are cancelled after the first refusal
    assert settle(sandbox).count_requests("POST", UPSERT) < 10
