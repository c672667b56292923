"""The hub's exception tree. Errors say whether retrying can help.

    HubError
     ├── TransientError        retrying later may succeed (network down, 503, timeout, broker gone)
     │    └── RateLimited      the peer asked us to wait (429 / Retry-After)
     ├── PermanentError        retrying cannot help (rejected, malformed, unmappable)
     │    └── MalformedMessage a bus message that is not valid JSON or fails its schema
     ├── ConfigError           configuration is invalid; carries every problem found
     └── CaseRejected          a submitted case failed validation; carries every problem found

Vendor exceptions (pika, zeep, paramiko, httpx, SQLAlchemy) never escape a boundary: they are
translated with ``raise TransientError(...) from exc`` so retry policy needs one predicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.domain.reasons import Reason


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class TransientError(HubError):
    """Retrying later may succeed."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimited(TransientError):
    """The peer asked us to slow down."""


class PermanentError(HubError):
    """Retrying cannot help; the message is dead-lettered with ``reason``."""

    def __init__(self, message: str, *, reason: Reason = Reason.REJECTED) -> None:
        super().__init__(message)
        self.reason = reason


class MalformedMessage(PermanentError):
    def __init__(self, message: str) -> None:
        super().__init__(message, reason=Reason.MALFORMED)


@dataclass(frozen=True)
class Problem:
    """One validation problem: a JSON path, a stable machine code and a clerk-readable message."""

    path: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}


class ConfigError(HubError):
    """Configuration is invalid. ``problems`` name the file, the path inside it and the fix."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = [f"{p.path}: {p.message}" for p in self.problems]
        super().__init__("invalid configuration:\n  " + "\n  ".join(lines))


class CaseRejected(HubError):
    """A case failed validation; nothing was stored."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(f"case rejected with {len(self.problems)} problem(s)")
