"""`hub audit verify` and `hub retention run` against the real case store (SQLite, PostgreSQL).

The tamper is done the way an insider would: SQL straight into the audit table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hub.cli.main import main
from hub.config.settings import Settings
from hub.domain.models import Case, LegEventKind, utcnow
from hub.evidence.blobs import open_blob_store
from hub.intake.split_legs import route
from hub.store import Store, open_store
from hub.store.base import AttachmentRow
from hub.store.engine import normalise_dsn
from tests.support.api import VILLAGE_A, body_hash, config, event, raw_case, submit

K = LegEventKind


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def dsn(request: pytest.FixtureRequest, hub_data_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> str:
    value = (f"sqlite:///{hub_data_dir / 'store.db'}" if request.param == "sqlite"
             else str(request.getfixturevalue("pg_dsn")))
    monkeypatch.setenv("HUB_STORE_DSN", value)
    return value


@pytest.fixture
def store(dsn: str) -> Iterator[Store]:
    s = open_store(dsn)
    yield s
    s.close()


def sql(dsn: str, statement: str) -> None:
    engine = create_engine(normalise_dsn(dsn))
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["audit", "verify", *argv])
    return code, capsys.readouterr().out


def a_history(store: Store) -> None:
    case, _ = submit(store)
    for dept in {leg.department for leg in route(case, config())}:
        store.apply_leg_event(event(case, dept, K.SUBMITTED, receipt="R1"))
    store.append_audit("note", None, {"x": 1})
    store.seal()  # PostgreSQL: the sequencer chains entries soon after; the tamper needs them now


def test_an_intact_log_verifies(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    a_history(store)
    code, out = verify(capsys)
    assert code == 0 and "audit log intact" in out


@pytest.mark.parametrize(("tamper", "named"), [
    ("UPDATE audit SET entry = replace(entry, '\"x\"', '\"y\"') WHERE seq = {last}", "last"),
    ("DELETE FROM audit WHERE seq = 2", 3),
    # reordering: two rows swap their contents (seq numbers stay contiguous)
    ("UPDATE audit SET entry = CASE seq WHEN 2 THEN (SELECT entry FROM audit WHERE seq = 3) "
     "ELSE (SELECT entry FROM audit WHERE seq = 2) END WHERE seq IN (2, 3)", 2),
])
def test_an_edited_removed_or_reordered_entry_is_named_and_fails_the_command(
        store: Store, dsn: str, capsys: pytest.CaptureFixture[str], tamper: str,
        named: int | str) -> None:
    a_history(store)
    last = max(e.seq for e in store.audit_entries())
    sql(dsn, tamper.format(last=last))
    code, out = verify(capsys, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False
    assert (last if named == "last" else named) in [b["seq"] for b in doc["breaches"]]


def test_removing_the_newest_entry_is_caught_with_the_recorded_head(
        store: Store, dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    a_history(store)
    head = json.loads(verify(capsys, "--json")[1])["head"]
    last = max(e.seq for e in store.audit_entries())
    sql(dsn, f"DELETE FROM audit WHERE seq = {last}")
    code, out = verify(capsys, "--expect-head", head)
    assert code == 1 and "newest entries removed" in out


def test_removing_the_newest_entries_is_caught_by_the_stored_head(
        store: Store, dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    a_history(store)
    last = max(e.seq for e in store.audit_entries())
    # given an insider deletes the two newest entries (the shorter chain is intact on its own)
    sql(dsn, f"DELETE FROM audit WHERE seq >= {last - 1}")
    # then verify, with nothing recorded elsewhere, reads the head row and fails naming it
    code, out = verify(capsys, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False
    assert [b["seq"] for b in doc["breaches"]] == [last]
    assert "newest entries removed" in doc["breaches"][0]["problem"]


def test_an_emptied_log_is_caught_by_the_stored_head(
        store: Store, dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    a_history(store)
    sql(dsn, "DELETE FROM audit")
    code, out = verify(capsys)
    assert code == 1 and "the log is empty but the head row records entry" in out



def upload(settings: Settings, store: Store, kind: str, media: str, age_days: int) -> str:
    blobs = open_blob_store(settings)
    data = f"{kind} evidence".encode()
    w = blobs.writer(kind, 10_000)
    w.write(data)
    info = w.commit(hashlib.sha256(data).hexdigest())
    store.record_attachment(AttachmentRow(
        id=info.id, village=VILLAGE_A, terminal_id="t1", kind=kind, media_type=media,
        size=info.size, sha256=info.sha256, key_id=info.key_id,
        created_at=utcnow() - dt.timedelta(days=age_days)))
    return info.id


def case_with(store: Store, ids: list[str], *, settle: bool) -> Case:
    case = Case.model_validate(raw_case("BIRTH", attachment_ids=ids))
    legs = route(case, config())
    store.create_case(case, legs, body_hash(case))
    if settle:
        for dept in {leg.department for leg in legs}:
            store.apply_leg_event(event(case, dept, K.SUBMITTED, receipt="R"))
            store.apply_leg_event(event(case, dept, K.APPROVED))
    return case


def test_retention_deletes_only_expired_attachments_of_settled_cases_and_audits_each(
        store: Store, hub_data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=hub_data_dir)
    # given a settled case with 4-year-old scans, an open case with 4-year-old scans,
    # and a settled case with 2-year-old scans (documents keep 3 years)
    old_settled = [upload(settings, store, k, "image/jpeg", 1500) for k in ("a", "b", "c")]
    old_open = [upload(settings, store, k, "image/jpeg", 1500) for k in ("a", "b", "c")]
    young = [upload(settings, store, k, "image/jpeg", 700) for k in ("a", "b", "c")]
    settled_case = case_with(store, old_settled, settle=True)
    case_with(store, old_open, settle=False)
    case_with(store, young, settle=True)
    blobs = open_blob_store(settings)
    # when the operator looks first, nothing changes
    assert main(["retention", "run", "--dry-run"]) == 0
    assert "would delete 3 attachment(s) (document 3); kept 3" in capsys.readouterr().out
    assert all(blobs.exists(i) for i in old_settled)
    # and the real run deletes exactly the settled case's expired scans
    assert main(["retention", "run", "--json"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)["attachments"]) == sorted(old_settled)
    assert not any(blobs.exists(i) for i in old_settled)
    assert all(blobs.exists(i) for i in old_open + young)
    # then each deletion is in the case's audit history and the chain is still intact
    history = store.case_history(uuid.UUID(str(settled_case.case_id)))
    deleted = [h.entry for h in history if h.kind == "attachment_deleted"]
    assert sorted(str(e["attachment_id"]) for e in deleted) == sorted(old_settled)
    assert all(str(e["reason"]).startswith("retention:document") for e in deleted)
    assert verify(capsys)[0] == 0
    # and a second run has nothing to do
    assert main(["retention", "run"]) == 0
    assert "deleted 0 attachment(s)" in capsys.readouterr().out
