"""``hub audit verify [--since SEQ] [--json] [--expect-head HASH]``: check the audit hash chain.

Reads the store's audit entries in sequence order and runs ``hub.evidence.audit_chain.verify``. Each
edited, removed or reordered entry is named by its sequence number; any breach exits 1.

The chain is also checked against the store's head row (``audit_head``: the sequence number
and hash of the newest entry, moved in the same transaction as every append): removing the
newest entries, or all of them, leaves a chain that is intact on its own but ends before the
head, and is reported. Limits, stated plainly: a chain proves every entry is linked to the one
before it. With ``--since SEQ`` the entry before ``SEQ`` is taken on trust. An insider who
rewrites the head row too is caught only against a head recorded elsewhere: keep the printed
head hash somewhere the hub cannot write (a daily report, a ticket) and pass it back with
``--expect-head``.

Entries are committed with their data and sealed into the chain by the sequencer soon after
(``hub.store.sequencer``, ``docs/evidence.md``); until then they are not yet covered by the
chain. ``verify`` therefore also fails when the oldest unsealed entry is older than
``--max-unsealed-age`` (default 60 s): the sequencer is down or behind. ``hub audit seal``
seals everything pending now.
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
    unsealed: int = 0  # entries and events committed, not yet sealed (within the bound)

    @property
    def ok(self) -> bool:
        return not self.breaches

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "head": self.head, "unsealed": self.unsealed,
                "breaches": [{"seq": b.seq, "kind": self.kinds.get(b.seq), "problem": b.problem}
                             for b in self.breaches]}


def check_chain(entries: Iterable[ChainedEntry], *, since: int | None = None,
                expect_head: str | None = None,
                stored_head: tuple[int, str] | None = None) -> ChainReport:
    """Verify a chain streamed in seq order (``since``: it starts at that seq, not at genesis).

    ``stored_head`` is the store's head row (seq, hash), read before the entries: the entry at
    that seq must exist and carry that hash (entries appended since may follow it)."""
    report = ChainReport()
    at_head: list[str] = []
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
            if stored_head is not None and e.seq == stored_head[0]:
                at_head.append(e.hash)
            kind = e.entry.get("kind")
            if isinstance(kind, str):
                kinds[e.seq] = kind
            yield e

    report.breaches.extend(verify(counted(it), start_prev=start_prev))
    if stored_head is not None and stored_head[0] > 0:
        report.breaches.extend(_against_head(report, stored_head, at_head))
    if expect_head is not None and report.head != expect_head:
        report.breaches.append(Breach(report.last_seq or 0, f"head hash is {report.head}, "
                                      f"expected {expect_head}: newest entries removed or "
                                      "the log was rewritten"))
    report.kinds = {b.seq: kinds[b.seq] for b in report.breaches if b.seq in kinds}
    return report


def _against_head(report: ChainReport, head: tuple[int, str],
                  at_head: list[str]) -> list[Breach]:
    seq, digest = head
    if report.entries == 0:
        return [Breach(seq, f"the log is empty but the head row records entry {seq}: "
                            "every entry was removed")]
    if not at_head:
        return [Breach(seq, f"the chain ends at entry {report.last_seq} but the head row "
                            f"records entry {seq}: newest entries removed")]
    if at_head[0] != digest:
        return [Breach(seq, f"entry {seq} does not carry the hash the head row records: "
                            "the log was rewritten")]
    return []


def render(report: ChainReport) -> str:
    if report.ok:
        span = f"seq {report.first_seq}..{report.last_seq}" if report.entries else "empty"
        waiting = f"; {report.unsealed} awaiting the sequencer" if report.unsealed else ""
        return (f"audit log intact: {report.entries} entries ({span}), head {report.head}"
                f"{waiting}")
    lines = [f"AUDIT LOG BROKEN: {len(report.breaches)} breach(es) in {report.entries} entries"]
    for b in report.breaches:
        kind = f" [{report.kinds[b.seq]}]" if b.seq in report.kinds else ""
        lines.append(f"  seq {b.seq}{kind}: {b.problem}")
    return "\n".join(lines)


def unsealed_breach(count: int, age_s: float, bound_s: float) -> Breach | None:
    if count == 0 or age_s <= bound_s:
        return None
    return Breach(0, f"{count} entries not yet sealed into the chain, the oldest "
                     f"{age_s:.0f} s old (bound {bound_s:.0f} s): the sequencer is down or behind")


def run_verify(args: argparse.Namespace) -> int:
    from hub.store import open_store

    settings = get_settings(fresh=True)
    store = open_store(settings.effective_store_dsn())
    try:
        count, age = store.unsealed()  # first: what the chain does not cover yet
        head = store.audit_head()  # before the entries: appends after it only follow it
        report = check_chain(store.audit_entries(args.since), since=args.since,
                             expect_head=args.expect_head, stored_head=head)
    finally:
        store.close()
    late = unsealed_breach(count, age, args.max_unsealed_age)
    if late is not None:
        report.breaches.append(late)
    report.unsealed = count
    print(json.dumps(report.as_dict(), indent=2) if args.json else render(report))
    return 0 if report.ok else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("audit", help="the tamper-evident audit log")
    actions = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = actions.add_parser("verify", help="check the hash chain; exit 1 naming each breach")
    v.add_argument("--since", type=int, metavar="SEQ", help="start at this sequence number")
    v.add_argument("--expect-head", metavar="HASH",
                   help="the head hash recorded earlier: also detects removed newest entries")
    v.add_argument("--max-unsealed-age", type=float, default=60.0, metavar="SECONDS",
                   help="fail when an entry waits longer than this to be sealed (default 60)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=run_verify)
    sealer = actions.add_parser("seal", help="seal every pending audit entry and feed event now")
    sealer.set_defaults(func=run_seal)


def run_seal(_args: argparse.Namespace) -> int:
    from hub.store import open_store

    store = open_store(get_settings(fresh=True).effective_store_dsn())
    try:
        done = store.seal()
        count, _age = store.unsealed()
    finally:
        store.close()
    print(f"sealed {done.audit} audit entries and {done.feed} feed events; "
          f"{count} still pending")
    return 0
