"""Retention of attachments: classes per attachment kind, a pure planner and a runner.

``config/retention.yaml`` names retention classes (by default audio/video 365 days, documents
1095 days). An attachment's class is found by its ``kind`` (the catalogue's material code) first,
then by its exact media type, then by a ``type/*`` wildcard, else the default class. The clock
starts when the attachment was uploaded.

Guarantees:

* ``plan`` is pure: it never selects an attachment that has not expired, nor one whose case is
  not settled (a case is settled when every leg reached a final decision; the store decides).
* ``run`` asks again whether the case is settled right before each deletion, deletes the blob,
  then marks the attachment deleted; the store appends the audit entry (attachment id, kind,
  reason naming the class and expiry) in the same transaction as the mark. A crash between the
  two steps leaves the attachment unmarked, so the next run redoes the (idempotent) blob
  deletion and the mark: no deletion goes unaudited. Reasons carry ids, classes and dates only,
  never personal data.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.config.files import did_you_mean, load_model

_MEDIA = re.compile(r"^[\w.+-]+/([\w.+-]+|\*)$")


class RetentionClass(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: int = Field(gt=0, le=36500, description="days to keep, counted from upload")
    kinds: tuple[str, ...] = Field(default=(), description="catalogue material codes")
    media_types: tuple[str, ...] = Field(default=(), description="e.g. video/mp4 or video/*")

    @model_validator(mode="after")
    def _media_patterns(self) -> RetentionClass:
        for media in self.media_types:
            if not _MEDIA.match(media):
                raise ValueError(f"media type {media!r} must look like 'video/mp4' or 'video/*'")
        return self


class RetentionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_class: str
    classes: dict[str, RetentionClass] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> RetentionPolicy:
        if self.default_class not in self.classes:
            raise ValueError(f"default_class {self.default_class!r} is not a class"
                             f"{did_you_mean(self.default_class, self.classes)}")
        for attr in ("kinds", "media_types"):
            owner: dict[str, str] = {}
            for name, cls in self.classes.items():
                for value in getattr(cls, attr):
                    if value in owner:
                        raise ValueError(f"{attr[:-1]} {value!r} is in both {owner[value]!r} "
                                         f"and {name!r}")
                    owner[value] = name
        return self

    def classify(self, kind: str, media_type: str) -> str:
        """The class name: by kind, else exact media type, else ``type/*``, else the default."""
        media_type = media_type.lower()
        items = list(self.classes.items())
        for name, cls in items:
            if kind in cls.kinds:
                return name
        for name, cls in items:
            if media_type in cls.media_types:
                return name
        for name, cls in items:
            if any(m.endswith("/*") and fnmatch.fnmatchcase(media_type, m)
                   for m in cls.media_types):
                return name
        return self.default_class


def load_policy(path: Path) -> RetentionPolicy:
    return load_model(path, RetentionPolicy)


@dataclass(frozen=True)
class AttachmentRecord:
    """What retention needs to know about one live (not yet deleted) attachment."""

    id: str
    blob_id: str
    case_id: str | None  # None: uploaded but never referenced by a case
    kind: str
    media_type: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Deletion:
    attachment_id: str
    blob_id: str
    case_id: str | None
    kind: str
    retention_class: str
    created_at: dt.datetime
    expired_at: dt.datetime

    def reason(self) -> str:
        """The reason recorded in the audit log (stable prefix ``retention:``)."""
        return (f"retention:{self.retention_class}: uploaded {self.created_at:%Y-%m-%d}, "
                f"expired {self.expired_at:%Y-%m-%d}")


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive timestamps; the store writes them in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def plan(attachments: Iterable[AttachmentRecord], now: dt.datetime, policy: RetentionPolicy,
         is_case_settled: Callable[[str], bool],
         held: list[Deletion] | None = None) -> list[Deletion]:
    """The expired attachments of settled cases (or of no case), oldest first.

    Expired attachments kept for an unsettled case are appended to ``held`` when given.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    out: list[Deletion] = []
    for a in attachments:
        name = policy.classify(a.kind, a.media_type)
        created = _aware(a.created_at)
        expired_at = created + dt.timedelta(days=policy.classes[name].days)
        if expired_at > now:
            continue
        d = Deletion(a.id, a.blob_id, a.case_id, a.kind, name, created, expired_at)
        if a.case_id is not None and not is_case_settled(a.case_id):
            if held is not None:
                held.append(d)
            continue
        out.append(d)
    out.sort(key=lambda d: (d.expired_at, d.attachment_id))
    return out


class RetentionStore(Protocol):
    """What retention needs from the case store."""

    def attachments_for_retention(self) -> Iterator[AttachmentRecord]: ...

    def case_settled(self, case_id: str) -> bool: ...

    def mark_attachment_deleted(self, attachment_id: str, reason: str) -> None:
        """Mark it deleted AND append the audit entry (id, kind, reason) in one transaction."""


class BlobDeleter(Protocol):
    def delete(self, blob_id: str) -> bool: ...


@dataclass
class RetentionReport:
    dry_run: bool
    deleted: list[Deletion] = field(default_factory=list)
    held_for_unsettled_case: list[Deletion] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        by_class: dict[str, int] = {}
        for d in self.deleted:
            by_class[d.retention_class] = by_class.get(d.retention_class, 0) + 1
        return {"dry_run": self.dry_run, "deleted": len(self.deleted), "by_class": by_class,
                "held_for_unsettled_case": len(self.held_for_unsettled_case)}


def run(store: RetentionStore, blobs: BlobDeleter, policy: RetentionPolicy, now: dt.datetime,
        *, dry_run: bool = False) -> RetentionReport:
    report = RetentionReport(dry_run)
    deletions = plan(store.attachments_for_retention(), now, policy, store.case_settled,
                     held=report.held_for_unsettled_case)
    for d in deletions:
        # The plan may be minutes old: a case can be reopened (more materials) meanwhile.
        if d.case_id is not None and not store.case_settled(d.case_id):
            report.held_for_unsettled_case.append(d)
            continue
        if not dry_run:
            blobs.delete(d.blob_id)  # idempotent: a rerun after a crash finds it gone
            store.mark_attachment_deleted(d.attachment_id, d.reason())
        report.deleted.append(d)
    return report
