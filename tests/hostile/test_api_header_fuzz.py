"""Headers and query parameters of every route under fuzzing: no value gives a 500 or a broken
stream (issue 18, item 11).

Schemathesis generates well-formed header values from the document; what breaks servers is the
rest: non-ASCII bytes, digits beyond any integer type, Unicode digits (``"²".isdigit()`` is
True, ``int("²")`` raises), empty and huge values. Hypothesis draws such values for every header
a route reads (declared in ``/openapi.json`` plus the generic ones) and for every query
parameter of the route (plus unknown ones), over a real store, with a valid terminal token; every
answer must be a 2xx or a 4xx with the problem list, and an event stream must end cleanly.
The three inputs the issue names are also kept as plain regression cases.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hub.domain.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.support.api import Api

EXAMPLES_PER_ROUTE = 60
GENERIC_HEADERS = ("Content-Type", "Content-Length", "Accept", "Last-Event-ID",
                   "X-Hub-Signature", "X-Hub-Timestamp", "X-Content-SHA256", "X-Attachment-Kind")
HOSTILE: list[bytes] = [
    b"", b" ", b"0", b"-1", b"99999999999999999999", b"9" * 5000, b"1" + b"0" * 400,
    "²".encode(), "١٢٣".encode(), "签名".encode(), b"\xff\xfe\x00", b"\x80" * 64, b"1e999999",
    b"NaN", b"Infinity", b"a" * 8000, b"%00", b"../../etc/passwd", b"\x00" * 64,
]
# Header values as a peer can put them on the wire: any bytes but CR, LF (which end a header)
RAW_VALUE = st.one_of(st.sampled_from(HOSTILE),
                      st.binary(max_size=300).filter(lambda b: b"\r" not in b and b"\n" not in b))
QUERY_VALUE = st.one_of(st.sampled_from([v.decode("latin-1") for v in HOSTILE]),
                        st.text(max_size=200))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    mp = pytest.MonkeyPatch()
    mp.setenv("HUB_CIVIL_AFFAIRS_CALLBACK_SECRET", "s3cret")
    a = Api(tmp_path_factory.mktemp("headers"), None, requests_per_terminal_per_minute=10**9)
    yield a
    a.close()
    mp.undo()


def _routes(api: Api) -> list[tuple[str, str, set[str], set[str]]]:
    """(method, path, header names, query names) of every operation in the document."""
    doc = api.client.get("/openapi.json").json()
    out = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            params = op.get("parameters", [])
            out.append((method, path, {p["name"] for p in params if p["in"] == "header"},
                        {p["name"] for p in params if p["in"] == "query"}))
    return out


def _fill(path: str, case_id: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: {"case_id": case_id,
                                          "department": "civil_affairs"}.get(m[1], "x"), path)


def _request(api: Api, method: str, url: str, headers: dict[str, bytes],
             query: dict[str, str]) -> Any:
    body = b"{}" if method == "post" else None
    return api.client.request(method.upper(), url, params=query, content=body,
                              headers=[(k.encode(), v) for k, v in headers.items()])


def _assert_answered(r: Any, label: str) -> None:
    assert r.status_code < 500, (label, r.status_code, r.text[:300])
    if r.status_code >= 400 and not label.startswith("HEAD "):  # a HEAD answer has no body
        errors = r.json()["errors"]
        assert errors and all({"path", "code", "message"} <= set(e) for e in errors), label
    elif r.headers.get("content-type", "").startswith("text/event-stream"):
        assert r.text.startswith(": connected"), (label, r.text[:200])


def _fuzz_route(api: Api, case_id: str, method: str, path: str, header_names: list[str],
                query_names: list[str], failures: list[str]) -> None:
    @settings(max_examples=EXAMPLES_PER_ROUTE, derandomize=True, deadline=None,
              database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(headers=st.dictionaries(st.sampled_from(header_names), RAW_VALUE, max_size=4),
           query=st.dictionaries(st.sampled_from(query_names), QUERY_VALUE, max_size=3))
    def call(headers: dict[str, bytes], query: dict[str, str]) -> None:
        label = f"{method.upper()} {path} headers={headers!r:.200} query={query!r:.200}"
        if path == "/v1/events":  # a stream: ask for the backlog only
            query = {**query, "once": "true"}
        headers = {**headers, "Authorization": f"Bearer {api.token_a}".encode()}
        try:
            r = _request(api, method, _fill(path, case_id), headers, query)
        except Exception as exc:  # the in-process client re-raises what became a 500
            failures.append(f"{label} -> unhandled {type(exc).__name__}")
            return
        try:
            _assert_answered(r, label)
        except AssertionError as exc:
            failures.append(str(exc)[:400])

    call()


@pytest.mark.slow
def test_fuzzed_headers_and_query_parameters_never_get_a_server_error(api: Api) -> None:
    # given a stored case, and every route the document lists
    body = api.new_case(api.token_a)
    assert api.submit(body).status_code == 202
    routes = _routes(api)
    assert len(routes) >= 9
    failures: list[str] = []
    for method, path, declared_headers, declared_query in routes:
        # when each route gets its hostile headers and query parameters
        _fuzz_route(api, body["case_id"], method, path,
                    sorted(declared_headers | set(GENERIC_HEADERS)),
                    sorted(declared_query | {"after", "limit", "cursor", "x"}), failures)
    # then none answered with a server error or a broken stream
    assert failures == [], "\n".join(failures[:10])


def test_the_inputs_of_issue_18_item_11_get_a_clear_refusal(api: Api) -> None:
    h = api.auth(api.token_a)
    # a callback whose signature header carries non-ASCII bytes: forged, not a 500
    raw = json.dumps({"result_id": "r", "leg_id": f"{uuid.uuid4()}:civil_affairs",
                      "outcome": "approved"}).encode()
    r = api.client.post("/v1/callbacks/civil_affairs", content=raw, headers=[
        (TIMESTAMP_HEADER.encode(), str(int(time.time())).encode()),
        (SIGNATURE_HEADER.encode(), "签名".encode() + b"\xff" * 30),
        (b"Content-Type", b"application/json")])
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "callback.forged", r.text
    # a 5,000-digit Last-Event-ID: refused at that header
    r = api.client.get("/v1/events?once=1", headers={**h, "Last-Event-ID": "9" * 5000})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["path"] == "Last-Event-ID"
    # ?after= beyond any event sequence number: refused before the stream starts
    r = api.client.get("/v1/events?once=1&after=99999999999999999999", headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["path"] == "query.after"


