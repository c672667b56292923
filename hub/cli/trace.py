"""``hub trace CASE_ID [--json]``: a case's whole history, in time order, from the audit log.

Shows intake, each leg's dispatch, every failed attempt (``retrying``), department receipts,
results, requests for materials and supplements, dead letters (``failed``), replays (a leg that
comes back from ``failed``), refused events and attachment deletions. Personal data is not in
the audit log; nothing here needs masking beyond what the store already holds.
"""

from __future__ import annotations

import argparse
import json
import uuid
from typing import Any

from hub.config.settings import get_settings
from hub.store import open_store
from hub.store.base import AuditRecord


def register(sub: Any) -> None:
    p = sub.add_parser("trace", help="a case's whole history from the audit log")
    p.add_argument("case_id", metavar="CASE", help="the case id or the receipt's tracking code")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=run)


def describe(r: AuditRecord) -> str:
    e = r.entry
    dept = e.get("department", "")
    if r.kind == "case_created":
        return (f"intake: item {e.get('item_code')}, tracking code {e.get('tracking_code')}, "
                f"legs {', '.join(str(x).split(':')[-1] for x in e.get('legs', []))}")
    if r.kind == "leg_event":
        event = e.get("event")
        if event == "retrying":
            return f"{dept}: delivery attempt failed, will retry — {e.get('detail')}"
        text = f"{dept}: {event} ({e.get('from')} → {e.get('to')})"
        if e.get("receipt"):
            text += f", department ref {e['receipt']}"
        if e.get("from") == "failed":
            text += " [after replay]"
        if e.get("detail"):
            text += f" — {e['detail']}"
        if e.get("missing_materials"):
            text += f" missing: {', '.join(e['missing_materials'])}"
        return text
    if r.kind == "leg_event_refused":
        return f"{dept}: refused event {e.get('event')} in state {e.get('state')}: {e.get('reason')}"
    if r.kind == "supplement":
        return f"{dept}: supplement sent ({e.get('from')} → {e.get('to')})"
    if r.kind == "leg_dispatched":
        return f"{dept}: published to the department queue"
    if r.kind.startswith("town_") and e.get("staff_name"):
        what = r.kind.removeprefix("town_")
        text = (f"town staff {e['staff_name']} ({e.get('staff_login', '')}, town {e.get('town')}"
                f"{', ' + str(e['role']) if e.get('role') else ''}): {what}")
        if e.get("materials"):
            text += f" materials: {', '.join(e['materials'])}"
        if e.get("serial"):
            text += f" notice {e['serial']}"
        if e.get("note"):
            text += f" — {e['note']}"
        return text
    if r.kind.startswith("clerk_") and e.get("clerk_name"):
        what = r.kind.removeprefix("clerk_")
        extra = f" for {dept}" if dept else ""
        if e.get("attachments"):
            extra += (f" with {len(e['attachments'])} file(s): "
                      f"{', '.join(map(str, e.get('materials', [])))}")
        return f"clerk {e['clerk_name']} ({e.get('clerk_login')}, village {e.get('village')}): {what}{extra}"
    rest = {k: v for k, v in e.items() if k not in ("seq", "kind", "case_id", "at")}
    return f"{r.kind}: {json.dumps(rest, ensure_ascii=False)}"


def run(args: argparse.Namespace) -> int:
    from hub.web.lookup import case_id_for_code, normalise_code

    store = open_store(get_settings().effective_store_dsn())
    try:
        try:
            case_id = uuid.UUID(args.case_id)
        except ValueError:
            found = case_id_for_code(store, args.case_id) if normalise_code(args.case_id) else None
            if found is None:
                print(f"not a case id (UUID) or a known tracking code: {args.case_id!r}")
                return 2
            case_id = found
        records = store.case_history(case_id)
        row = store.get_case(case_id)
    finally:
        store.close()
    if not records:
        print(f"no history for case {case_id}")
        return 1
    if args.json:
        for r in records:
            print(json.dumps({"seq": r.seq, "kind": r.kind, **dict(r.entry)}, ensure_ascii=False))
        return 0
    head = f"case {case_id}"
    if row is not None:
        head += f"  tracking {row.tracking_code}  status {row.status.value} ({row.status.label})"
    print(head)
    for r in records:
        at = str(r.entry.get("at", ""))[:23].replace("T", " ")
        print(f"  {r.seq:>6}  {at}  {describe(r)}")
    return 0
