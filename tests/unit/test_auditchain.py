"""The audit hash chain: any edited, removed or reordered entry is detected and named."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.cli import audit as audit_cmd
from hub.cli.audit import check_chain, render
from hub.evidence.audit_chain import GENESIS, ChainedEntry, entry_hash, verify


def chain(entries: list[dict[str, Any]], first_seq: int = 1) -> list[ChainedEntry]:
    out, prev = [], GENESIS
    for n, entry in enumerate(entries):
        h = entry_hash(prev, entry)
        out.append(ChainedEntry(first_seq + n, entry, prev, h))
        prev = h
    return out


def event(n: int) -> dict[str, Any]:
    return {"kind": "leg.submitted", "case_id": f"case-{n % 3}", "department": "civil_affairs",
            "n": n, "detail": "收到回执"}


entries_st = st.lists(st.builds(event, st.integers(0, 10_000)), min_size=2, max_size=25)


def seqs(breaches: list[Any]) -> set[int]:
    return {b.seq for b in breaches}


@given(entries_st)
def test_an_intact_chain_verifies(entries: list[dict[str, Any]]) -> None:
    assert verify(chain(entries)) == []


@settings(max_examples=150)
@given(entries_st, st.data())
def test_an_edited_entry_is_named(entries: list[dict[str, Any]], data: st.DataObject) -> None:
    c = chain(entries)
    i = data.draw(st.integers(0, len(c) - 1))
    edited = {**c[i].entry, "detail": c[i].entry["detail"] + "（已改）"}
    c[i] = dataclasses.replace(c[i], entry=edited)
    breaches = verify(c)
    assert c[i].seq in seqs(breaches)
    assert any("edited" in b.problem for b in breaches if b.seq == c[i].seq)


@settings(max_examples=150)
@given(entries_st, st.data())
def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(
        entries: list[dict[str, Any]], data: st.DataObject) -> None:
    # the forger recomputes the edited entry's own hash but cannot fix the entry after it
    c = chain(entries)
    i = data.draw(st.integers(0, len(c) - 2))
    edited = {**c[i].entry, "department": "social_security"}
    c[i] = dataclasses.replace(c[i], entry=edited, hash=entry_hash(c[i].prev_hash, edited))
    assert c[i + 1].seq in seqs(verify(c))


@settings(max_examples=150)
@given(entries_st, st.data())
def test_a_removed_entry_is_named(entries: list[dict[str, Any]], data: st.DataObject) -> None:
    c = chain(entries)
    i = data.draw(st.integers(0, len(c) - 2))  # the newest entry: see the --expect-head test
    removed = c.pop(i)
    breaches = verify(c)
    assert breaches
    assert any(f"{removed.seq}..{removed.seq}" in b.problem for b in breaches) or i == 0
    assert c[i].seq in seqs(breaches)


@settings(max_examples=150)
@given(entries_st, st.data())
def test_reordered_entries_are_detected(entries: list[dict[str, Any]], data: st.DataObject) -> None:
    c = chain(entries)
    i = data.draw(st.integers(0, len(c) - 2))
    j = data.draw(st.integers(i + 1, len(c) - 1))
    # the rows swap places and their sequence numbers are rewritten to look contiguous
    a, b = c[i], c[j]
    c[i], c[j] = dataclasses.replace(b, seq=a.seq), dataclasses.replace(a, seq=b.seq)
    assert c[i].seq in seqs(verify(c))


def test_removing_the_first_entry_is_detected() -> None:
    c = chain([event(n) for n in range(5)])[1:]
    assert 2 in seqs(verify(c))


def test_removing_the_newest_entries_needs_the_recorded_head() -> None:
    full = chain([event(n) for n in range(6)])
    head = full[-1].hash
    truncated = full[:-2]
    assert verify(truncated) == []  # a shorter chain is still a valid chain ...
    report = check_chain(truncated, expect_head=head)  # ... but not the one whose head we kept
    assert not report.ok and "newest entries removed" in report.breaches[0].problem


def test_verify_since_a_sequence_number_trusts_only_the_entry_before_it() -> None:
    full = chain([event(n) for n in range(10)])
    assert check_chain(full[4:], since=5).ok
    tampered = full[4:]
    tampered[2] = dataclasses.replace(tampered[2], entry={**tampered[2].entry, "n": -1})
    assert [b.seq for b in check_chain(tampered, since=5).breaches] == [7]
    assert not check_chain(full[5:], since=5).ok, "entry 5 missing must be reported"


class FakeStore:
    def __init__(self, entries: list[ChainedEntry]) -> None:
        self.entries = entries

    def audit_entries(self, since_seq: int | None = None) -> Iterator[ChainedEntry]:
        return iter([e for e in self.entries if since_seq is None or e.seq >= since_seq])

    def audit_head(self) -> tuple[int, str]:
        return (self.entries[-1].seq, self.entries[-1].hash) if self.entries else (0, GENESIS)

    def unsealed(self) -> tuple[int, float]:
        return 0, 0.0

    def close(self) -> None:
        pass


def hub_audit_verify(entries: list[ChainedEntry], monkeypatch: pytest.MonkeyPatch,
                     *argv: str) -> int:
    import hub.store

    monkeypatch.setattr(hub.store, "open_store", lambda _dsn: FakeStore(entries))
    parser = argparse.ArgumentParser(prog="hub")
    audit_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["audit", "verify", *argv])
    return int(args.func(args))


def test_the_command_names_the_breached_entry_and_exits_non_zero(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    c = chain([event(n) for n in range(5)])
    assert hub_audit_verify(c, monkeypatch) == 0
    assert f"audit log intact: 5 entries (seq 1..5), head {c[-1].hash}" in capsys.readouterr().out
    c[2] = dataclasses.replace(c[2], entry={**c[2].entry, "department": "medical_insurance"})
    assert hub_audit_verify(c, monkeypatch) == 1
    out = capsys.readouterr().out
    assert "AUDIT LOG BROKEN" in out and "seq 3 [leg.submitted]: content does not match" in out
    assert hub_audit_verify(c, monkeypatch, "--json") == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and [b["seq"] for b in doc["breaches"]] == [3]
    assert hub_audit_verify(c, monkeypatch, "--since", "4") == 0


def test_the_chain_is_checked_against_the_stored_head_row() -> None:
    full = chain([event(n) for n in range(6)])
    # entries appended after the head row was read follow it: not a breach
    assert check_chain(full, stored_head=(4, full[3].hash)).ok
    # the newest entries, or all, removed: the chain ends before the head row
    short = check_chain(full[:-2], stored_head=(6, full[-1].hash))
    assert [b.seq for b in short.breaches] == [6]
    assert "newest entries removed" in short.breaches[0].problem
    assert "the log is empty" in check_chain([], stored_head=(6, full[-1].hash)).breaches[0].problem
    # an entry at the head's seq with another hash: rewritten
    assert not check_chain(full, stored_head=(6, "f" * 64)).ok
    assert check_chain([], stored_head=(0, GENESIS)).ok


def test_an_empty_log_is_intact() -> None:
    assert "0 entries (empty)" in render(check_chain([]))
