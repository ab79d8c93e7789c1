"""Properties API and object library (docs/hubspot-behaviour.md, "Properties" and "Activation")."""

from __future__ import annotations

import pytest

from hubspot_courses_destination.sandbox import Sandbox

from sandbox_helpers import Api, course

PROPS = "/crm/v3/properties/0-410"


def _create(api: Api, **over: object) -> dict:
    body = {"name": "lms_key", "label": "LMS key", "type": "string", "fieldType": "text",
            "groupName": "course_information", "hasUniqueValue": True}
    body.update(over)
    return body


def test_seeded_course_properties(sb: Sandbox, api: Api) -> None:
    r = api.get(PROPS)
    assert r.status_code == 200
    by_name = {p["name"]: p for p in r.json()["results"]}
    expected = {
        "hs_course_name": ("string", "text"), "hs_course_id": ("string", "text"),
        "hs_course_description": ("string", "textarea"), "hs_enrollment_capacity": ("number", "number"),
        "hs_pipeline": ("enumeration", "select"), "hs_pipeline_stage": ("enumeration", "select"),
        "hs_object_id": ("number", "number"), "hs_createdate": ("datetime", "date"),
        "hs_lastmodifieddate": ("datetime", "date"),
    }
    assert {n: (by_name[n]["type"], by_name[n]["fieldType"]) for n in expected} == expected
    # UNCONFIRMED (docs/hubspot-behaviour.md, "The Courses object"): not assumed
    assert by_name["hs_course_id"]["hasUniqueValue"] is False
    assert by_name["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
    assert by_name["hs_course_name"]["modificationMetadata"]["readOnlyValue"] is False
    assert by_name["hs_pipeline_stage"]["options"] and by_name["hs_course_name"]["hubspotDefined"] is True
    for p in by_name.values():
        assert {"label", "groupName", "options", "calculated", "createdAt", "updatedAt", "archived",
                "description", "modificationMetadata"} <= p.keys()


def test_get_one_property_and_404(sb: Sandbox, api: Api) -> None:
    r = api.get(f"{PROPS}/hs_course_name")
    assert r.status_code == 200 and r.json()["name"] == "hs_course_name"
    missing = api.get(f"{PROPS}/nope")
    assert missing.status_code == 404 and missing.json()["correlationId"]


def test_create_property_201_and_usable_as_id_property(sb: Sandbox, api: Api) -> None:
    r = api.post(PROPS, _create(api))
    assert r.status_code == 201
    p = r.json()
    assert (p["name"], p["hasUniqueValue"], p["hubspotDefined"], p["type"]) == ("lms_key", True, False, "string")
    assert p["modificationMetadata"] == {"archivable": True, "readOnlyDefinition": False, "readOnlyValue": False}
    assert api.get(f"{PROPS}/lms_key").json()["hasUniqueValue"] is True
    assert api.upsert([course("k1", id_property="lms_key")]).status_code == 200


def test_duplicate_name_is_409(sb: Sandbox, api: Api) -> None:
    assert api.post(PROPS, _create(api)).status_code == 201
    r = api.post(PROPS, _create(api, label="again"))
    assert r.status_code == 409 and r.json()["category"] == "CONFLICT"
    assert api.post(PROPS, _create(api, name="hs_course_name")).status_code == 409


@pytest.mark.parametrize("over", [
    {"name": "Bad-Name"}, {"name": "1abc"}, {"name": ""},
    {"type": "text"},                                   # not a type
    {"type": "number", "fieldType": "text"},            # invalid pair
    {"type": "bool", "fieldType": "select"},            # invalid pair
    {"type": "enumeration", "fieldType": "select"},     # options required
    {"groupName": None},                                # required attribute missing
])
def test_invalid_property_creation_is_400(sb: Sandbox, api: Api, over: dict) -> None:
    r = api.post(PROPS, _create(api, **over))
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert "lms_key" not in {p["name"] for p in sb.properties()}


def test_valid_pairs_from_the_notes_table(sb: Sandbox, api: Api) -> None:
    opts = [{"label": "A", "value": "a", "hidden": False}]
    for i, (t, f) in enumerate([("string", "textarea"), ("number", "number"), ("date", "date"),
                                ("datetime", "date"), ("bool", "booleancheckbox"), ("enumeration", "checkbox"),
                                ("enumeration", "radio")]):
        r = api.post(PROPS, _create(api, name=f"p{i}", type=t, fieldType=f, hasUniqueValue=False, options=opts))
        assert r.status_code == 201, (t, f, r.text)


def test_at_most_ten_unique_properties(sb: Sandbox, api: Api) -> None:
    for i in range(10):
        assert api.post(PROPS, _create(api, name=f"u{i}")).status_code == 201
    r = api.post(PROPS, _create(api, name="u10"))
    assert r.status_code == 400
    assert api.post(PROPS, _create(api, name="u10", hasUniqueValue=False)).status_code == 201


def test_create_property_needs_schema_write_scope(sb: Sandbox) -> None:
    sb.add_token("pat-objects-only", scopes={"crm.objects.courses.read", "crm.objects.courses.write"})
    limited = Api(sb.url, "pat-objects-only")
    r = limited.post(PROPS, _create(limited))
    assert r.status_code == 403
    body = r.json()
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.schemas.courses.write"]
    assert limited.get(PROPS).status_code == 200  # reading properties is fine with object scopes


def test_sandbox_create_property_raises_value_error(sb: Sandbox) -> None:
    sb.create_property("ok_name")
    with pytest.raises(ValueError, match="already exists"):
        sb.create_property("ok_name")


def test_object_library_enablement(sb: Sandbox, api: Api) -> None:
    sb.create_property("lms_course_key", has_unique_value=True)
    assert api.get("/crm/v3/object-library/enablement").json() == {"enablementByObjectTypeId": {"0-410": True}}
    assert api.get("/crm/v3/object-library/enablement/0-410").json() == {"enablement": True}
    sb.set_object_enabled(False)
    assert api.get("/crm/v3/object-library/enablement").json()["enablementByObjectTypeId"]["0-410"] is False
    assert api.get("/crm/v3/object-library/enablement/0-410").json() == {"enablement": False}
    r = api.upsert([course("c-1")])
    assert r.status_code == 403 and r.json()["category"] == "OBJECT_NOT_ENABLED"
    assert api.get("/crm/v3/objects/0-410").status_code == 403
    assert sb.records() == []
    sb.set_object_enabled(True)
    assert api.upsert([course("c-1")]).status_code == 200


def test_patch_property_replaces_options_and_keeps_unique_flag(sb: Sandbox, api: Api) -> None:
    sb.create_property("lms_course_key", has_unique_value=True)
    sb.create_property("level", type="enumeration", field_type="select",
                       options=[{"label": "Beginner", "value": "beginner"}])
    assert api.upsert([course("c-1", level="expert")]).status_code == 400
    r = api.session.patch(api.base_url + f"{PROPS}/level", json={"options": [
        {"label": "Beginner", "value": "beginner", "hidden": False},
        {"label": "Expert", "value": "expert", "hidden": False}]})
    assert r.status_code == 200 and [o["value"] for o in r.json()["options"]] == ["beginner", "expert"]
    assert api.upsert([course("c-1", level="expert")]).status_code == 200
    frozen = api.session.patch(api.base_url + f"{PROPS}/lms_course_key", json={"hasUniqueValue": False})
    assert frozen.status_code == 400 and api.get(f"{PROPS}/lms_course_key").json()["hasUniqueValue"] is True
    assert api.session.patch(api.base_url + f"{PROPS}/nope", json={"label": "x"}).status_code == 404


def test_add_option_helper(sb: Sandbox, api: Api) -> None:
    sb.create_property("lms_course_key", has_unique_value=True)
    assert api.upsert([course("c-1", hs_pipeline_stage="archived_stage")]).status_code == 400
    sb.add_option("hs_pipeline_stage", label="Archived", value="archived_stage")
    assert api.upsert([course("c-1", hs_pipeline_stage="archived_stage")]).status_code == 200
    with pytest.raises(ValueError):
        sb.add_option("no_such_property", label="x", value="x")


def test_property_groups_are_listed_and_an_unknown_group_is_refused(sb: Sandbox, api: Api) -> None:
    groups = api.get(PROPS + "/groups")
    assert groups.status_code == 200
    assert [g["name"] for g in groups.json()["results"]] == ["course_information"]
    refused = api.post(PROPS, _create(api, name="x_prop", hasUniqueValue=False, groupName="nope"))
    assert refused.status_code == 400 and "nope" in refused.json()["message"]
    assert "x_prop" not in {p["name"] for p in sb.properties()}
