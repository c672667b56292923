"""Department answers reach the store once, whatever path they came by (issue 18, items 2, 5, 6).

Against the real API and store (SQLite and PostgreSQL): a signed callback goes through
``POST /v1/callbacks/civil_affairs``; the polled copy of an answer goes the way the result
poller sends it (``result_event`` -> ``event_message`` -> the status tracker's batch).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from hub.bus.base import Ack, Dead, Delivery
from hub.delivery.result_poller import event_message
from hub.domain.adapter import Result
from hub.domain.answers import result_event
from hub.domain.callbacks import sign
from hub.domain.models import LegEvent, LegEventKind, LegState, utcnow
from hub.intake import split_legs as router
from hub.tracking.tracker import StatusTracker
from tests.support.api import Api, config, event

K = LegEventKind
DEPT = "civil_affairs"
SECRET_ENV = "HUB_CIVIL_AFFAIRS_CALLBACK_SECRET"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    dsn = None if request.param == "sqlite" else str(request.getfixturevalue("pg_dsn"))
    a = Api(tmp_path, dsn)
    yield a
    a.close()


def callback(api: Api, body: Mapping[str, object]) -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = str(int(time.time()))
    response: httpx.Response = api.client.post(f"/v1/callbacks/{DEPT}", content=raw, headers={
        "X-Hub-Timestamp": stamp, "X-Hub-Signature": sign(b"s3cret", stamp, raw),
        "Content-Type": "application/json"})
    return response


def polled(tracker: StatusTracker, *events: LegEvent) -> list[object]:
    """The tracker's answer to a batch, as the result poller would have published it."""
    return list(tracker.handle_batch([Delivery(event_message(e), "hub.domain.leg_states", 1)
                                      for e in events]))


def submitted_case(api: Api) -> uuid.UUID:
    body = api.new_case(api.token_a)
    assert api.submit(body).status_code == 202
    case_id = uuid.UUID(body["case_id"])
    row = api.store.get_case(case_id)
    assert row is not None
    api.store.apply_leg_event(event(row.case, DEPT, K.SUBMITTED, receipt="MZ-1"))
    return case_id


def leg(api: Api, case_id: uuid.UUID) -> dict[str, object]:
    view = api.client.get(f"/v1/cases/{case_id}", headers=api.auth(api.token_a)).json()
    return dict({g["department"]: g for g in view["legs"]}[DEPT])


def test_an_answer_by_callback_and_by_polling_is_applied_once(api: Api) -> None:
    case_id = submitted_case(api)
    answer = Result(result_id="MZ-1-7", leg_id=f"{case_id}:{DEPT}", outcome="needs_materials",
                    department_ref="MZ-1", detail="请补充户口簿",
                    missing_materials=("household_register",))
    doc = {"result_id": answer.result_id, "leg_id": answer.leg_id, "outcome": answer.outcome,
           "department_ref": answer.department_ref, "detail": answer.detail,
           "missing_materials": list(answer.missing_materials)}
    # given the department called back, and the clerk answered with the missing material
    assert callback(api, doc).json()["applied"] is True
    row = api.store.get_case(case_id)
    assert row is not None
    message = router.supplement(row.case, DEPT, [], {}, config())
    assert api.store.add_supplement(case_id, DEPT, message).applied
    assert leg(api, case_id)["state"] == "resubmitted"
    # when the same answer arrives again by polling (the REST cursor restarts at 0)
    assert polled(StatusTracker(api.store), result_event(answer, DEPT)) == [Ack()]
    # then the leg does not move back, and the audit log holds no refused entry
    assert leg(api, case_id)["state"] == "resubmitted"
    kinds = [h.kind for h in api.store.case_history(case_id)]
    assert "leg_event_refused" not in kinds
    # and a replayed callback is the same known duplicate
    again = callback(api, doc)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert [h.kind for h in api.store.case_history(case_id)] == kinds


