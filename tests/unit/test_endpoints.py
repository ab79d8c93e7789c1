"""The endpoint table: filling templates, choosing a family, and no path written anywhere else."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from hubspot_courses_destination.errors import ConfigurationError
from hubspot_courses_destination.hubspot import HubSpotClient
from hubspot_courses_destination.hubspot.endpoints import DEFAULT_API_VERSION, ENDPOINTS, Endpoints, fill

PACKAGE = Path(__file__).resolve().parents[2] / "hubspot_courses_destination"
TABLE_FILE = PACKAGE / "hubspot" / "endpoints.py"
# what a HubSpot API path looks like in source: /crm/..., /account-info/...
API_PATH = re.compile(r"/(crm|account-info)/")


def test_v3_is_the_default_family() -> None:
    assert DEFAULT_API_VERSION == "v3" in ENDPOINTS
    assert Endpoints().path("batch_upsert", object_type="0-410") == "/crm/v3/objects/0-410/batch/upsert"


def test_every_family_names_the_same_endpoints_with_the_same_segments() -> None:
    def fields(template: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f}

    reference = set(ENDPOINTS[DEFAULT_API_VERSION])
    segments: dict[str, set[str]] = {}
    for family, templates in ENDPOINTS.items():
        assert set(templates) == reference, family
        for name, t in templates.items():
            if t is None:  # the family has no such endpoint
                continue
            assert t.startswith("/") and not t.endswith("/"), (family, name)
            assert segments.setdefault(name, fields(t)) == fields(t), (family, name)


# docs/hubspot-behaviour.md, "API versions": the 2026-09 paths of HubSpot's spec collection
PATHS_2026_09 = {
    ("batch_upsert", ("object_type",)): "/crm/objects/2026-09/0-410/batch/upsert",
    ("batch_read", ("object_type",)): "/crm/objects/2026-09/0-410/batch/read",
    ("batch_archive", ("object_type",)): "/crm/objects/2026-09/0-410/batch/archive",
    ("list_objects", ("object_type",)): "/crm/objects/2026-09/0-410",
    ("properties", ("object_type",)): "/crm/properties/2026-09/0-410",
    ("property", ("object_type", "name")): "/crm/properties/2026-09/0-410/0-410",
    ("property_groups", ("object_type",)): "/crm/properties/2026-09/0-410/groups",
    ("object_enablement", ("object_type",)): "/crm/object-library/2026-09/enablement/0-410",
    ("account_details", ()): "/account-info/2026-09/details",
    ("property_validations", ("object_type",)): "/crm/property-validations/2026-09/0-410",
    ("record_limits", ()): "/crm/limits/2026-09/records",
    # docs/hubspot-behaviour.md, "Associations v4" (every segment filled with 0-410 here)
    ("association_batch_create", ("from_type", "to_type")): "/crm/associations/2026-09/0-410/0-410/batch/create",
    ("association_batch_archive", ("from_type", "to_type")): "/crm/associations/2026-09/0-410/0-410/batch/archive",
    ("association_labels", ("from_type", "to_type")): "/crm/associations/2026-09/0-410/0-410/labels",
}


@pytest.mark.parametrize("endpoint, segments", list(PATHS_2026_09))
def test_the_2026_09_family(endpoint: str, segments: tuple[str, ...]) -> None:
    e = Endpoints("2026-09")
    assert e.has(endpoint)
    assert e.path(endpoint, **{s: "0-410" for s in segments}) == PATHS_2026_09[(endpoint, segments)]


def test_every_endpoint_of_the_table_is_pinned_for_2026_09() -> None:
    assert {name for name, _ in PATHS_2026_09} == set(ENDPOINTS["2026-09"])


def test_v3_property_validations_and_record_limits() -> None:
    e = Endpoints("v3")
    assert e.path("property_validations", object_type="0-410") == "/crm/v3/property-validations/0-410"
    assert e.has("record_limits") and e.path("record_limits") == "/crm/v3/limits/records"


def test_an_endpoint_a_family_lacks_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ENDPOINTS, "v3", {**ENDPOINTS["v3"], "record_limits": None})
    e = Endpoints("v3")
    assert not e.has("record_limits")
    with pytest.raises(ConfigurationError, match="no record_limits endpoint"):
        e.path("record_limits")


def test_segments_are_escaped_whole() -> None:
    assert fill("/crm/v3/properties/{object_type}/{name}", {"object_type": "0-410", "name": "a/b c?d#e%"}) == (
        "/crm/v3/properties/0-410/a%2Fb%20c%3Fd%23e%25"
    )
    assert Endpoints("v3").path("property", object_type="../x", name="é") == "/crm/v3/properties/..%2Fx/%C3%A9"


@pytest.mark.parametrize("version", ["v4", "V3", "", None, "2099-01"])
def test_an_unknown_family_is_a_configuration_error(version: object) -> None:
    with pytest.raises(ConfigurationError, match="api_version must be one of 2026-09, v3"):
        Endpoints(version)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="api_version"):
        HubSpotClient("pat-x", "http://127.0.0.1:9", api_version=version)  # type: ignore[arg-type]


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are code, not documentation (bare string statements)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def _package_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "sandbox" not in p.relative_to(PACKAGE).parts and p != TABLE_FILE]


def test_no_api_path_is_written_outside_the_endpoint_table() -> None:
    # grep-like: a quote right before /crm/ or /account-info/ (f-strings and prefixes included)
    quoted = re.compile(r"""[rbfuRBFU]{0,2}["']/(crm|account-info)/""")
    found = [
        f"{p.relative_to(PACKAGE)}:{n}: {line.strip()}"
        for p in _package_modules()
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if quoted.search(line)
    ]
    # and by the parser: no code string (f-string parts included) contains an API path
    found += [
        f"{p.relative_to(PACKAGE)}:{n}: {s!r}" for p in _package_modules() for n, s in _code_strings(p) if API_PATH.search(s)
    ]
    assert found == []
    assert _package_modules(), "the scan found no modules"
    assert any(API_PATH.search(s) for _, s in _code_strings(TABLE_FILE)), "the scan would not see a path"
