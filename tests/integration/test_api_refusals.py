"""Bad input a terminal can send that looked valid to the hub before: refused, never stored.

* a supplement's form values are checked like a case's, and only the fields the department
  asked for may be supplemented (issue 18, item 7);
* non-finite numbers (``NaN``, ``Infinity``, ``1e999``) are refused wherever JSON enters, by the
  one decoder (item 8);
* the audit log names the authenticated terminal; a case claiming another terminal is refused
  (item 9).

Runs on SQLite and PostgreSQL (``api`` fixture).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.domain.models import LegEventKind, LegState
from tests.support.api import VILLAGE_A, Api, event

K = LegEventKind


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    dsn = None if request.param == "sqlite" else str(request.getfixturevalue("pg_dsn"))
    a = Api(tmp_path, dsn)
    yield a
    a.close()


def _codes(r: Any) -> dict[str, str]:
    return {e["path"]: e["code"] for e in r.json()["errors"]}


def _waiting_case(api: Api, missing: list[str]) -> tuple[str, str]:
    """A submitted MED_ASSIST case whose civil affairs leg asks for ``missing``."""
    body = api.new_case(api.token_a)
    assert api.submit(body).status_code == 202
    row = api.store.get_case(uuid.UUID(body["case_id"]))
    assert row is not None
    api.store.apply_leg_event(event(row.case, "civil_affairs", K.SUBMITTED))
    api.store.apply_leg_event(event(row.case, "civil_affairs", K.NEEDS_MATERIALS,
                                    missing=missing))
    return body["case_id"], f"/v1/cases/{body['case_id']}/supplements"


def _leg_state(api: Api, case_id: str, department: str) -> LegState:
    row = api.store.get_case(uuid.UUID(case_id))
    assert row is not None
    return next(g.state for g in row.legs if g.department == department)


def test_supplement_values_are_checked_like_a_case_and_only_asked_fields_pass(api: Api) -> None:
    # given a case whose civil affairs leg asks for the hospital and the kind of hardship again
    case_id, url = _waiting_case(api, ["hospital", "assist_kind"])
    h = api.auth(api.token_a)
    outbox = api.store.outbox_pending_count()
    bad: list[tuple[dict[str, object], str]] = [
        ({"hospital": "县医院\x07"}, "form.control_char"),
        ({"hospital": "医" * 61}, "form.too_long"),
        ({"hospital": 12}, "form.type"),
        ({"assist_kind": "dragon"}, "form.choice"),
        ({"amount_yuan": 100}, "form.not_requested"),  # not asked for
        ({"applicant_name": "张三"}, "form.not_requested")]  # no such field at all
    for form, code in bad:
        # when the clerk supplements a bad or unrequested value
        r = api.client.post(url, json={"department": "civil_affairs", "form": form}, headers=h)
        # then it is refused at that field, in Chinese, and the leg still waits
        assert r.status_code == 422, (form, r.status_code, r.text)
        key = next(iter(form))
        assert _codes(r) == {f"form.{key}": code}, (form, r.text)
        assert all(not e["message"].isascii() for e in r.json()["errors"])
        assert _leg_state(api, case_id, "civil_affairs") is LegState.NEEDS_MATERIALS
    assert api.store.outbox_pending_count() == outbox
    # a material kind the item does not know is refused like in a case
    ref = {"id": "x1", "kind": "marriage_certificate", "media_type": "image/jpeg", "size": 1,
           "sha256": "0" * 64}
    r = api.client.post(url, json={"department": "civil_affairs", "attachments": [ref]},
                        headers=h)
    assert r.status_code == 422 and _codes(r)["attachments.0.kind"] == "materials.unknown"
    # and the values asked for, well formed, are accepted
    ok = api.client.post(url, json={"department": "civil_affairs", "form": {
        "hospital": "县人民医院", "assist_kind": "tekun"}}, headers=h)
    assert ok.status_code == 202, ok.text
    assert _leg_state(api, case_id, "civil_affairs") is LegState.RESUBMITTED


def test_non_finite_numbers_are_refused_in_cases_and_supplements(api: Api) -> None:
    # given a valid MED_REIMB case, whose amount is a required number
    body = api.new_case(api.token_a, "MED_REIMB")
    h = {**api.auth(api.token_a), "Content-Type": "application/json"}
    for literal in ("NaN", "Infinity", "-Infinity", "1e999"):
        text = json.dumps({**body, "form": {**body["form"], "amount_yuan": 0.5}})
        raw = text.replace('"amount_yuan": 0.5', f'"amount_yuan": {literal}').encode()
        # when it is submitted with a non-finite amount
        r = api.client.post("/v1/cases", content=raw, headers=h)
        # then it is refused as an invalid number, and nothing is stored
        assert r.status_code == 400, (literal, r.status_code, r.text)
        assert _codes(r) == {"(body)": "body.number"}
        assert api.store.get_case(uuid.UUID(body["case_id"])) is None
    # and a supplement carrying one is refused the same way
    case_id, url = _waiting_case(api, ["hospital"])
    r = api.client.post(url, content=b'{"department": "civil_affairs", "form": '
                        b'{"hospital": NaN}}', headers=h)
    assert r.status_code == 400 and _codes(r) == {"(body)": "body.number"}
    assert _leg_state(api, case_id, "civil_affairs") is LegState.NEEDS_MATERIALS


def test_the_audit_log_names_the_authenticated_terminal(api: Api) -> None:
    # given a case that claims to come from another terminal of the same village
    other, _token = api.store.add_terminal(VILLAGE_A, "民主村二号机")
    body = api.new_case(api.token_a)
    forged = {**body, "origin": {**body["origin"], "terminal_id": other}}
    # when terminal A submits it
    r = api.submit(forged)
    # then it is refused at origin.terminal_id, and nothing is stored
    assert r.status_code == 422, r.text
    assert _codes(r) == {"origin.terminal_id": "origin.terminal"}
    assert api.store.get_case(uuid.UUID(body["case_id"])) is None
    # and the case naming terminal A itself is accepted and audited as terminal A's
    assert api.submit(body).status_code == 202
    created = [h for h in api.store.case_history(uuid.UUID(body["case_id"]))
               if h.kind == "case_created"]
    assert [h.entry["terminal_id"] for h in created] == [api.term_a]
