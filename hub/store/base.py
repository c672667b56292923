"""The case store interface (``Store``) and the rows it returns.

Guarantees every implementation gives:

* ``create_case`` writes the case, its legs, one outbox row per leg, the audit entry and the feed
  entry in ONE transaction; the same case id with the same body hash answers the same result,
  with a different hash it answers ``conflict``. ``create_cases`` does the same for a batch in
  one transaction (one commit), in order: group commit for intake (``hub.store.group``).
* ``apply_leg_event`` deduplicates by ``event_id``, checks the state machine in ``hub.domain.leg_states``,
  and records a refused event in the audit log without touching the leg. ``apply_leg_events``
  does the same for a batch in one transaction (one commit), in order.
* Every audit entry carries ``prev_hash`` and ``hash = auditchain.entry_hash(prev_hash, entry)``;
  entries commit with their data and are sealed into the chain by one sequencer at a time
  (``hub.store.sequencer``), so the chain has no forks, also with several hub instances, and
  writes are not serialised on it. ``seal()`` seals now; ``unsealed()`` says what waits.
* Terminal tokens are stored only as SHA-256 hashes.
* Store errors surface as ``hub.domain.errors.TransientError`` (database unreachable, busy).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.domain.leg_states import CaseStatus
from hub.domain.models import Case, LegEvent, LegMessage, LegState
from hub.evidence.audit_chain import ChainedEntry
from hub.outbox.relay import OutboxRow
from hub.store.sequencer import Sealed


@dataclass(frozen=True)
class CreateResult:
    created: bool
    conflict: bool
    tracking_code: str | None
    status: CaseStatus | None
    # attachments already owned by another case: nothing was written (``hub.store.claims``)
    in_use: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApplyResult:
    applied: bool
    duplicate: bool = False
    deferred: bool = False  # early: not applied, not recorded; deliver again later
    refused_reason: str | None = None
    leg_state: LegState | None = None
    case_status: CaseStatus | None = None


@dataclass(frozen=True)
class SupplementResult:
    applied: bool
    refused_reason: str | None = None
    leg_state: LegState | None = None
    in_use: tuple[str, ...] = ()  # attachments owned by another case: nothing was written
    case_status: CaseStatus | None = None  # after the change, when applied


# One leg change the store made, told as the event that made it (``hub.tracking`` hears it).
LegChange = tuple[LegEvent, ApplyResult]


@dataclass(frozen=True)
class LegRow:
    leg_id: str
    case_id: uuid.UUID
    department: str
    state: LegState
    receipt: str | None
    detail: str | None
    missing_materials: tuple[str, ...]
    updated_at: dt.datetime


@dataclass(frozen=True)
class CaseRow:
    case_id: uuid.UUID
    tracking_code: str
    village: str
    item_code: str
    status: CaseStatus
    settled: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    case: Case
    legs: tuple[LegRow, ...] = ()


@dataclass(frozen=True)
class CasePage:
    items: list[CaseRow]
    next_cursor: str | None


@dataclass(frozen=True)
class AttachmentRow:
    id: str
    village: str
    terminal_id: str
    kind: str
    media_type: str
    size: int
    sha256: str
    key_id: str
    created_at: dt.datetime
    case_id: uuid.UUID | None = None
    deleted_at: dt.datetime | None = None


@dataclass(frozen=True)
class Terminal:
    id: str
    village: str
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class FeedEvent:
    seq: int
    village: str
    case_id: uuid.UUID
    event: Mapping[str, Any]


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    case_id: str | None
    kind: str
    entry: Mapping[str, Any] = field(default_factory=dict)


class Store(Protocol):
    """The one case-store interface (SQLite and PostgreSQL implement it in ``hub.store.sql``)."""

    # cases and legs
    def create_case(self, case: Case, legs: Sequence[LegMessage], body_hash: str) -> CreateResult:
        ...

    def create_cases(self, items: Sequence[tuple[Case, Sequence[LegMessage], str]]
                     ) -> list[CreateResult]:
        """Create ``(case, legs, body_hash)`` items in order in ONE write transaction (one
        commit), each result exactly what ``create_case`` would answer had they been created
        one by one (repeats and conflicts within the batch included)."""

    def get_case(self, case_id: uuid.UUID) -> CaseRow | None: ...

    def list_cases(self, village: str, *, status: CaseStatus | None = None,
                   since: dt.datetime | None = None, cursor: str | None = None,
                   limit: int = 50) -> CasePage:
        """Cases of one village, oldest change first; ``cursor`` is opaque (from ``next_cursor``).

        Raises ValueError on a cursor this store did not issue."""

    def apply_leg_event(self, event: LegEvent, *, defer_early: bool = False) -> ApplyResult: ...

    def apply_leg_events(self, events: Sequence[LegEvent], *,
                         defer_early: bool | Sequence[bool] = False) -> list[ApplyResult]:
        """Apply ``events`` in order in ONE write transaction, each result exactly what
        ``apply_leg_event`` would answer had they been applied one by one (duplicates, refusals
        and several events of one leg or case included). ``defer_early`` is one flag for all
        or one per event."""

    def add_supplement(self, case_id: uuid.UUID, department: str,
                       message: LegMessage) -> SupplementResult: ...

    # outbox (read by the relay through hub.tracking.outbox)
    def pending_outbox(self, limit: int) -> list[OutboxRow]: ...

    def mark_outbox_sent(self, ids: Sequence[int]) -> list[LegChange]:
        """Mark rows sent; the dispatch legs it moved to ``dispatched`` (for the tracker)."""

    # attachments
    def record_attachment(self, row: AttachmentRow) -> None: ...

    def get_attachments(self, ids: Sequence[str]) -> dict[str, AttachmentRow]: ...

    def list_attachments(self, *, include_deleted: bool = False) -> list[AttachmentRow]: ...

    def mark_attachment_deleted(self, attachment_id: str, *, reason: str) -> bool: ...

    # terminals
    def add_terminal(self, village: str, name: str) -> tuple[str, str]:
        """Returns (terminal id, token). The token is shown once and stored only as a hash."""

    def authenticate(self, token: str) -> Terminal | None: ...

    def list_terminals(self) -> list[Terminal]: ...

    def revoke_terminal(self, terminal_id: str) -> bool: ...

    # feed, audit, figures
    def feed_since(self, village: str, after_seq: int, limit: int = 100) -> list[FeedEvent]: ...

    def append_audit(self, kind: str, case_id: str | None, data: Mapping[str, Any]) -> None: ...

    def seal(self) -> Sealed:
        """Seal every pending audit entry and feed event now (``hub.store.sequencer``)."""

    def unsealed(self) -> tuple[int, float]:
        """(pending entries and events, age in seconds of the oldest; 0.0 when none)."""

    def audit_entries(self, since_seq: int | None = None) -> Iterator[ChainedEntry]: ...

    def audit_head(self) -> tuple[int, str]: ...

    def case_history(self, case_id: uuid.UUID) -> list[AuditRecord]: ...

    def outbox_pending_count(self) -> int: ...

    def leg_counts(self) -> dict[str, dict[str, int]]: ...

    def unsettled_case_count(self) -> int: ...

    def ping(self) -> bool: ...

    def close(self) -> None: ...
