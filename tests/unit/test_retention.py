"""Retention: what expires when, and that nothing an unsettled case needs is ever deleted."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.config.settings import REPO_CONFIG
from hub.domain.errors import ConfigError
from hub.evidence.blobs import BlobStore
from hub.evidence.keys import KeyRing
from hub.evidence.retention import (
    AttachmentRecord,
    RetentionPolicy,
    load_policy,
    plan,
    run,
)

NOW = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)
POLICY = load_policy(REPO_CONFIG / "retention.yaml")


def days_ago(n: float) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


def rec(kind: str, media: str, age_days: float, case: str | None = "c1",
        blob_id: str | None = None) -> AttachmentRecord:
    blob_id = blob_id or uuid.uuid4().hex
    return AttachmentRecord(blob_id, blob_id, case, kind, media, days_ago(age_days))


@dataclass
class MemoryStore:
    """RetentionStore over a dict; marking also appends the audit entry, as the store does."""

    attachments: dict[str, AttachmentRecord]
    settled: set[str]
    deleted: dict[str, str] = field(default_factory=dict)
    audit: list[tuple[str | None, str, dict[str, Any]]] = field(default_factory=list)

    def attachments_for_retention(self) -> Iterator[AttachmentRecord]:
        return iter([a for a in self.attachments.values() if a.id not in self.deleted])

    def case_settled(self, case_id: str) -> bool:
        return case_id in self.settled

    def mark_attachment_deleted(self, attachment_id: str, reason: str) -> None:
        self.deleted[attachment_id] = reason
        a = self.attachments[attachment_id]
        self.audit.append((a.case_id, "attachment_deleted",
                           {"attachment_id": attachment_id, "kind": a.kind, "reason": reason}))


def test_the_shipped_policy_keeps_media_one_year_and_documents_three() -> None:
    assert POLICY.classes[POLICY.classify("home_visit_video", "video/mp4")].days == 365
    assert POLICY.classes[POLICY.classify("any", "audio/amr")].days == 365
    assert POLICY.classes[POLICY.classify("id_card", "image/jpeg")].days == 1095
    assert POLICY.classes[POLICY.classify("income_statement", "application/pdf")].days == 1095
    assert POLICY.classify("unknown", "application/x-unknown") == POLICY.default_class


def test_kind_decides_before_media_type() -> None:
    # a face-verification "video" captured as a still image sequence still counts as media
    assert POLICY.classify("face_video", "image/jpeg") == "media"


@pytest.mark.parametrize(("kind", "media", "age", "expected"), [
    ("face_video", "video/mp4", 364.9, False),
    ("face_video", "video/mp4", 365.1, True),
    ("id_card", "image/jpeg", 400, False),
    ("id_card", "image/jpeg", 1094.9, False),
    ("id_card", "image/jpeg", 1095.1, True),
])
def test_expiry_follows_the_class(kind: str, media: str, age: float, expected: bool) -> None:
    selected = plan([rec(kind, media, age)], NOW, POLICY, lambda _c: True)
    assert bool(selected) is expected


def test_an_unsettled_case_keeps_its_expired_attachments() -> None:
    old_video = rec("face_video", "video/mp4", 800, case="open")
    held: list[Any] = []
    assert plan([old_video], NOW, POLICY, lambda c: c != "open", held=held) == []
    assert [d.attachment_id for d in held] == [old_video.id]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["face_video", "id_card", "x"]),
                          st.sampled_from(["video/mp4", "image/png", "audio/amr", "a/b"]),
                          st.floats(0, 3000), st.sampled_from(["c1", "c2", "c3", None])),
                max_size=30),
       st.sets(st.sampled_from(["c1", "c2", "c3"])))
def test_plan_never_selects_what_an_unsettled_case_needs_or_what_has_not_expired(
        rows: list[tuple[str, str, float, str | None]], settled: set[str]) -> None:
    records = [rec(k, m, age, case) for k, m, age, case in rows]
    selected = plan(records, NOW, POLICY, lambda c: c in settled)
    by_id = {r.id: r for r in records}
    for d in selected:
        r = by_id[d.attachment_id]
        assert r.case_id is None or r.case_id in settled
        assert r.created_at + dt.timedelta(days=POLICY.classes[d.retention_class].days) <= NOW
    # and everything expired and settled is selected
    expired_settled = {r.id for r in records
                       if (r.case_id is None or r.case_id in settled)
                       and r.created_at + dt.timedelta(
                           days=POLICY.classes[POLICY.classify(r.kind, r.media_type)].days) <= NOW}
    assert {d.attachment_id for d in selected} == expired_settled


def blob_store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs", KeyRing({"k": secrets.token_bytes(32)}, "k"))


def stored(blobs: BlobStore, kind: str, media: str, age: float,
           case: str | None) -> AttachmentRecord:
    w = blobs.writer(kind, 10_000)
    w.write(b"evidence")
    info = w.commit(hashlib.sha256(b"evidence").hexdigest())
    return rec(kind, media, age, case, blob_id=info.id)


def test_run_deletes_expired_blobs_audits_each_deletion_and_spares_the_rest(
        tmp_path: Path) -> None:
    # given an old video of a settled case, an old video of an open case and a recent scan
    blobs = blob_store(tmp_path)
    gone = stored(blobs, "face_video", "video/mp4", 400, "settled")
    held = stored(blobs, "face_video", "video/mp4", 400, "open")
    young = stored(blobs, "id_card", "image/jpeg", 400, "settled")
    store = MemoryStore({a.id: a for a in (gone, held, young)}, settled={"settled"})
    # when a dry run looks first
    dry = run(store, blobs, POLICY, NOW, dry_run=True)
    assert [d.attachment_id for d in dry.deleted] == [gone.id]
    assert blobs.exists(gone.id) and store.audit == [] and store.deleted == {}
    # and then the real run
    report = run(store, blobs, POLICY, NOW)
    # then only the settled case's expired video is gone, and the audit log says so
    assert not blobs.exists(gone.id) and blobs.exists(held.id) and blobs.exists(young.id)
    assert list(store.deleted) == [gone.id]
    assert [(c, e["attachment_id"]) for c, _k, e in store.audit] == [("settled", gone.id)]
    assert store.audit[0][2]["reason"] == "retention:media: uploaded 2026-04-27, expired 2027-04-27"
    assert report.summary()["held_for_unsettled_case"] == 1
    # and a second run finds nothing more to do
    assert run(store, blobs, POLICY, NOW).deleted == []


def test_a_case_reopened_after_planning_keeps_its_attachments(tmp_path: Path) -> None:
    blobs = blob_store(tmp_path)
    a = stored(blobs, "face_video", "video/mp4", 400, "c")

    class Reopening(MemoryStore):
        calls = 0

        def case_settled(self, case_id: str) -> bool:
            self.calls += 1
            return self.calls == 1  # settled while planning, reopened before deletion

    store = Reopening({a.id: a}, settled=set())
    report = run(store, blobs, POLICY, NOW)
    assert report.deleted == [] and blobs.exists(a.id) and store.audit == []


def test_a_run_interrupted_after_the_blob_went_still_marks_and_audits(tmp_path: Path) -> None:
    blobs = blob_store(tmp_path)
    a = stored(blobs, "face_video", "video/mp4", 400, None)
    blobs.delete(a.blob_id)  # a crash happened right after the blob was deleted
    store = MemoryStore({a.id: a}, settled=set())
    run(store, blobs, POLICY, NOW)
    assert list(store.deleted) == [a.id] and len(store.audit) == 1


def test_naive_timestamps_from_sqlite_count_as_utc() -> None:
    a = AttachmentRecord("a", "a", None, "x", "video/mp4", days_ago(366).replace(tzinfo=None))
    assert [d.attachment_id for d in plan([a], NOW, POLICY, lambda _c: True)] == ["a"]


def test_a_bad_policy_file_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text("default_class: documents\nclasses:\n  document: {days: 10, kind: [x]}\n")
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    text = str(caught.value)
    assert "retention.yaml: classes.document.kind: unknown key 'kind'" in text
    path.write_text("default_class: documents\nclasses:\n  document: {days: 10}\n")
    with pytest.raises(ConfigError, match="did you mean 'document'"):
        load_policy(path)
    path.write_text("default_class: a\nclasses:\n  a: {days: 1, kinds: [v]}\n"
                    "  b: {days: 2, kinds: [v]}\n")
    with pytest.raises(ConfigError, match="in both 'a' and 'b'"):
        load_policy(path)


def test_policy_models_are_frozen() -> None:
    with pytest.raises(Exception, match="frozen"):
        POLICY.default_class = "media"  # type: ignore[misc]
    assert isinstance(POLICY, RetentionPolicy)
