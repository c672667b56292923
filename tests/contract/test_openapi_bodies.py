"""``/openapi.json`` describes every body by the schemas committed in ``config/schema/``
(issue 18, item 13), and the API's real answers conform to them.

A terminal vendor generates a client from the document; a department implements callbacks from
it. So: each operation's request and answer bodies must resolve to exactly the committed JSON
Schema (the same files ``hub schema NAME`` prints and ``test_case_model`` keeps equal to the
code), every refusal status is the problem list, and what the API really answers in a story from
submit to callback validates against those committed files.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from hub.domain.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from hub.domain.models import LegEventKind
from tests.support.api import Api, event
from tests.support.config import CONFIG_DIR

SCHEMA_DIR = CONFIG_DIR / "schema"
# (method, path) -> committed schema of the request body (or None), {status: answer schema}
BODIES: dict[tuple[str, str], tuple[str | None, dict[str, str]]] = {
    ("get", "/healthz"): (None, {"200": "health"}),
    ("get", "/readyz"): (None, {"200": "readiness", "503": "readiness"}),
    ("post", "/v1/cases"): ("case", {"202": "submit-answer", "422": "problems",
                                     "409": "problems", "400": "problems"}),
    ("get", "/v1/cases"): (None, {"200": "case-page", "422": "problems"}),
    ("get", "/v1/cases/{case_id}"): (None, {"200": "case-view", "404": "problems"}),
    ("post", "/v1/cases/{case_id}/supplements"): ("supplement", {"202": "supplement-answer",
                                                                 "409": "problems"}),
    ("post", "/v1/attachments"): (None, {"201": "attachment", "413": "problems"}),
    ("post", "/v1/callbacks/{department}"): ("callback", {"200": "callback-answer",
                                                          "401": "problems"}),
}


def committed(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text("utf-8"))
    return doc


def _as_components(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A committed schema with its ``$defs`` as OpenAPI components: (top, defs)."""
    text = re.sub(r'"#/\$defs/([\w.-]+)"', r'"#/components/schemas/\1"', json.dumps(schema))
    top = json.loads(text)
    return top, top.pop("$defs", {})


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    api = Api(tmp_path_factory.mktemp("openapi"), None)
    try:
        doc: dict[str, Any] = api.client.get("/openapi.json").json()
        yield doc
    finally:
        api.close()


def _component(doc: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    assert set(ref) == {"$ref"}, f"body is not a reference to a component: {ref}"
    name = ref["$ref"].removeprefix("#/components/schemas/")
    found: dict[str, Any] = doc["components"]["schemas"][name]
    return found


def _same_as_committed(doc: dict[str, Any], ref: dict[str, Any], name: str) -> None:
    top, defs = _as_components(committed(name))
    assert _component(doc, ref) == top, f"{name}: the document's schema differs from the file"
    for sub, schema in defs.items():
        assert doc["components"]["schemas"].get(sub) == schema, f"{name}: {sub} differs"


@pytest.mark.parametrize(("method", "path"), sorted(BODIES))
def test_every_body_in_the_document_is_the_committed_schema(
        document: dict[str, Any], method: str, path: str) -> None:
    # given the served document and the committed JSON Schemas
    op = document["paths"][path][method]
    request, answers = BODIES[(method, path)]
    # then the request body is the committed schema
    if request is not None:
        _same_as_committed(document, op["requestBody"]["content"]["application/json"]["schema"],
                           request)
    # and so is every answer, refusals included
    for status, name in answers.items():
        media = op["responses"][status]["content"]["application/json"]
        _same_as_committed(document, media["schema"], name)


def test_the_event_stream_and_headers_are_described(document: dict[str, Any]) -> None:
    events = document["paths"]["/v1/events"]["get"]
    stream = events["responses"]["200"]["content"]["text/event-stream"]
    _same_as_committed(document, stream["x-item-schema"], "event")
    headers = {(p["in"], p["name"]) for op in document["paths"].values() for o in op.values()
               for p in o.get("parameters", [])}
    assert {("header", "Last-Event-ID"), ("header", "X-Hub-Signature"),
            ("header", "X-Hub-Timestamp"), ("header", "X-Content-SHA256"),
            ("query", "kind")} <= headers
    assert "HTTPValidationError" not in document["components"]["schemas"]


def _check(name: str, body: Any) -> None:
    jsonschema_rs.validator_for(committed(name)).validate(body)


def test_real_answers_conform_to_the_committed_schemas(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_CIVIL_AFFAIRS_CALLBACK_SECRET", "s3cret")
    api = Api(tmp_path, None)
    try:
        h = api.auth(api.token_a)
        # a case submitted, read, listed, refused
        body = api.new_case(api.token_a)
        _check("case", body)
        submitted = api.submit(body)
        assert submitted.status_code == 202
        _check("submit-answer", submitted.json())
        _check("case-view", api.client.get(f"/v1/cases/{body['case_id']}", headers=h).json())
        _check("case-page", api.client.get("/v1/cases", headers=h).json())
        refused = api.client.post("/v1/cases", json={"item_code": 7}, headers=h)
        assert refused.status_code == 422
        _check("problems", refused.json())
        # a department asks for a material, the clerk supplies it
        row = api.store.get_case(uuid.UUID(body["case_id"]))
        assert row is not None
        api.store.apply_leg_event(event(row.case, "civil_affairs", LegEventKind.SUBMITTED))
        api.store.apply_leg_event(event(row.case, "civil_affairs", LegEventKind.NEEDS_MATERIALS,
                                        missing=["household_register"]))
        _check("case-view", api.client.get(f"/v1/cases/{body['case_id']}", headers=h).json())
        up = api.upload(api.token_a, b"new register", "household_register")
        assert up.status_code == 201
        _check("attachment", up.json())
        ref = {k: up.json()[k] for k in ("id", "kind", "media_type", "size", "sha256")}
        sup = {"department": "civil_affairs", "attachments": [ref]}
        _check("supplement", sup)
        answer = api.client.post(f"/v1/cases/{body['case_id']}/supplements", json=sup, headers=h)
        assert answer.status_code == 202, answer.text
        _check("supplement-answer", answer.json())
        # the department calls back
        cb = {"result_id": "r-1", "leg_id": f"{body['case_id']}:civil_affairs",
              "outcome": "approved", "department_ref": "MZ-1", "detail": "准予登记",
              "missing_materials": []}
        _check("callback", cb)
        raw = json.dumps(cb).encode()
        ts = str(int(time.time()))
        called = api.client.post("/v1/callbacks/civil_affairs", content=raw, headers={
            TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(b"s3cret", ts, raw),
            "Content-Type": "application/json"})
        assert called.status_code == 200, called.text
        _check("callback-answer", called.json())
        # every event of the village's stream
        stream = api.client.get("/v1/events?once=1", headers=h).text
        data = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: ")]
        assert {d["type"] for d in data} == {"case_created", "leg"}
        for d in data:
            _check("event", d)
        _check("health", api.client.get("/healthz").json())
        _check("readiness", api.client.get("/readyz").json())
    finally:
        api.close()