def test_a_long_foreign_result_id_is_applied_and_never_stops_the_tracker(api: Api) -> None:
    case_id = submitted_case(api)
    long_id = "MZ-" + "7" * 400  # REST and SOAP result ids are unbounded
    doc = {"result_id": long_id, "leg_id": f"{case_id}:{DEPT}", "outcome": "accepted",
           "department_ref": "MZ-1", "detail": "已受理", "missing_materials": []}
    # a callback carrying it is applied (on PostgreSQL it got 503 for ever)
    first = callback(api, doc)
    assert first.status_code == 200 and first.json()["applied"] is True, first.text
    assert leg(api, case_id)["state"] == "accepted"
    # and its polled copy is the same answer: one event id for both paths
    answer = Result(result_id=long_id, leg_id=f"{case_id}:{DEPT}", outcome="accepted",
                    department_ref="MZ-1", detail="已受理")
    assert polled(StatusTracker(api.store), result_event(answer, DEPT)) == [Ack()]
    assert [h.kind for h in api.store.case_history(case_id)].count("leg_event") == 2


def test_one_event_the_store_cannot_hold_is_parked_alone(api: Api) -> None:
    one, other = submitted_case(api), submitted_case(api)
    at = utcnow()
    good = [LegEvent(event_id=f"ok-{n}", case_id=c, leg_id=f"{c}:{DEPT}", department=DEPT,
                     kind=K.ACCEPTED, at=at) for n, c in enumerate((one, other))]
    # an event published by an older worker, with an id wider than the store's column,
    # and one whose text no PostgreSQL text column can hold
    too_long = good[0].model_copy(update={"event_id": "r:civil_affairs:" + "x" * 300})
    nul = good[1].model_copy(update={"event_id": "nul-1", "kind": K.APPROVED,
                                     "detail": "审核\x00通过"})
    outcomes = polled(StatusTracker(api.store), good[0], too_long, nul, good[1])
    # then the two good events are applied, and only the bad ones are dead-lettered
    assert outcomes[0] == outcomes[3] == Ack(), outcomes
    assert isinstance(outcomes[1], Dead)
    assert leg(api, one)["state"] == "accepted"
    if api.settings.effective_store_dsn().startswith("postgres"):  # SQLite holds a NUL
        assert isinstance(outcomes[2], Dead), outcomes
        assert leg(api, other)["state"] == "accepted"


def test_a_retry_keeps_what_the_department_told_the_clerk(api: Api) -> None:
    case_id = submitted_case(api)
    answer = Result(result_id="MZ-1-9", leg_id=f"{case_id}:{DEPT}", outcome="needs_materials",
                    department_ref="MZ-1", detail="请补充户口簿",
                    missing_materials=("household_register",))
    tracker = StatusTracker(api.store)
    assert polled(tracker, result_event(answer, DEPT)) == [Ack()]
    # when a delivery to the department fails and the worker publishes its retry evidence
    retrying = LegEvent(event_id="t:m-1:1", case_id=case_id, leg_id=f"{case_id}:{DEPT}",
                        department=DEPT, kind=K.RETRYING,
                        detail="attempt 1: TransientError: civil_affairs: HTTP 503", at=utcnow())
    assert polled(tracker, retrying) == [Ack()]
    # then the clerk still sees the department's words and its list of missing materials
    shown = leg(api, case_id)
    assert shown["state"] == LegState.NEEDS_MATERIALS.value
    assert shown["detail"] == "请补充户口簿"
    assert shown["missing_materials"] == [{"code": "household_register", "name": "户口簿"}]
    # and the retry is still evidence in the audit log
    entries = [h.entry for h in api.store.case_history(case_id) if h.kind == "leg_event"]
    assert any(e.get("event") == "retrying" for e in entries)


def settled_count() -> float:
    from hub.observability import metrics

    return metrics.REGISTRY.get_sample_value("hub_case_settle_seconds_count") or 0.0


def test_a_callback_goes_through_the_tracker_like_every_answer(api: Api) -> None:
    # (issue 12, item 2) a callback that settles a case is seen by the tracker's hooks: the
    # settle-time histogram counts it as it counts a case settled by a polled answer
    case_id = submitted_case(api)
    row = api.store.get_case(case_id)
    assert row is not None
    for other in {g.department for g in row.legs} - {DEPT}:
        api.store.apply_leg_event(event(row.case, other, K.SUBMITTED, receipt="R"))
        api.store.apply_leg_event(event(row.case, other, K.APPROVED))
    before = settled_count()
    doc = {"result_id": "MZ-1-11", "leg_id": f"{case_id}:{DEPT}", "outcome": "approved",
           "department_ref": "MZ-1", "detail": "审核通过", "missing_materials": []}
    assert callback(api, doc).json()["applied"] is True
    settled = api.store.get_case(case_id)
    assert settled is not None and settled.settled
    assert settled_count() == before + 1
