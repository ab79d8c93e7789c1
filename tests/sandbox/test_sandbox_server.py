"""Server lifecycle, keep-alive, the CLI, and DuckDB persistence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from hubspot_courses_destination.sandbox import DEFAULT_TOKEN, Sandbox

from sandbox_helpers import KEY, Api, course

PROPS = "/crm/v3/properties/0-410"


def test_start_returns_url_on_free_port_and_stop_closes_it() -> None:
    a, b = Sandbox(), Sandbox()
    url_a, url_b = a.start(), b.start()
    try:
        assert url_a.startswith("http://127.0.0.1:") and url_a != url_b
        assert a.url == url_a and a.port > 0
        assert Api(url_a).get(PROPS).status_code == 200
    finally:
        a.stop()
        b.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url_a + PROPS, timeout=2)
    with pytest.raises(RuntimeError):
        _ = a.url


def test_stop_cuts_open_keep_alive_connections() -> None:
    sb = Sandbox()
    api = Api(sb.start())
    assert api.get(PROPS).status_code == 200
    sb.stop()
    with pytest.raises(requests.ConnectionError):
        api.get(PROPS)


def test_keep_alive_reuses_one_connection(sb: Sandbox, api: Api) -> None:
    for _ in range(5):
        assert api.get(PROPS).status_code == 200
    api.post("/crm/v3/objects/0-410/batch/archive", {"inputs": []})  # a 204 keeps the connection too
    api.get(PROPS)
    assert len({e.client_port for e in sb.request_log}) == 1
    assert all(e.status in (200, 204) for e in sb.request_log)


def test_request_log_and_reset(keyed: Sandbox, api: Api) -> None:
    api.upsert([course("a"), course("b")])
    api.get(PROPS)
    (entry,) = [e for e in keyed.request_log if e.method == "POST"]
    assert (entry.path, entry.status, entry.n_inputs, entry.fault) == (
        "/crm/v3/objects/0-410/batch/upsert", 200, 2, None)
    assert keyed.count_requests("POST", "/batch/upsert") == 1
    assert keyed.count_requests("GET", "/batch/upsert") == 0
    assert keyed.count_requests("POST", "/batch/upsert", status=400) == 0
    keyed.reset_log()
    assert keyed.request_log == [] and keyed.count_requests("GET", PROPS) == 0


def test_unknown_route_is_404_json(sb: Sandbox, api: Api) -> None:
    r = api.get("/crm/v3/nothing/here")
    assert r.status_code == 404 and r.json()["status"] == "error"


def test_records_persist_in_duckdb_file(tmp_path: Path) -> None:
    db = str(tmp_path / "sandbox.duckdb")
    with Sandbox(db_path=db) as sb:
        sb.create_property(KEY, has_unique_value=True)
        first = Api(sb.url).upsert([course("c-1", hs_enrollment_capacity="3")]).json()["results"][0]
    with Sandbox(db_path=db) as sb:
        assert sb.record_by(KEY, "c-1")["id"] == first["id"]
        again = Api(sb.url).upsert([course("c-1"), course("c-2")]).json()["results"]
        by_key = {r["properties"][KEY]: r for r in again}
        assert by_key["c-1"]["new"] is False and by_key["c-1"]["id"] == first["id"]
        assert by_key["c-2"]["new"] is True and int(by_key["c-2"]["id"]) > int(first["id"])


def test_contacts_associations_and_labels_persist_in_duckdb_file(tmp_path: Path) -> None:
    db = str(tmp_path / "sandbox.duckdb")
    v4 = "/crm/v4/associations/0-410/0-1"
    with Sandbox(db_path=db) as sb:
        api = Api(sb.url)
        sb.create_property(KEY, has_unique_value=True)
        student = sb.create_association_label("Student")["courseToContact"]["typeId"]
        api.upsert([course("c-1")])
        course_id = sb.record_by(KEY, "c-1")["id"]
        api.post("/crm/v3/objects/contacts/batch/upsert", {"inputs": [
            {"id": e, "idProperty": "email", "properties": {"firstname": e[0]}} for e in ("a@x.com", "b@x.com", "c@x.com")]})
        ids = {c["properties"]["email"]: c["id"] for c in sb.contacts()}
        assert api.post(f"{v4}/batch/create", {"inputs": [
            {"from": {"id": course_id}, "to": {"id": ids[e]}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 860},
                {"associationCategory": "USER_DEFINED", "associationTypeId": student}]} for e in ids]}).status_code == 201
        assert api.post(f"{v4}/batch/archive", {"inputs": [
            {"from": {"id": course_id}, "to": [{"id": ids["b@x.com"]}]}]}).status_code == 204
        assert api.post("/crm/v3/objects/contacts/batch/archive", {"inputs": [{"id": ids["c@x.com"]}]}).status_code == 204
        before = sb.associations()
    with Sandbox(db_path=db) as sb:
        api = Api(sb.url)
        assert {c["properties"]["email"] for c in sb.contacts()} == {"a@x.com", "b@x.com"}
        assert sb.contact_by_email("A@x.com")["properties"]["firstname"] == "a"
        assert sb.associations() == before and [a["contactId"] for a in before] == [ids["a@x.com"]]
        assert set(before[0]["typeIds"]) >= {860, student}
        labels = api.get(f"{v4}/labels").json()["results"]
        assert {"category": "USER_DEFINED", "typeId": student, "label": "Student"} in labels
        with pytest.raises(ValueError):  # still there: made once per portal, as in HubSpot
            sb.create_association_label("Student")
        teacher = sb.create_association_label("Teacher")["courseToContact"]["typeId"]
        assert teacher not in {lb["typeId"] for lb in labels}  # new type ids do not reuse saved ones
        again = api.post("/crm/v3/objects/contacts/batch/upsert", {"inputs": [
            {"id": "a@x.com", "idProperty": "email", "properties": {}},
            {"id": "d@x.com", "idProperty": "email", "properties": {}}]}).json()["results"]
        by_email = {r["properties"]["email"]: r for r in again}
        assert by_email["a@x.com"]["new"] is False and by_email["a@x.com"]["id"] == ids["a@x.com"]
        assert int(by_email["d@x.com"]["id"]) > max(int(i) for i in ids.values())
        read = api.post(f"{v4}/batch/read", {"inputs": [{"id": course_id}]}).json()["results"][0]
        assert [t["toObjectId"] for t in read["to"]] == [ids["a@x.com"]]


def test_cli_serves_until_terminated(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubspot_courses_destination.sandbox", "--port", "0",
         "--token", "pat-na1-cli", "--rate-limit-per-10s", "7", "--db", str(tmp_path / "cli.duckdb")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert "listening on http://127.0.0.1:" in line, line + proc.stderr.read()  # type: ignore[union-attr]
        url = line.strip().rsplit(" ", 1)[-1]
        r = Api(url, "pat-na1-cli").get(PROPS)
        assert r.status_code == 200 and r.headers["X-HubSpot-RateLimit-Max"] == "7"
        assert Api(url, DEFAULT_TOKEN).get(PROPS).status_code == 401  # --token replaces the default
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _labels_of_cli(*flags: str) -> list[str]:
    """Start the CLI with ``flags``, read its course -> contact labels over HTTP, stop it."""
    proc = subprocess.Popen([sys.executable, "-m", "hubspot_courses_destination.sandbox", "--port", "0", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert "listening on http://127.0.0.1:" in line, line + proc.stderr.read()  # type: ignore[union-attr]
        url = line.strip().rsplit(" ", 1)[-1]
        results = Api(url, DEFAULT_TOKEN).get("/crm/v4/associations/0-410/0-1/labels").json()["results"]
        return [r["label"] for r in results if r["category"] == "USER_DEFINED"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_creates_the_enrollment_labels_by_default_and_the_ones_named() -> None:
    """Without labels every labelled enrollment of the sample would be UNKNOWN_LABEL."""
    assert _labels_of_cli() == ["Student", "Instructor"]
    assert _labels_of_cli("--association-label", "Teaching assistant", "--association-label", "Student",
                          "--association-label", "Student") == ["Teaching assistant", "Student"]


def test_cli_refuses_an_empty_association_label(capsys: pytest.CaptureFixture[str]) -> None:
    from hubspot_courses_destination.sandbox.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0", "--association-label", " "])
    assert exit_info.value.code == 2 and "--association-label needs a name" in capsys.readouterr().err


def test_a_client_that_resets_mid_request_leaves_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    """The soak kills clients mid-request; the server stays quiet and keeps serving."""
    import socket
    import struct
    import time

    sb = Sandbox()
    url = sb.start()
    try:
        host, port = url.rsplit("//", 1)[1].split(":")
        for _ in range(3):
            conn = socket.create_connection((host, int(port)))
            conn.sendall(b"POST /crm/v3/objects/0-410/batch/upsert HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 5000\r\n\r\n{\"inputs\": [")
            time.sleep(0.05)  # the handler is now waiting for the rest of the body
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # RST
        time.sleep(0.2)
        assert Api(url).get(PROPS).status_code == 200
    finally:
        sb.stop()
    assert "Traceback" not in capfd.readouterr().err
