"""Batch read, batch archive, list and get-one
(docs/hubspot-behaviour.md, "Reading and archiving")."""

from __future__ import annotations

from hubspot_courses_destination.sandbox import Sandbox

from sandbox_helpers import KEY, Api, course

READ = "/crm/v3/objects/0-410/batch/read"
ARCHIVE = "/crm/v3/objects/0-410/batch/archive"
LIST = "/crm/v3/objects/0-410"


def _ids(api: Api, n: int) -> dict[str, str]:
    """Create n courses; key -> record id."""
    res = api.upsert([course(f"c-{i}", hs_enrollment_capacity=str(i)) for i in range(n)]).json()["results"]
    return {r["properties"][KEY]: r["id"] for r in res}


def test_batch_read_by_record_id_returns_requested_properties(keyed: Sandbox, api: Api) -> None:
    ids = _ids(api, 3)
    r = api.post(READ, {"inputs": [{"id": ids["c-1"]}, {"id": ids["c-2"]}],
                        "properties": ["hs_enrollment_capacity", "hs_course_description"], "propertiesWithHistory": []})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "COMPLETE" and "errors" not in body
    got = {x["id"]: x["properties"] for x in body["results"]}
    # requested properties only; ones without a value do not appear
    # (docs/hubspot-behaviour.md, "Reading and archiving")
    assert got == {ids["c-1"]: {"hs_enrollment_capacity": "1"}, ids["c-2"]: {"hs_enrollment_capacity": "2"}}


def test_batch_read_unknown_ids_is_207_object_not_found(keyed: Sandbox, api: Api) -> None:
    ids = _ids(api, 1)
    r = api.post(READ, {"inputs": [{"id": ids["c-0"]}, {"id": "999"}, {"id": "nope"}], "properties": []})
    assert r.status_code == 207
    body = r.json()
    assert len(body["results"]) == 1 and body["numErrors"] == 1
    (err,) = body["errors"]
    assert err["status"] == "error" and err["category"] == "OBJECT_NOT_FOUND"
    assert err["context"] == {"ids": ["999", "nope"]}
    assert "Could not get some COURSE objects" in err["message"]


def test_batch_read_by_unique_id_property(keyed: Sandbox, api: Api) -> None:
    ids = _ids(api, 2)
    r = api.post(READ, {"idProperty": KEY, "inputs": [{"id": "c-1"}, {"id": "c-9"}], "properties": [KEY]})
    assert r.status_code == 207
    assert [(x["id"], x["properties"]) for x in r.json()["results"]] == [(ids["c-1"], {KEY: "c-1"})]
    assert r.json()["errors"][0]["context"]["ids"] == ["c-9"]
    bad = api.post(READ, {"idProperty": "hs_course_id", "inputs": [{"id": "x"}], "properties": []})
    assert bad.status_code == 400


def test_archive_is_204_and_hides_records(keyed: Sandbox, api: Api) -> None:
    ids = _ids(api, 2)
    r = api.post(ARCHIVE, {"inputs": [{"id": ids["c-0"]}, {"id": "12345"}]})  # unknown id: 204 anyway
    assert r.status_code == 204 and r.content == b""
    assert [x["properties"][KEY] for x in keyed.records()] == ["c-1"]
    assert keyed.record_by(KEY, "c-0") is None
    read = api.post(READ, {"inputs": [{"id": ids["c-0"]}], "properties": []})
    assert read.status_code == 207
    listed = api.get(LIST).json()["results"]
    assert [x["id"] for x in listed] == [ids["c-1"]]
    archived = api.get(LIST, params={"archived": "true"}).json()["results"]
    assert [(x["id"], x["archived"]) for x in archived] == [(ids["c-0"], True)]
    assert api.get(f"{LIST}/{ids['c-0']}").status_code == 404
    assert api.post(ARCHIVE, {"inputs": [{"id": ids["c-0"]}]}).status_code == 204  # again: still 204


def test_list_pages_with_after_cursor(keyed: Sandbox, api: Api) -> None:
    ids = _ids(api, 25)
    first = api.get(LIST).json()
    assert len(first["results"]) == 10  # default limit
    seen: list[str] = []
    params: dict[str, str] = {"limit": "7", "properties": "hs_enrollment_capacity,hs_course_name"}
    pages = 0
    while True:
        body = api.get(LIST, params=params).json()
        pages += 1
        seen += [x["id"] for x in body["results"]]
        assert all(set(x["properties"]) <= {"hs_enrollment_capacity", "hs_course_name"} for x in body["results"])
        nxt = body.get("paging", {}).get("next")
        if not nxt:
            break
        assert nxt["link"].startswith(keyed.url)
        params["after"] = nxt["after"]
    assert pages == 4 and sorted(seen) == sorted(ids.values()) and len(set(seen)) == 25


def test_list_limit_is_capped_at_100(keyed: Sandbox, api: Api) -> None:
    api.upsert([course(f"a-{i}") for i in range(100)])
    api.upsert([course(f"b-{i}") for i in range(5)])
    body = api.get(LIST, params={"limit": "500"}).json()
    assert len(body["results"]) == 100 and "next" in body["paging"]
    assert api.get(LIST, params={"limit": "ten"}).status_code == 400


def test_get_one_by_record_id_and_id_property(keyed: Sandbox, api: Api) -> None:
    ids = _ids(api, 1)
    r = api.get(f"{LIST}/{ids['c-0']}", params={"properties": "hs_enrollment_capacity"})
    assert r.status_code == 200
    assert r.json()["id"] == ids["c-0"] and r.json()["properties"] == {"hs_enrollment_capacity": "0"}
    by_key = api.get(f"{LIST}/c-0", params={"idProperty": KEY})
    assert by_key.status_code == 200 and by_key.json()["id"] == ids["c-0"]
    missing = api.get(f"{LIST}/424242")
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
