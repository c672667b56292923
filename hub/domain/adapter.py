"""The adapter protocol every department transport implements, shaped like an httpx transport.

    submit(request) -> Receipt     deliver one message of a leg; idempotent by
                                   request.idempotency_key (leg id + message sequence)
    poll_results() -> [Result]     department answers that arrived since the last poll
    ack_results(results)           archive answers the hub has durably recorded
    health() -> Health             can we reach the department right now?
    close()

Errors: only ``hub.domain.errors.TransientError`` (retry later) and ``PermanentError`` (dead letter
with reason) leave an adapter. zeep, paramiko, httpx and socket errors are translated at the
boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeGuard, get_args

from hub.domain.errors import PermanentError, TransientError
from hub.domain.models import AttachmentRef

__all__ = [
    "RESULT_OUTCOMES",
    "Adapter",
    "Health",
    "PermanentError",
    "QuarantinedAnswer",
    "Receipt",
    "Result",
    "ResultOutcome",
    "SubmitRequest",
    "TransientError",
    "idempotency_key",
    "is_outcome",
]

ResultOutcome = Literal["accepted", "needs_materials", "approved", "rejected"]
# The same outcomes as a tuple, for checking a value read off the wire (one list, not a copy).
RESULT_OUTCOMES: tuple[ResultOutcome, ...] = get_args(ResultOutcome)


def is_outcome(value: object) -> TypeGuard[ResultOutcome]:
    return value in RESULT_OUTCOMES


def idempotency_key(leg_id: str, sequence: int) -> str:
    """The key a department deduplicates one message on: the leg id and the message's sequence
    (0 = the submission, n = the leg's n-th supplement). A resend of a message repeats its key;
    every supplement has a key of its own, so a department never drops a new one as a resend."""
    return f"{leg_id}:{sequence}"


@dataclass(frozen=True)
class SubmitRequest:
    leg_id: str  # the application (leg) the message belongs to; results name it
    case_id: str
    item_code: str
    kind: Literal["submit", "supplement"]
    record: Mapping[str, Any]  # the department's fields, produced by its mapping
    attachments: Sequence[AttachmentRef] = ()
    # Streams an attachment's bytes (claim check); None when the transport sends no files.
    open_attachment: Callable[[AttachmentRef], Iterator[bytes]] | None = None
    sequence: int = 0  # 0 = the submission, n = the leg's n-th supplement

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.leg_id, self.sequence)


@dataclass(frozen=True)
class Receipt:
    department_ref: str
    duplicate: bool = False  # the department had already seen this leg


@dataclass(frozen=True)
class Result:
    result_id: str  # unique per answer; the hub deduplicates on it
    leg_id: str
    outcome: ResultOutcome
    department_ref: str | None = None
    detail: str | None = None
    missing_materials: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class QuarantinedAnswer:
    """An answer a transport could not read; skipped (its cursor moves on) and reported by the
    transport's ``take_quarantined()`` so the hub counts and logs it."""

    name: str  # the department's result id or position, for the operator
    reason: str  # a short slug


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str = ""


class Adapter(Protocol):
    department: str

    def submit(self, request: SubmitRequest) -> Receipt: ...

    def poll_results(self) -> list[Result]: ...

    def ack_results(self, results: Sequence[Result]) -> None: ...

    def health(self) -> Health: ...

    def close(self) -> None: ...
