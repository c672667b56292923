"""Abuse limits with no gaps (issue 18, item 14).

* One attachment belongs to one case: two cases (or a case and a supplement) naming the same
  upload at the same moment, both past the API's first ownership check, end with exactly one
  owner; the other is refused.
  Made deterministic with real PostgreSQL: another writer holds the store's write lock while
  both requests (through two API instances, as behind a load balancer) pass their checks.
* A terminal holds at most ``max_event_streams_per_terminal`` open ``/v1/events`` streams
  (real sockets, uvicorn), and uploads at most ``upload_bytes_per_terminal_per_hour``: beyond
  either it gets a 429 with a plain Chinese message; other terminals are not affected.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from hub.domain.models import LegEventKind
from hub.store.engine import make_engine
from tests.support.api import Api, event, live_server


def _lock_waiters(dsn: str) -> int:
    engine = make_engine(dsn)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar_one())
    finally:
        engine.dispose()


def test_two_concurrent_cases_cannot_both_claim_one_attachment(tmp_path: Path,
                                                                pg_dsn: str) -> None:
    # given two API instances over one PostgreSQL store, and two cases of one village that
    # name the same uploaded materials
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    first = Api(tmp_path / "one", pg_dsn)
    second = Api(tmp_path / "two", pg_dsn)
    try:
        case_a = first.new_case(first.token_a)
        case_b = {**case_a, "case_id": str(uuid.uuid4())}
        holder = make_engine(pg_dsn)
        answers: dict[str, Any] = {}
        with holder.connect() as conn:
            # while another writer holds the uploads' rows (both pass their checks)
            tx = conn.begin()
            ids = ", ".join(f"'{a['id']}'" for a in case_a["attachments"])
            conn.execute(text(f"SELECT id FROM attachments WHERE id IN ({ids}) FOR UPDATE"))
            threads = [threading.Thread(target=lambda n=n, api=api, body=body: answers.update(
                {n: api.submit(body, first.token_a)}))
                for n, api, body in (("a", first, case_a), ("b", second, case_b))]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while _lock_waiters(pg_dsn) < 2:  # both cases are waiting to be written
                assert time.monotonic() < deadline, "the two submissions never reached the store"
                assert all(t.is_alive() for t in threads), {k: v.text for k, v in answers.items()}
                time.sleep(0.05)
            # when the lock is released and both are written
            tx.rollback()
        for t in threads:
            t.join(30)
        holder.dispose()
        # then exactly one case is accepted, the other refused at the attachment in use
        statuses = sorted(r.status_code for r in answers.values())
        assert statuses == [202, 422], {k: (r.status_code, r.text) for k, r in answers.items()}
        refused = next(r for r in answers.values() if r.status_code == 422)
        assert {e["code"] for e in refused.json()["errors"]} == {"attachment.in_use"}
        winner = next(n for n, r in answers.items() if r.status_code == 202)
        owner_id = (case_a if winner == "a" else case_b)["case_id"]
        loser_id = (case_b if winner == "a" else case_a)["case_id"]
        # and every attachment belongs to the accepted case; the refused one was not stored
        ids = [a["id"] for a in case_a["attachments"]]
        owners = {str(row.case_id) for row in first.store.get_attachments(ids).values()}
        assert owners == {owner_id}
        assert first.store.get_case(uuid.UUID(loser_id)) is None
    finally:
        second.close()
        first.close()


def test_a_case_and_a_supplement_cannot_both_claim_one_attachment(tmp_path: Path,
                                                                   pg_dsn: str) -> None:
    # given a stored case whose civil affairs leg asks for the household register, a fresh
    # upload of it, and a second new case that names the same upload
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    first = Api(tmp_path / "one", pg_dsn)
    second = Api(tmp_path / "two", pg_dsn)
    try:
        waiting = first.new_case(first.token_a)
        assert first.submit(waiting).status_code == 202
        row = first.store.get_case(uuid.UUID(waiting["case_id"]))
        assert row is not None
        first.store.apply_leg_event(event(row.case, "civil_affairs", LegEventKind.SUBMITTED))
        first.store.apply_leg_event(event(row.case, "civil_affairs",
                                          LegEventKind.NEEDS_MATERIALS,
                                          missing=["household_register"]))
        up = first.upload(first.token_a, b"register, page 2", "household_register").json()
        ref = {"id": up["id"], "kind": "household_register", "media_type": "image/jpeg",
               "size": up["size"], "sha256": up["sha256"]}
        other = first.new_case(first.token_a)
        other["attachments"] = [ref if a["kind"] == "household_register" else a
                                for a in other["attachments"]]
        url = f"/v1/cases/{waiting['case_id']}/supplements"
        answers: dict[str, Any] = {}
        calls = {
            "case": lambda: first.submit(other, first.token_a),
            "supplement": lambda: second.client.post(url, headers=first.auth(first.token_a),
                                                     json={"department": "civil_affairs",
                                                           "attachments": [ref]})}
        holder = make_engine(pg_dsn)
        with holder.connect() as conn:
            # while another writer holds the upload's row (both pass their checks)
            tx = conn.begin()
            conn.execute(text(f"SELECT id FROM attachments WHERE id = '{ref['id']}' FOR UPDATE"))
            threads = [threading.Thread(target=lambda n=n, f=f: answers.update({n: f()}))
                       for n, f in calls.items()]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while _lock_waiters(pg_dsn) < 2:
                assert time.monotonic() < deadline, "the two requests never reached the store"
                assert all(t.is_alive() for t in threads), {k: v.text for k, v in answers.items()}
                time.sleep(0.05)
            # when the lock is released and both are written
            tx.rollback()
        for t in threads:
            t.join(30)
        holder.dispose()
        # then exactly one of them got the upload, the other was refused at it
        statuses = sorted(r.status_code for r in answers.values())
        assert statuses == [202, 422], {k: (r.status_code, r.text) for k, r in answers.items()}
        winner = next(n for n, r in answers.items() if r.status_code == 202)
        loser = answers["supplement" if winner == "case" else "case"]
        assert {e["code"] for e in loser.json()["errors"]} == {"attachment.in_use"}
        owner = first.store.get_attachments([ref["id"]])[ref["id"]].case_id
        assert str(owner) == (other if winner == "case" else waiting)["case_id"]
    finally:
        second.close()
        first.close()


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Api]:
    a = Api(tmp_path, None, max_event_streams_per_terminal=2,
            upload_bytes_per_terminal_per_hour=1000)
    yield a
    a.close()


def test_a_terminal_may_hold_only_so_many_event_streams(limited: Api) -> None:
    api = limited
    with live_server(api.app) as srv, httpx.Client(base_url=srv.url, timeout=10) as http:
        a, b = api.auth(api.token_a), api.auth(api.token_b)
        # given terminal A holding its two open event streams
        with http.stream("GET", "/v1/events", headers=a) as one, \
                http.stream("GET", "/v1/events", headers=a) as two:
            assert one.status_code == two.status_code == 200
            # when it opens a third
            third = http.get("/v1/events", headers=a)
            # then that one is refused with a 429 and a Chinese message
            assert third.status_code == 429, third.text
            err = third.json()["errors"][0]
            assert err["code"] == "events.too_many_streams" and "上限" in err["message"]
            assert third.headers["Retry-After"]
            # and another terminal is not affected
            assert http.get("/v1/events?once=1", headers=b).status_code == 200
        # once A closed its streams, it may open one again (the server notices the hang-up)
        deadline = time.monotonic() + 20
        while (r := http.get("/v1/events?once=1", headers=a)).status_code == 429:
            assert time.monotonic() < deadline, "closed streams never gave their slots back"
            time.sleep(0.1)
        assert r.status_code == 200


def test_a_terminal_may_upload_only_so_much_per_hour(limited: Api) -> None:
    api = limited
    # given terminal A that uploaded 600 of its 1000 bytes this hour
    assert api.upload(api.token_a, b"x" * 600).status_code == 201
    # when it uploads 600 more
    r = api.upload(api.token_a, b"y" * 600)
    # then it is refused with a 429 and a Chinese message, and nothing of it is kept
    assert r.status_code == 429, r.text
    err = r.json()["errors"][0]
    assert err["code"] == "attachment.volume" and "上限" in err["message"]
    assert int(r.headers["Retry-After"]) > 0
    assert len(api.store.list_attachments()) == 1
    # and a streamed upload without a declared length stops at the budget as well
    chunks = iter([b"z" * 300, b"z" * 300])
    streamed = api.client.post("/v1/attachments?kind=birth_certificate", content=chunks,
                               headers={**api.auth(api.token_a), "Content-Type": "image/jpeg",
                                        "X-Content-SHA256": "0" * 64})
    assert streamed.status_code == 429 and len(api.store.list_attachments()) == 1
    # and terminal B still has its own budget
    assert api.upload(api.token_b, b"w" * 600).status_code == 201


