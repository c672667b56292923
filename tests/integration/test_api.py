"""The HTTP API as a village terminal uses it: success and refusal paths of every endpoint.

Runs on SQLite and PostgreSQL (``api`` fixture). Attachments go to the real encrypted blob store.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.domain.models import LegEventKind
from tests.support.api import VILLAGE_A, VILLAGE_B, Api, event

K = LegEventKind


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    dsn = None if request.param == "sqlite" else str(request.getfixturevalue("pg_dsn"))
    a = Api(tmp_path, dsn)
    yield a
    a.close()


def nothing_stored(api: Api) -> bool:
    return api.store.unsettled_case_count() == 0 and api.store.outbox_pending_count() == 0


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "store": True, "bus": True, "config": True}
    api.ready = False
    down = api.client.get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["bus"] is False
    assert api.client.get("/openapi.json").json()["paths"]["/v1/cases"]


def test_missing_bad_and_revoked_tokens_are_refused(api: Api) -> None:
    assert api.client.get("/v1/cases").status_code == 401
    bad = api.client.get("/v1/cases", headers=api.auth("nope"))
    assert bad.status_code == 401 and bad.json()["errors"][0]["code"] == "auth.invalid"
    assert bad.headers["WWW-Authenticate"] == "Bearer"
    assert api.client.get("/v1/cases", headers=api.auth(api.token_a)).status_code == 200
    api.store.revoke_terminal(api.term_a)
    assert api.client.get("/v1/cases", headers=api.auth(api.token_a)).status_code == 401


def test_submit_is_accepted_once_and_readable(api: Api) -> None:
    body = api.new_case(api.token_a)
    first = api.submit(body)
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["case_id"] == body["case_id"] and answer["status"] == "received"
    again = api.submit(body)
    assert again.status_code == 202
    assert again.json()["tracking_code"] == answer["tracking_code"]
    changed = copy.deepcopy(body)
    changed["form"]["hospital"] = "另一家医院"
    conflict = api.submit(changed)
    assert conflict.status_code == 409 and conflict.json()["errors"][0]["code"] == "case.conflict"
    assert api.store.outbox_pending_count() == 2  # one per department, never duplicated
    view = api.client.get(f"/v1/cases/{body['case_id']}", headers=api.auth(api.token_a)).json()
    assert view["tracking_code"] == answer["tracking_code"]
    assert view["status_label"] and {g["department"] for g in view["legs"]} == {
        "civil_affairs", "medical_insurance"}
    assert body["applicant"]["id_number"] not in str(view)


@pytest.mark.parametrize(("mutate", "code"), [
    (lambda b: b.update(item_code="NO_SUCH"), "item.unknown"),
    (lambda b: b["applicant"].update(id_number="51340119900101001X"), "id_number.checksum"),
    (lambda b: b.update(attachments=[]), "materials.missing"),
    (lambda b: b["applicant"].update(phone=12345), "field.type"),
    (lambda b: b.update(case_id="not-a-uuid"), None),
    (lambda b: b["attachments"][0].update(id="unknownattachment"), "attachment.unknown"),
])
def test_bad_cases_get_every_problem_and_store_nothing(api: Api, mutate: object,
                                                       code: str | None) -> None:
    body = api.new_case(api.token_a)
    mutate(body)  # type: ignore[operator]
    r = api.submit(body)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert errors and all({"path", "code", "message"} <= set(e) for e in errors)
    if code == "materials.missing":
        assert any(e["code"].startswith("material") for e in errors), errors
    elif code:
        assert code in [e["code"] for e in errors], errors
    assert nothing_stored(api)


def test_malformed_and_oversize_bodies(api: Api, tmp_path: Path) -> None:
    h = {**api.auth(api.token_a), "Content-Type": "application/json"}
    bad = api.client.post("/v1/cases", content=b"{not json", headers=h)
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "body.json"
    assert api.client.post("/v1/cases", content=b"[1,2]", headers=h).status_code == 422
    assert api.client.post("/v1/cases", content=b"\xff\xfe", headers=h).status_code == 400
    big = b'{"x":"' + b"a" * (api.settings.max_body_bytes + 10) + b'"}'
    too_big = api.client.post("/v1/cases", content=big, headers=h)
    assert too_big.status_code == 413 and too_big.json()["errors"][0]["code"] == "body.too_large"
    assert nothing_stored(api)


def test_case_of_another_village_or_with_its_attachment_is_refused(api: Api) -> None:
    body = api.new_case(api.token_a)
    wrong_terminal = api.submit(body, api.token_b)
    assert wrong_terminal.status_code == 422
    assert "origin.village" in [e["code"] for e in wrong_terminal.json()["errors"]]
    theirs = api.new_case(api.token_b, village=VILLAGE_B)
    body["attachments"] = theirs["attachments"]
    stolen = api.submit(body)
    assert stolen.status_code == 422
    assert {e["code"] for e in stolen.json()["errors"]} == {"attachment.unknown"}
    assert nothing_stored(api)


def test_attachment_upload_checks_hash_size_and_kind(tmp_path: Path) -> None:
    api = Api(tmp_path, None, max_attachment_bytes=1000)
    try:
        ok = api.upload(api.token_a, b"scan bytes")
        assert ok.status_code == 201 and ok.json()["size"] == 10
        assert api.store.get_attachments([ok.json()["id"]])[ok.json()["id"]].village == VILLAGE_A
        mismatch = api.upload(api.token_a, b"scan bytes", sha="0" * 64)
        assert mismatch.status_code == 422
        assert mismatch.json()["errors"][0]["code"] == "attachment.hash_mismatch"
        huge = api.upload(api.token_a, b"x" * 1001)
        assert huge.status_code == 413
        no_sha = api.client.post("/v1/attachments?kind=birth_certificate", content=b"x",
                                 headers=api.auth(api.token_a))
        assert no_sha.status_code == 422
        assert api.upload(api.token_a, b"x", kind="no_such_material").status_code == 422
        assert api.client.post("/v1/attachments", content=b"x").status_code == 401
        assert len(api.store.list_attachments()) == 1
        assert list(api.blobs.ids()) == [ok.json()["id"]]  # refused uploads left no blob
    finally:
        api.close()


def test_too_many_attachments_per_case(tmp_path: Path) -> None:
    api = Api(tmp_path, None, max_attachments_per_case=1)
    try:
        r = api.submit(api.new_case(api.token_a))
        assert r.status_code == 422
        assert [e["code"] for e in r.json()["errors"]] == ["attachments.too_many"]
    finally:
        api.close()


def test_requests_per_terminal_are_limited(tmp_path: Path) -> None:
    api = Api(tmp_path, None, requests_per_terminal_per_minute=3)
    try:
        codes = [api.client.get("/v1/cases", headers=api.auth(api.token_a)).status_code
                 for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = api.client.get("/v1/cases", headers=api.auth(api.token_a))
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        # another terminal has its own budget
        assert api.client.get("/v1/cases", headers=api.auth(api.token_b)).status_code == 200
    finally:
        api.close()


def test_list_is_the_callers_village_filtered_and_paginated(api: Api) -> None:
    mine = {api.submit(api.new_case(api.token_a)).json()["case_id"] for _ in range(3)}
    api.submit(api.new_case(api.token_b, village=VILLAGE_B), api.token_b)
    seen: set[str] = set()
    url = "/v1/cases?limit=2"
    while url:
        page = api.client.get(url, headers=api.auth(api.token_a)).json()
        seen |= {c["case_id"] for c in page["items"]}
        url = f"/v1/cases?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert seen == mine
    h = api.auth(api.token_a)
    assert api.client.get("/v1/cases?status=approved", headers=h).json()["items"] == []
    assert len(api.client.get("/v1/cases?since=2000-01-01T00:00:00Z",
                              headers=h).json()["items"]) == 3
    assert api.client.get("/v1/cases?status=bogus", headers=h).status_code == 422
    assert api.client.get("/v1/cases?cursor=garbage", headers=h).status_code == 422


def test_supplement_moves_only_that_departments_leg(api: Api) -> None:
    body = api.new_case(api.token_a)
    api.submit(body)
    case = api.store.get_case(uuid.UUID(body["case_id"]))
    assert case is not None
    for dept in ("civil_affairs", "medical_insurance"):
        api.store.apply_leg_event(event(case.case, dept, K.SUBMITTED))
        api.store.apply_leg_event(event(case.case, dept, K.NEEDS_MATERIALS,
                                        missing=["household_register"]))
    extra = api.upload(api.token_a, b"new household register", "household_register").json()
    ref = {"id": extra["id"], "kind": "household_register", "media_type": "image/jpeg",
           "size": extra["size"], "sha256": extra["sha256"]}
    url = f"/v1/cases/{body['case_id']}/supplements"
    h = api.auth(api.token_a)
    r = api.client.post(url, json={"department": "medical_insurance", "attachments": [ref]},
                        headers=h)
    assert r.status_code == 202, r.text
    view = api.client.get(f"/v1/cases/{body['case_id']}", headers=h).json()
    assert {g["department"]: g["state"] for g in view["legs"]} == {
        "civil_affairs": "needs_materials", "medical_insurance": "resubmitted"}
    again = api.client.post(url, json={"department": "medical_insurance", "form": {"a": 1}},
                            headers=h)
    assert again.status_code == 409
    assert api.client.post(url, json={"department": "social_security", "form": {"a": 1}},
                           headers=h).status_code == 422
    assert api.client.post(url, json={"department": "civil_affairs"}, headers=h
                           ).status_code == 422
    assert api.client.post(url, json={"department": 5}, headers=h).status_code == 422


def test_a_terminal_cannot_read_supplement_or_list_another_villages_case(api: Api) -> None:
    body = api.new_case(api.token_a)
    assert api.submit(body).status_code == 202
    hb = api.auth(api.token_b)
    assert api.client.get(f"/v1/cases/{body['case_id']}", headers=hb).status_code == 404
    sup = api.client.post(f"/v1/cases/{body['case_id']}/supplements",
                          json={"department": "civil_affairs", "form": {"a": 1}}, headers=hb)
    assert sup.status_code == 404
    assert api.client.get("/v1/cases", headers=hb).json()["items"] == []
    stream = api.client.get("/v1/events?once=1", headers=hb).text
    assert body["case_id"] not in stream
    assert body["case_id"] in api.client.get("/v1/events?once=1",
                                             headers=api.auth(api.token_a)).text
    missing = api.client.get(f"/v1/cases/{uuid.uuid4()}", headers=hb)
    assert missing.status_code == 404 and missing.json() == api.client.get(
        f"/v1/cases/{body['case_id']}", headers=hb).json()


def test_odd_inputs_never_produce_a_server_error(api: Api) -> None:
    h = {**api.auth(api.token_a), "Content-Type": "application/json"}
    bodies = [b"", b"null", b"0", b'"x"', b"{}", b'{"case_id": null}', b'{"applicant": []}',
              b'{"attachments": "x"}', b'{"form": {"a": {"b": 1}}}', b"[" * 5000,
              b'{"item_code": 7}', b'{"created_at": "yesterday"}']
    for body in bodies:
        r = api.client.post("/v1/cases", content=body, headers=h)
        assert 400 <= r.status_code < 500, (body[:40], r.status_code, r.text)
        assert r.json()["errors"]
    for path in ("/v1/cases/not-a-uuid", "/v1/nothing", "/v1/events?after=-1",
                 "/v1/cases?limit=0", "/v1/cases?since=never"):
        r = api.client.get(path, headers=h)
        assert 400 <= r.status_code < 500, (path, r.status_code)
    r = api.client.post(f"/v1/cases/{uuid.uuid4()}/supplements", content=b"{", headers=h)
    assert r.status_code in (400, 404)
    assert api.client.delete("/v1/cases", headers=h).status_code == 405
