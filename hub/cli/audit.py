"""``hub audit verify [--since SEQ] [--json] [--expect-head HASH]``: check the audit hash chain.

Reads the store's audit entries in sequence order and runs ``hub.evidence.audit_chain.verify``. Each
edited, removed or reordered entry is named by its sequence number; any breach exits 1.

Limits, stated plainly: a chain proves every entry is linked to the one before it. With
``--since SEQ`` the entry before ``SEQ`` is taken on trust. Removing the newest entries leaves a
shorter chain that is still intact: record the printed head hash somewhere the hub cannot write
(a daily report, a ticket) and pass it back with ``--expect-head`` to detect that too.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hub.config.settings import get_settings
from hub.evidence.audit_chain import GENESIS, Breach, ChainedEntry, verify


@dataclass
class ChainReport:
    entries: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head: str | None = None
    breaches: list[Breach] = field(default_factory=list)
    kinds: dict[int, str] = field(default_factory=dict)  # seq -> entry kind, for breached seqs

    @property
    def ok(self) -> bool:
        return not self.breaches

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "head": self.head,
                "breaches": [{"seq": b.seq, "kind": self.kinds.get(b.seq), "problem": b.problem}
                             for b in self.breaches]}


def check_chain(entries: Iterable[ChainedEntry], *, since: int | None = None,
                expect_head: str | None = None) -> ChainReport:
    """Verify a chain streamed in seq order (``since``: it starts at that seq, not at genesis)."""
    report = ChainReport()
    it = iter(entries)
    first = next(it, None)
    start_prev = GENESIS
    if first is not None:
        it = itertools.chain([first], it)
        if since is not None:
            start_prev = first.prev_hash  # the entry before ``since`` is not checked
            if first.seq != since:
                report.breaches.append(Breach(first.seq, f"entries {since}..{first.seq - 1} "
                                                         "are missing"))
    kinds: dict[int, str] = {}

    def counted(source: Iterator[ChainedEntry]) -> Iterator[ChainedEntry]:
        for e in source:
            report.entries += 1
            report.first_seq = e.seq if report.first_seq is None else report.first_seq
            report.last_seq, report.head = e.seq, e.hash
            kind = e.entry.get("kind")
            if isinstance(kind, str):
                kinds[e.seq] = kind
            yield e

    report.breaches.extend(verify(counted(it), start_prev=start_prev))
    if expect_head is not None and report.head != expect_head:
        report.breaches.append(Breach(report.last_seq or 0, f"head hash is {report.head}, "
                                      f"expected {expect_head}: newest entries removed or "
                                      "the log was rewritten"))
    report.kinds = {b.seq: kinds[b.seq] for b in report.breaches if b.seq in kinds}
    return report


def render(report: ChainReport) -> str:
    if report.ok:
        span = f"seq {report.first_seq}..{report.last_seq}" if report.entries else "empty"
        return (f"audit log intact: {report.entries} entries ({span}), head {report.head}")
    lines = [f"AUDIT LOG BROKEN: {len(report.breaches)} breach(es) in {report.entries} entries"]
    for b in report.breaches:
        kind = f" [{report.kinds[b.seq]}]" if b.seq in report.kinds else ""
        lines.append(f"  seq {b.seq}{kind}: {b.problem}")
    return "\n".join(lines)


def run_verify(args: argparse.Namespace) -> int:
    from hub.store import open_store

    settings = get_settings(fresh=True)
    store = open_store(settings.effective_store_dsn())
    try:
        report = check_chain(store.audit_entries(args.since), since=args.since,
                             expect_head=args.expect_head)
    finally:
        store.close()
    print(json.dumps(report.as_dict(), indent=2) if args.json else render(report))
    return 0 if report.ok else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("audit", help="the tamper-evident audit log")
    actions = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = actions.add_parser("verify", help="check the hash chain; exit 1 naming each breach")
    v.add_argument("--since", type=int, metavar="SEQ", help="start at this sequence number")
    v.add_argument("--expect-head", metavar="HASH",
                   help="the head hash recorded earlier: also detects removed newest entries")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=run_verify)
