"""Helpers shared by the sandbox tests (a module of its own so tests can import it)."""

from __future__ import annotations

from typing import Any

import requests

from hubspot_courses_destination.sandbox import DEFAULT_TOKEN

KEY = "lms_course_key"
UPSERT = "/crm/v3/objects/0-410/batch/upsert"


class Api:
    """requests.Session bound to one sandbox and token: what a client would send."""

    def __init__(self, base_url: str, token: str | None = DEFAULT_TOKEN) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=10, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.session.post(self.base_url + path, json=body, timeout=10, **kw)

    def upsert(self, inputs: list[dict[str, Any]]) -> requests.Response:
        return self.post(UPSERT, {"inputs": inputs})


def course(key: str, trace: str | None = None, id_property: str = KEY, **props: str) -> dict[str, Any]:
    """One upsert input keyed by the test's unique property; hs_course_name defaults to the key."""
    props.setdefault("hs_course_name", f"Course {key}")
    inp: dict[str, Any] = {"id": key, "idProperty": id_property, "properties": props}
    if trace is not None:
        inp["objectWriteTraceId"] = trace
    return inp
