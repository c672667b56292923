"""Server-sent events on a real socket (uvicorn), and signed department callbacks."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.domain.callbacks import sign
from hub.domain.models import LegEventKind
from tests.support.api import VILLAGE_B, Api, event, live_server

K = LegEventKind
SECRET_ENV = "HUB_CIVIL_AFFAIRS_CALLBACK_SECRET"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    a = Api(tmp_path, None)
    yield a
    a.close()


def read_events(url: str, token: str, *, last_id: str | None = None,
                query: str = "once=1") -> list[tuple[str, str, dict[str, object]]]:
    headers = {"Authorization": f"Bearer {token}"}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    out: list[tuple[str, str, dict[str, object]]] = []
    with httpx.stream("GET", f"{url}/v1/events?{query}", headers=headers, timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in r.iter_lines():
            if line.startswith(":"):
                continue
            if not line:
                if fields:
                    out.append((fields["id"], fields["event"], json.loads(fields["data"])))
                fields = {}
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
    return out


def test_events_stream_is_resumable_and_per_village(api: Api) -> None:
    body = api.new_case(api.token_a)
    api.submit(body)
    api.submit(api.new_case(api.token_b, village=VILLAGE_B), api.token_b)
    case = api.store.get_case(uuid.UUID(body["case_id"]))
    assert case is not None
    api.store.apply_leg_event(event(case.case, "civil_affairs", K.SUBMITTED))
    with live_server(api.app) as srv:
        first = read_events(srv.url, api.token_a)
        assert [e[1] for e in first] == ["case_created", "leg"]
        assert all(e[2]["case_id"] == body["case_id"] for e in first)
        assert first[1][2]["state"] == "submitted" and first[1][2]["state_label"]
        # Resume after the first event: only the second comes again.
        assert read_events(srv.url, api.token_a, last_id=first[0][0]) == first[1:]
        other = read_events(srv.url, api.token_b)
        assert len(other) == 1 and other[0][2]["case_id"] != body["case_id"]
        # Live: an event applied while the stream is open arrives on it.
        timer = threading.Timer(0.3, lambda: api.store.apply_leg_event(
            event(case.case, "civil_affairs", K.APPROVED)))
        timer.start()
        try:
            live = read_events(srv.url, api.token_a, last_id=first[-1][0], query="timeout=3")
        finally:
            timer.join()
        assert [e[2]["state"] for e in live] == ["approved"]
        bad = httpx.get(f"{srv.url}/v1/events?once=1", headers={
            "Authorization": f"Bearer {api.token_a}", "Last-Event-ID": "abc"})
        assert bad.status_code == 422


def test_a_revoked_terminals_stream_ends(api: Api) -> None:
    with live_server(api.app) as srv:
        timer = threading.Timer(0.3, lambda: api.store.revoke_terminal(api.term_a))
        timer.start()
        started = time.monotonic()
        try:
            read_events(srv.url, api.token_a, query="timeout=20")
        finally:
            timer.join()
        assert time.monotonic() - started < 10  # ended long before its 20 s timeout


def _callback(api: Api, body: dict[str, object], *, secret: bytes = b"s3cret",
              ts: float | None = None, dept: str = "civil_affairs") -> httpx.Response:
    raw = json.dumps(body).encode()
    stamp = str(int(ts if ts is not None else time.time()))
    headers = {"X-Hub-Timestamp": stamp, "X-Hub-Signature": sign(secret, stamp, raw),
               "Content-Type": "application/json"}
    return api.client.post(f"/v1/callbacks/{dept}", content=raw, headers=headers)


def test_signed_callbacks_are_applied_once(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    body = api.new_case(api.token_a)
    api.submit(body)
    case = api.store.get_case(uuid.UUID(body["case_id"]))
    assert case is not None
    api.store.apply_leg_event(event(case.case, "civil_affairs", K.SUBMITTED))
    result = {"result_id": "r-1", "leg_id": f"{body['case_id']}:civil_affairs",
              "outcome": "needs_materials", "department_ref": "MZ-1", "detail": "缺户口簿",
              "missing_materials": ["household_register"]}
    first = _callback(api, result)
    assert first.status_code == 200 and first.json()["applied"] is True
    replay = _callback(api, result)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    view = api.client.get(f"/v1/cases/{body['case_id']}", headers=api.auth(api.token_a)).json()
    leg = {g["department"]: g for g in view["legs"]}["civil_affairs"]
    assert leg["state"] == "needs_materials"
    assert leg["missing_materials"] == [{"code": "household_register", "name": "户口簿"}]
    history = [h.kind for h in api.store.case_history(case.case_id)]
    assert history.count("leg_event") == 2  # submitted + one callback, not two

    forged = _callback(api, {**result, "result_id": "r-2"}, secret=b"wrong")
    assert forged.status_code == 401 and forged.json()["errors"][0]["code"] == "callback.forged"
    stale = _callback(api, {**result, "result_id": "r-3"}, ts=time.time() - 3600)
    assert stale.status_code == 401 and stale.json()["errors"][0]["code"] == "callback.stale"
    assert _callback(api, {"result_id": "r-4"}).status_code == 422
    other_dept = _callback(api, {**result, "result_id": "r-5",
                                 "leg_id": f"{body['case_id']}:medical_insurance"})
    assert other_dept.status_code == 422
    assert _callback(api, result, dept="medical_insurance").status_code == 404
    out_of_order = _callback(api, {**result, "result_id": "r-6", "outcome": "accepted"})
    assert out_of_order.status_code == 200 and out_of_order.json()["refused_reason"]


def test_callbacks_are_closed_without_a_configured_secret(api: Api,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    r = _callback(api, {"result_id": "r", "leg_id": "x:civil_affairs", "outcome": "approved"})
    assert r.status_code == 404
