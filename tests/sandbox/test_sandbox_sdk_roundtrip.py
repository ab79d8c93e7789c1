"""Issue 13, item 10: HubSpot's official Python SDK (hubspot-api-client 12.0.0) round-trips
every endpoint the sandbox serves, at least one call each through its generated clients. Each
test names the endpoint it covers; the SDK's models must parse every answer.

Covered elsewhere (test_sandbox_sdk.py): objects batch upsert (200/207/400), batch read (207),
properties get_all / get_by_name / create. The object-library enablement endpoints have no
generated client in the SDK, so they go through its generic `api_request`.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    AssociationSpec,
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicAssociationMultiArchive,
    PublicAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
    PublicObjectId,
)
from hubspot.crm.associations.v4.schema import PublicAssociationDefinitionCreateRequest
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert as ContactsUpsertBatch,
    BatchInputSimplePublicObjectId as ContactsIdBatch,
    BatchReadInputSimplePublicObjectId as ContactsReadBatch,
    Filter as ContactFilter,
    FilterGroup as ContactFilterGroup,
    PublicObjectSearchRequest as ContactSearch,
    SimplePublicObjectBatchInputUpsert as ContactUpsert,
    SimplePublicObjectId as ContactId,
)
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.objects.exceptions import ApiException
from hubspot.crm.properties import PropertyUpdate

from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

from sandbox_helpers import KEY


@pytest.fixture
def hs(keyed: Sandbox) -> HubSpot:
    return HubSpot(access_token=DEFAULT_TOKEN, host=keyed.url)


@pytest.fixture
def courses(hs: HubSpot) -> list[str]:
    """Three courses created through the SDK's batch upsert; their record ids."""
    res = hs.crm.objects.batch_api.upsert(object_type="0-410", batch_input_simple_public_object_batch_input_upsert=(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
            SimplePublicObjectBatchInputUpsert(id=f"c-{i}", id_property=KEY, properties={
                "hs_course_name": f"Course {i}", "hs_enrollment_capacity": str(10 * (i + 1))})
            for i in range(3)])))
    return sorted(r.id for r in res.results)


@pytest.fixture
def contacts(hs: HubSpot) -> Iterator[list[str]]:
    res = hs.crm.contacts.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=ContactsUpsertBatch(
        inputs=[ContactUpsert(id=e, id_property="email", properties={"firstname": n})
                for e, n in (("Ada@Example.com", "Ada"), ("bob@example.com", "Bob"))]))
    yield sorted(r.id for r in res.results)


# -- course objects ----------------------------------------------------------------------------
def test_objects_get_page_and_get_by_id(hs: HubSpot, courses: list[str]) -> None:
    """GET /crm/v3/objects/0-410 and GET /crm/v3/objects/0-410/{id}."""
    page = hs.crm.objects.basic_api.get_page(object_type="0-410", limit=2, properties=["hs_course_name"])
    assert type(page).__name__ == "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"
    assert [r.id for r in page.results] == courses[:2] and page.paging.next.after == courses[1]
    one = hs.crm.objects.basic_api.get_by_id(object_type="0-410", object_id=courses[0])
    assert one.properties["hs_course_name"] == "Course 0"
    by_key = hs.crm.objects.basic_api.get_by_id(object_type="0-410", object_id="c-2", id_property=KEY)
    assert by_key.id == courses[2]
    with pytest.raises(ApiException) as exc:
        hs.crm.objects.basic_api.get_by_id(object_type="0-410", object_id="1")
    assert exc.value.status == 404


def test_objects_batch_archive(hs: HubSpot, courses: list[str], keyed: Sandbox) -> None:
    """POST /crm/v3/objects/0-410/batch/archive (204: the SDK returns None)."""
    out = hs.crm.objects.batch_api.archive(object_type="0-410", batch_input_simple_public_object_id=(
        BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=courses[0])])))
    assert out is None and len(keyed.records()) == 2


def test_objects_search(hs: HubSpot, courses: list[str]) -> None:
    """POST /crm/v3/objects/0-410/search."""
    res = hs.crm.objects.search_api.do_search(object_type="0-410", public_object_search_request=(
        PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name="hs_enrollment_capacity", operator="GTE",
                                                       value="20")])],
            sorts=[{"propertyName": "hs_enrollment_capacity", "direction": "DESCENDING"}],
            properties=["hs_course_name"], limit=1)))
    assert type(res).__name__ == "CollectionResponseWithTotalSimplePublicObjectForwardPaging"
    assert res.total == 2 and res.results[0].properties == {"hs_course_name": "Course 2"}
    assert res.paging.next.after == "1"


# -- properties --------------------------------------------------------------------------------
def test_properties_update_and_groups(hs: HubSpot) -> None:
    """PATCH /crm/v3/properties/0-410/{name} and GET /crm/v3/properties/0-410/groups."""
    updated = hs.crm.properties.core_api.update(object_type="0-410", property_name=KEY,
                                                property_update=PropertyUpdate(label="LMS course key"))
    assert updated.label == "LMS course key"
    groups = hs.crm.properties.groups_api.get_all(object_type="0-410")
    assert [g.name for g in groups.results] == ["course_information"]


def test_object_library_enablement_via_api_request(keyed: Sandbox) -> None:
    """GET /crm/v3/object-library/enablement and .../enablement/0-410 (no generated client;
    `api_request` reads `base_url`, not `host`)."""
    hs = HubSpot(access_token=DEFAULT_TOKEN, base_url=keyed.url)
    everything = hs.api_request({"method": "GET", "path": "/crm/v3/object-library/enablement"})
    assert everything.status_code == 200 and everything.json()["enablementByObjectTypeId"]["0-410"] is True
    one = hs.api_request({"method": "GET", "path": "/crm/v3/object-library/enablement/0-410"})
    assert one.json() == {"enablement": True}


