"""HubSpot's official Python SDK (hubspot-api-client 12.0.0) against the sandbox.

The SDK's generated models must parse our bodies: if a field name or shape drifts from
HubSpot's, these fail (docs/hubspot-behaviour.md, "Python SDK" for the model names).
"""

from __future__ import annotations

import pytest
from hubspot import HubSpot
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.objects.exceptions import ApiException
from hubspot.crm.properties import PropertyCreate

from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

from sandbox_helpers import KEY


def client(sb: Sandbox) -> HubSpot:
    # DiscoveryBase sets every extra keyword on each API's Configuration: host= points it here.
    return HubSpot(access_token=DEFAULT_TOKEN, host=sb.url)


def upsert_input(key: str, trace: str | None = None, **props: str) -> SimplePublicObjectBatchInputUpsert:
    props.setdefault("hs_course_name", f"Course {key}")
    return SimplePublicObjectBatchInputUpsert(id=key, id_property=KEY, properties=props, object_write_trace_id=trace)


def test_sdk_batch_upsert_200(keyed: Sandbox) -> None:
    batch = client(keyed).crm.objects.batch_api
    res = batch.upsert(object_type="0-410", batch_input_simple_public_object_batch_input_upsert=(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=[upsert_input("c-1"), upsert_input("c-2")])))
    assert type(res).__name__ == "BatchResponseSimplePublicUpsertObject"
    assert res.status == "COMPLETE" and len(res.results) == 2
    assert all(r.new is True and r.id.isdigit() for r in res.results)
    assert {r.properties[KEY] for r in res.results} == {"c-1", "c-2"}
    again = batch.upsert(object_type="0-410", batch_input_simple_public_object_batch_input_upsert=(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=[upsert_input("c-1")])))
    assert again.results[0].new is False and again.results[0].created_at is not None


def test_sdk_batch_upsert_207(keyed: Sandbox) -> None:
    batch = client(keyed).crm.objects.batch_api
    res = batch.upsert(object_type="0-410", batch_input_simple_public_object_batch_input_upsert=(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
            upsert_input("ok", trace="t-ok"), upsert_input("bad", trace="t-bad", hs_enrollment_capacity="x")])))
    assert type(res).__name__ == "BatchResponseSimplePublicUpsertObjectWithErrors"
    assert res.num_errors == 1 and res.errors[0].context == {"objectWriteTraceId": ["t-bad"]}
    assert res.errors[0].category == "VALIDATION_ERROR"
    assert [r.object_write_trace_id for r in res.results] == ["t-ok"]


def test_sdk_batch_upsert_400_raises(keyed: Sandbox) -> None:
    batch = client(keyed).crm.objects.batch_api
    with pytest.raises(ApiException) as exc:
        batch.upsert(object_type="0-410", batch_input_simple_public_object_batch_input_upsert=(
            BatchInputSimplePublicObjectBatchInputUpsert(inputs=[upsert_input("a"), upsert_input("a")])))
    assert exc.value.status == 400 and "Duplicate IDs found in batch input" in exc.value.body


def test_sdk_batch_read_with_missing_id(keyed: Sandbox) -> None:
    api = client(keyed)
    created = api.crm.objects.batch_api.upsert(object_type="0-410", batch_input_simple_public_object_batch_input_upsert=(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=[upsert_input("c-1")]))).results[0]
    res = api.crm.objects.batch_api.read(object_type="0-410", batch_read_input_simple_public_object_id=(
        BatchReadInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=created.id), SimplePublicObjectId(id="1")],
                                           properties=["hs_course_name"], properties_with_history=[])))
    assert type(res).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert res.results[0].id == created.id and res.results[0].properties == {"hs_course_name": "Course c-1"}
    assert res.errors[0].category == "OBJECT_NOT_FOUND" and res.errors[0].context == {"ids": ["1"]}


def test_sdk_properties_get_and_create(sb: Sandbox) -> None:
    core = client(sb).crm.properties.core_api
    everything = core.get_all(object_type="0-410")
    names = {p.name for p in everything.results}
    assert {"hs_course_name", "hs_enrollment_capacity"} <= names
    one = core.get_by_name(object_type="0-410", property_name="hs_pipeline_stage")
    assert one.type == "enumeration" and one.options[0].value
    assert one.modification_metadata.read_only_value is False
    made = core.create(object_type="0-410", property_create=PropertyCreate(
        name=KEY, label="LMS key", type="string", field_type="text", group_name="course_information",
        has_unique_value=True))
    assert made.name == KEY and made.has_unique_value is True and made.created_at is not None
