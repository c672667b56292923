"""Every id the hub builds from parts, and every parse of one: built and read here only.

    leg id                 ``<case uuid>:<department>``           one per case and department
    dispatched event       ``d:<message id>``                     the relay published one message
    resubmitted event      ``u:<message id>``                     a clerk's supplement to one leg
    submitted event        ``s:<message id>``                     a worker's receipt of one message
    retrying event         ``t:<message id>:<attempt>``           evidence of one failed attempt
    failed event           ``f:<message id>``                     a message that failed for good
    answer event           ``r:<department>:<result id>``         one department answer, whatever
                                                                   path it came by (polling or a
                                                                   signed callback): applied once

Guarantees: every event id fits ``MAX_ID`` characters, the width of the store's id columns
(``processed_events.event_id``, ``legs.leg_id``). A foreign part (a department's result id, a
message id read off the bus) that would make it longer is replaced by ``~`` and the URL-safe
base64 of its SHA-256, so a long id is still one stable id — the same answer hashes to the same
event id on every path and every restart — and never stops the store. ``parse_leg_id`` accepts
exactly what ``leg_id`` builds.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass

__all__ = ["MAX_ID", "LegRef", "answer_event_id", "dispatched_event_id", "failed_event_id",
           "leg_id", "parse_leg_id", "retrying_event_id", "submitted_event_id",
           "supplement_event_id"]

MAX_ID = 128


def _bounded(prefix: str, foreign: str, suffix: str = "") -> str:
    whole = f"{prefix}{foreign}{suffix}"
    if len(whole) <= MAX_ID:
        return whole
    digest = base64.urlsafe_b64encode(hashlib.sha256(foreign.encode("utf-8", "surrogatepass"))
                                      .digest()).decode("ascii").rstrip("=")
    return f"{prefix}~{digest}{suffix}"[:MAX_ID]


@dataclass(frozen=True)
class LegRef:
    case_id: uuid.UUID
    department: str


def leg_id(case_id: object, department: str) -> str:
    return f"{case_id}:{department}"


def parse_leg_id(value: str) -> LegRef | None:
    """The case and department of a leg id the hub built; None for anything else."""
    if len(value) > MAX_ID:
        return None
    case_part, sep, department = value.partition(":")
    if not sep or not department or ":" in department:
        return None
    try:
        case_id = uuid.UUID(case_part)
    except ValueError:
        return None
    if leg_id(case_id, department) != value:  # the canonical form only (lower-case, hyphens)
        return None
    return LegRef(case_id, department)


def dispatched_event_id(message_id: str) -> str:
    return _bounded("d:", message_id)


def supplement_event_id(message_id: str) -> str:
    return _bounded("u:", message_id)


def submitted_event_id(message_id: str) -> str:
    return _bounded("s:", message_id)


def retrying_event_id(message_id: str, attempt: int) -> str:
    return _bounded("t:", message_id, f":{attempt}")


def failed_event_id(message_id: str) -> str:
    return _bounded("f:", message_id)


def answer_event_id(department: str, result_id: str) -> str:
    """One department answer's event id, the same by callback and by polling."""
    return _bounded(f"r:{department}:", result_id)
