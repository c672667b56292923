"""``hub retention run [--dry-run]`` and ``hub retention classes``.

``run`` deletes the attachments whose retention class expired and whose case is settled (or
that belong to no case), records each deletion in the audit log, and prints counts per class.
``--dry-run`` prints what would go and changes nothing. Attachment ids are blob ids (claim
check), so the deletion removes the encrypted blob as well as marking the record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hub.config.settings import Settings, get_settings
from hub.evidence.retention import AttachmentRecord, RetentionPolicy, load_policy, run

if TYPE_CHECKING:
    from hub.store import Store


class StoreRetentionSource:
    """``hub.evidence.retention.RetentionStore`` over the case store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def attachments_for_retention(self) -> Iterator[AttachmentRecord]:
        for row in self._store.list_attachments(include_deleted=False):
            yield AttachmentRecord(id=row.id, blob_id=row.id,
                                   case_id=str(row.case_id) if row.case_id else None,
                                   kind=row.kind, media_type=row.media_type,
                                   created_at=row.created_at)

    def case_settled(self, case_id: str) -> bool:
        # An unknown case keeps its attachments: when in doubt, keep the evidence.
        row = self._store.get_case(uuid.UUID(case_id))
        return row is not None and row.settled

    def mark_attachment_deleted(self, attachment_id: str, reason: str) -> None:
        # The store audits the mark in the same transaction ("attachment_deleted").
        self._store.mark_attachment_deleted(attachment_id, reason=reason)


def policy_for(settings: Settings) -> RetentionPolicy:
    return load_policy(settings.config_dir / "retention.yaml")


def run_retention(args: argparse.Namespace) -> int:
    from hub.evidence.blobs import open_blob_store
    from hub.store import open_store

    settings = get_settings(fresh=True)
    policy = policy_for(settings)
    now = dt.datetime.fromisoformat(args.now) if args.now else dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    store = open_store(settings.effective_store_dsn())
    try:
        report = run(StoreRetentionSource(store), open_blob_store(settings), policy, now,
                     dry_run=args.dry_run)
    finally:
        store.close()
    summary = report.summary()
    if args.json:
        summary["attachments"] = [d.attachment_id for d in report.deleted]
        print(json.dumps(summary, indent=2))
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    by_class = ", ".join(f"{k} {v}" for k, v in sorted(summary["by_class"].items())) or "none"
    print(f"{verb} {summary['deleted']} attachment(s) ({by_class}); kept "
          f"{summary['held_for_unsettled_case']} expired attachment(s) of unsettled cases")
    for d in report.deleted:
        print(f"  {verb} {d.attachment_id} kind={d.kind} class={d.retention_class} "
              f"expired={d.expired_at:%Y-%m-%d}")
    return 0


def run_classes(args: argparse.Namespace) -> int:
    policy = policy_for(get_settings(fresh=True))
    for name, cls in policy.classes.items():
        default = " (default)" if name == policy.default_class else ""
        print(f"{name}{default}: {cls.days} days; kinds {list(cls.kinds)}; "
              f"media types {list(cls.media_types)}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("retention", help="delete attachments whose retention expired")
    actions = parser.add_subparsers(dest="retention_command", metavar="ACTION", required=True)
    r = actions.add_parser("run", help="delete expired attachments of settled cases")
    r.add_argument("--dry-run", action="store_true", help="show what would be deleted")
    r.add_argument("--now", help="ISO timestamp to evaluate expiry at (default: now)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=run_retention)
    c = actions.add_parser("classes", help="show the retention classes in force")
    c.set_defaults(func=run_classes)
