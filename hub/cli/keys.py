"""``hub keys list`` and ``hub keys rotate``: the blob key ring and re-encryption of attachments.

``rotate --new`` writes a fresh key (mode 0600) into the key directory and makes it active, then
re-encrypts every blob that is not under the active key, one blob at a time, each replaced
atomically. Reads keep working throughout because the old keys stay in the ring; retire an old
key only once ``hub keys list`` shows no blob under it. ``--background`` paces the loop (a short
a short sleep between blobs) so a running hub is not starved. Key material is never
printed: only key ids and counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from hub.config.settings import get_settings
from hub.domain.errors import ConfigError, PermanentError, Problem
from hub.domain.reasons import Reason
from hub.evidence.blobs import BlobStore, open_blob_store
from hub.evidence.keys import generate_key, key_dir


@dataclass
class RotationReport:
    active_key: str
    rotated: int = 0
    already_current: int = 0
    vanished: int = 0  # deleted (e.g. by retention) while the rotation ran
    failed: dict[str, str] = field(default_factory=dict)  # blob id -> reason


def rotate_all(store: BlobStore, *, pause_s: float = 0.0,
               progress: Callable[[RotationReport], None] | None = None) -> RotationReport:
    """Re-encrypt every blob not under the active key; one failing blob does not stop the rest."""
    report = RotationReport(store.keyring.active_id)
    for blob_id in list(store.ids()):
        try:
            if store.key_id_of(blob_id) == report.active_key:
                report.already_current += 1
                continue
            store.rotate(blob_id)
            report.rotated += 1
        except PermanentError as exc:
            if exc.reason == Reason.NOT_FOUND:
                report.vanished += 1
            else:
                report.failed[blob_id] = exc.reason
        if progress is not None and (report.rotated + len(report.failed)) % 100 == 1:
            progress(report)
        if pause_s:
            time.sleep(pause_s)
    return report


def blob_counts(store: BlobStore) -> Counter[str]:
    counts: Counter[str] = Counter()
    for blob_id in store.ids():
        try:
            counts[store.key_id_of(blob_id)] += 1
        except PermanentError as exc:
            counts[f"<{exc.reason}>"] += 1
    return counts


def run_list(args: argparse.Namespace) -> int:
    store = open_blob_store(get_settings(fresh=True))
    counts = blob_counts(store)
    ring = store.keyring
    rows = [{"key_id": k, "active": k == ring.active_id, "in_ring": k in ring,
             "blobs": counts.get(k, 0)} for k in sorted(set(ring.ids()) | set(counts))]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        note = " (active)" if row["active"] else ""
        if not row["in_ring"]:
            note = " (NOT IN THE KEY RING: these blobs cannot be read)"
        print(f"{row['key_id']:<32} {row['blobs']:>8} blobs{note}")
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    settings = get_settings(fresh=True)
    if args.new:
        if os.environ.get("HUB_BLOB_ACTIVE_KEY"):
            raise ConfigError([Problem("HUB_BLOB_ACTIVE_KEY", "keys.pinned",
                                       "the active key is pinned by the environment; add the new "
                                       "key to HUB_BLOB_KEYS and change HUB_BLOB_ACTIVE_KEY")])
        key_id = generate_key(key_dir(settings))
        print(f"new active key {key_id} written to {key_dir(settings)} (back it up)")
    store = open_blob_store(settings)
    pause = args.pause if args.background else 0.0

    def progress(r: RotationReport) -> None:
        print(f"... rotated {r.rotated}, already current {r.already_current}", file=sys.stderr)

    report = rotate_all(store, pause_s=pause, progress=progress)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print(f"active key {report.active_key}: rotated {report.rotated}, already current "
              f"{report.already_current}, deleted meanwhile {report.vanished}, "
              f"failed {len(report.failed)}")
        for blob_id, reason in sorted(report.failed.items()):
            print(f"  FAILED {blob_id}: {reason}")
    return 1 if report.failed else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("keys", help="attachment encryption keys: list, rotate")
    keys_sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    listing = keys_sub.add_parser("list", help="key ids and how many blobs each encrypts")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=run_list)
    rotate = keys_sub.add_parser("rotate", help="re-encrypt every blob under the active key")
    rotate.add_argument("--new", action="store_true", help="first generate a new active key")
    rotate.add_argument("--background", action="store_true",
                        help="pace the work (sleep between blobs)")
    rotate.add_argument("--pause", type=float, default=0.05, metavar="SECONDS",
                        help="sleep between blobs with --background (default 0.05)")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(func=run_rotate)