# -- contacts ----------------------------------------------------------------------------------
def test_contacts_upsert_read_list_get_search_archive(hs: HubSpot, contacts: list[str]) -> None:
    """POST /crm/v3/objects/contacts/batch/{upsert,read,archive}, GET .../contacts,
    GET .../contacts/{id}, POST .../contacts/search."""
    again = hs.crm.contacts.batch_api.upsert(batch_input_simple_public_object_batch_input_upsert=ContactsUpsertBatch(
        inputs=[ContactUpsert(id="ADA@example.com", id_property="email", properties={"lastname": "Lovelace"})]))
    assert again.results[0].new is False and again.results[0].id in contacts
    read = hs.crm.contacts.batch_api.read(batch_read_input_simple_public_object_id=ContactsReadBatch(
        inputs=[ContactId(id=contacts[0]), ContactId(id="42")], properties=["email"], properties_with_history=[]))
    assert type(read).__name__ == "BatchResponseSimplePublicObjectWithErrors"
    assert read.results[0].properties == {"email": "ada@example.com"} and read.errors[0].context == {"ids": ["42"]}
    page = hs.crm.contacts.basic_api.get_page(limit=1)
    assert page.results[0].id == contacts[0] and page.paging.next.after == contacts[0]
    one = hs.crm.contacts.basic_api.get_by_id(contact_id="bob@example.com", id_property="email")
    assert one.id == contacts[1] and one.properties["firstname"] == "Bob"
    found = hs.crm.contacts.search_api.do_search(public_object_search_request=ContactSearch(filter_groups=[
        ContactFilterGroup(filters=[ContactFilter(property_name="lastname", operator="HAS_PROPERTY")])]))
    assert found.total == 1 and found.results[0].properties["lastname"] == "Lovelace"
    assert hs.crm.contacts.batch_api.archive(batch_input_simple_public_object_id=ContactsIdBatch(
        inputs=[ContactId(id=contacts[1])])) is None
    with pytest.raises(ContactsApiException) as exc:
        hs.crm.contacts.basic_api.get_by_id(contact_id=contacts[1])
    assert exc.value.status == 404


# -- associations v4 ---------------------------------------------------------------------------
def test_associations_create_read_archive_labels(hs: HubSpot, keyed: Sandbox, courses: list[str],
                                                 contacts: list[str]) -> None:
    """POST /crm/v4/associations/0-410/contacts/batch/{create,read,archive} and
    GET and POST /crm/v4/associations/0-410/contacts/labels."""
    defs = hs.crm.associations.v4.schema.definitions_api
    created = defs.create(from_object_type="0-410", to_object_type="contacts",
                          public_association_definition_create_request=PublicAssociationDefinitionCreateRequest(
                              label="Student", name="student"))
    assert [x.category for x in created.results] == ["USER_DEFINED", "USER_DEFINED"]
    labels = defs.get_all(from_object_type="0-410", to_object_type="contacts")
    by_label = {x.label: x for x in labels.results}
    assert by_label[None].type_id == 860 and by_label["Student"].category == "USER_DEFINED"
    v4 = hs.crm.associations.v4.batch_api
    made = v4.create(from_object_type="0-410", to_object_type="contacts",
                     batch_input_public_association_multi_post=BatchInputPublicAssociationMultiPost(inputs=[
                         PublicAssociationMultiPost(_from=PublicObjectId(id=courses[0]), to=PublicObjectId(id=c),
                                                    types=[AssociationSpec(association_category="HUBSPOT_DEFINED",
                                                                           association_type_id=860),
                                                           AssociationSpec(association_category="USER_DEFINED",
                                                                           association_type_id=by_label["Student"].type_id)])
                         for c in contacts]))
    assert type(made).__name__ == "BatchResponseLabelsBetweenObjectPair"
    assert {r.to_object_id for r in made.results} == set(contacts) and made.results[0].labels == ["Student"]
    read = v4.get_page(from_object_type="contacts", to_object_type="0-410",
                       batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
                           inputs=[PublicFetchAssociationsBatchRequest(id=contacts[0])]))
    assert read.results[0]._from.id == contacts[0]
    assert read.results[0].to[0].to_object_id == courses[0]
    assert {t.type_id for t in read.results[0].to[0].association_types} == {861, by_label["Student"].type_id + 1}
    assert v4.archive(from_object_type="0-410", to_object_type="contacts",
                      batch_input_public_association_multi_archive=BatchInputPublicAssociationMultiArchive(inputs=[
                          PublicAssociationMultiArchive(_from=PublicObjectId(id=courses[0]),
                                                        to=[PublicObjectId(id=contacts[0])])])) is None
    assert [a["contactId"] for a in keyed.associations()] == [contacts[1]]


def test_associations_207_through_the_sdk(hs: HubSpot, courses: list[str], contacts: list[str]) -> None:
    made = hs.crm.associations.v4.batch_api.create(
        from_object_type="0-410", to_object_type="0-1",
        batch_input_public_association_multi_post=BatchInputPublicAssociationMultiPost(inputs=[
            PublicAssociationMultiPost(_from=PublicObjectId(id="1"), to=PublicObjectId(id=contacts[0]),
                                       types=[AssociationSpec(association_category="HUBSPOT_DEFINED",
                                                              association_type_id=860)])]))
    assert type(made).__name__ == "BatchResponseLabelsBetweenObjectPairWithErrors"
    assert made.num_errors == 1 and made.results == []
