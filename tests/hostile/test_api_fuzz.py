"""The HTTP API under fuzzing and hand-written nasty bodies: no input yields a 5xx.

Schemathesis generates requests for every operation of the served ``/openapi.json`` (with a
valid terminal token, a fixed seed and a bounded number of examples per operation) and calls
the real ASGI app over a real store. The served document describes every body by its real
schema (``hub.intake.api.openapi``), so generated cases get past the JSON parser and the schema into
the catalogue, region and attachment checks. ``tests/hostile/test_api_header_fuzz.py`` fuzzes
the headers and query parameters of every route.
Hand-written bodies cover what generators rarely hit (NUL bytes, invalid UTF-8, huge numbers,
duplicate keys, deep nesting inside a valid case, wrong content types): each is refused with a
4xx and the uniform error list, and the store holds nothing new afterwards.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.support.api import Api

EXAMPLES_PER_OPERATION = 40


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    a = Api(tmp_path, None, requests_per_terminal_per_minute=1_000_000)
    yield a
    a.close()


def _stored(api: Api) -> tuple[int, int, int]:
    return (api.store.unsettled_case_count(), api.store.outbox_pending_count(),
            len(api.store.list_attachments()))


def _fuzz(api: Api, op: Any, label: str, codes: set[int], failures: list[str],
          problems: set[str]) -> None:
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None,
              database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy())
    def call(case: Any) -> None:
        if case.path == "/v1/events":  # a stream: ask for the backlog only
            case.query = {**(case.query or {}), "once": "true"}
        try:
            response = case.call(headers=api.auth(api.token_a))
        except Exception as exc:  # the in-process client re-raises what became a 500
            failures.append(f"{label} -> 500 (unhandled {type(exc).__name__})")
            return
        codes.add(response.status_code)
        if response.status_code >= 500:
            failures.append(f"{label} -> {response.status_code}: {response.text[:300]}")
        elif response.status_code >= 400 and case.method.upper() != "HEAD":  # HEAD: no body
            errors = response.json()["errors"]
            assert errors, (label, response.text[:300])
            problems.update(e["code"] for e in errors)

    call()


@pytest.mark.slow
def test_fuzzed_requests_never_get_a_server_error(api: Api) -> None:
    # given the served document and a terminal with a valid token
    schema = schemathesis.openapi.from_dict(api.client.get("/openapi.json").json())
    schema.app = api.app
    operations = [r.ok() for r in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 8, [f"{o.method} {o.path}" for o in operations]
    seen: dict[str, set[int]] = {}
    codes: dict[str, set[str]] = {}
    failures: list[str] = []

    for op in operations:
        label = f"{op.method.upper()} {op.path}"
        # when the fuzzer sends its examples
        _fuzz(api, op, label, seen.setdefault(label, set()), failures,
              codes.setdefault(label, set()))

    # then no operation answered with a server error, and refusals used the error list
    assert failures == [], "\n".join(failures[:10])
    # and generated cases got past the JSON parser and the schema into the deeper checks
    # (catalogue, regions, the terminal's village and attachments)
    deep = {c for c in codes["POST /v1/cases"]
            if not c.startswith(("body.", "field.", "http."))}
    assert len(deep) >= 3, sorted(codes["POST /v1/cases"])


def _valid_body(api: Api) -> dict[str, Any]:
    return api.new_case(api.token_a)


def _dup_keys(body: dict[str, Any]) -> bytes:
    """Valid JSON text with ``item_code`` given twice: the second would silently win."""
    text = json.dumps(body, ensure_ascii=False)
    return text.replace('"item_code": ', '"item_code": "NO_SUCH", "item_code": ', 1).encode()


def _deep_form(body: dict[str, Any]) -> bytes:
    deep = copy.deepcopy(body)
    deep["form"]["note"] = json.loads("[" * 200 + "]" * 200)
    return json.dumps(deep).encode()


NASTY: list[Any] = [
    pytest.param("nul byte in a name", lambda b: json.dumps(
        {**b, "applicant": {**b["applicant"], "name": "王\u0000五"}}).encode(),
        "application/json", id="nul byte in a name"),
    ("raw NUL bytes", lambda b: b'{"case_id": "\x00\x00"}\x00', "application/json"),
    ("invalid UTF-8 inside a string",
     lambda b: json.dumps(b).encode().replace(b'"clerk-01"', b'"\xc3\x28\xa0\xa1"'),
     "application/json"),
    ("huge integer", lambda b: json.dumps(b).encode().replace(
        b'"size": ', b'"size": 1' + b"0" * 5000 + b", \"x\": ", 1), "application/json"),
    ("huge float", lambda b: json.dumps({**b, "form": {**b["form"], "amount_yuan": 1e308}})
     .encode().replace(b"1e+308", b"1e999999"), "application/json"),
    ("NaN and Infinity", lambda b: json.dumps({**b, "form": {**b["form"], "x": float("nan"),
                                                             "y": float("inf")}}).encode(),
     "application/json"),
    pytest.param("duplicate keys", _dup_keys, "application/json",
                 id="duplicate keys"),
    ("deep nesting inside the form", _deep_form, "application/json"),
    ("deep nesting at the top", lambda b: b'{"form": ' + b"[" * 100_000 + b"]" * 100_000
     + b"}", "application/json"),
    ("form-encoded body", lambda b: b"case_id=1&item_code=BIRTH",
     "application/x-www-form-urlencoded"),
    ("XML body", lambda b: b"<?xml version='1.0'?><case><id>1</id></case>", "application/xml"),
    ("multipart body", lambda b: b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
     b"--x--\r\n", "multipart/form-data; boundary=x"),
    ("UTF-16 JSON", lambda b: json.dumps(b).encode("utf-16"), "application/json"),
    ("BOM then JSON", lambda b: b"\xef\xbb\xbf" + json.dumps(b).encode(), "application/json"),
]


@pytest.mark.parametrize(("name", "make", "content_type"), NASTY,
                         ids=[n[0] if isinstance(n, tuple) else n.id for n in NASTY])
def test_nasty_case_bodies_are_refused_with_the_error_list(
        api: Api, name: str, make: Callable[[dict[str, Any]], bytes], content_type: str) -> None:
    # given a terminal whose materials are uploaded, and a nasty variant of a valid case
    body = _valid_body(api)
    before = _stored(api)
    # when it is submitted
    r = api.client.post("/v1/cases", content=make(body),
                        headers={**api.auth(api.token_a), "Content-Type": content_type})
    # then it is refused with a 4xx and the uniform error list; nothing new is stored
    assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:300])
    errors = r.json()["errors"]
    assert errors and all({"path", "code", "message"} <= set(e) for e in errors), errors
    assert _stored(api) == before


def test_nasty_supplement_and_callback_bodies_are_refused(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a stored case and a department that may call back
    monkeypatch.setenv("HUB_CIVIL_AFFAIRS_CALLBACK_SECRET", "s3cret")
    body = _valid_body(api)
    assert api.submit(body).status_code == 202
    before = _stored(api)
    case_id = uuid.UUID(body["case_id"])
    history = len(api.store.case_history(case_id))
    h = {**api.auth(api.token_a), "Content-Type": "application/json"}
    url = f"/v1/cases/{body['case_id']}/supplements"
    for raw in (b'{"department": "civil_affairs", "form": {"a": 1, "a": 2}}\x00',
                b'{"department": "civil_affairs", "form": {"a": 1e999999}}',
                b'{"department": "civil_affairs", "form": {"a": ' + b"[" * 50_000 + b"]" * 50_000
                + b"}}", b'{"department": "\xff\xfe"}',
                b'{"department": "civil_affairs", "form": {"x": 1' + b"0" * 5000 + b"}}"):
        r = api.client.post(url, content=raw, headers=h)
        assert 400 <= r.status_code < 500, (raw[:60], r.status_code, r.text[:200])
        assert r.json()["errors"]
    cb = {"Content-Type": "application/json", "X-Hub-Timestamp": "1e999999",
          "X-Hub-Signature": "\x00" * 64}
    for raw in (b"\x00", b"[" * 100_000, b'{"result_id": "' + b"\xff" * 10 + b'"}'):
        r = api.client.post("/v1/callbacks/civil_affairs", content=raw, headers=cb)
        assert r.status_code == 401 and r.json()["errors"][0]["code"] == "callback.forged"
    # then nothing changed: no new case, outbox row, attachment or audit entry
    assert _stored(api) == before
    assert len(api.store.case_history(case_id)) == history
