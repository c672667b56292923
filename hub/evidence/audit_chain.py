"""Tamper-evident audit log: every entry carries the hash of the previous one.

``entry_hash(prev_hash, entry)`` is SHA-256 over the previous hash and a canonical JSON form of
the entry (sorted keys, no whitespace, UTF-8). Editing, removing or reordering any entry breaks
the chain from that point; ``verify`` names the first entry where it breaks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(entry)).hexdigest()


@dataclass(frozen=True)
class ChainedEntry:
    seq: int
    entry: Mapping[str, Any]  # exactly the fields that were hashed
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Breach:
    seq: int
    problem: str


def verify(entries: Iterable[ChainedEntry], start_prev: str = GENESIS) -> list[Breach]:
    """Check a chain in ``seq`` order; returns every breach found (empty when intact)."""
    breaches: list[Breach] = []
    expected_prev = start_prev
    last_seq: int | None = None
    for e in entries:
        if last_seq is not None and e.seq <= last_seq:
            breaches.append(Breach(e.seq, f"out of order: entry {e.seq} follows {last_seq}"))
        elif last_seq is not None and e.seq != last_seq + 1:
            breaches.append(Breach(e.seq, f"entries {last_seq + 1}..{e.seq - 1} are missing"))
        if e.prev_hash != expected_prev:
            breaches.append(Breach(e.seq, "previous-hash link broken (entry removed or reordered)"))
        if entry_hash(e.prev_hash, e.entry) != e.hash:
            breaches.append(Breach(e.seq, "content does not match its hash (entry edited)"))
        expected_prev = e.hash
        last_seq = e.seq
    return breaches
