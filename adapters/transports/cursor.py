"""Where polling a department's numbered answers resumes (the REST and SOAP transports).

Both departments number their answers (``seq``) and answer ``since=<seq>`` with everything
after it. ``ResultCursor`` keeps the position: polled answers are held until the hub has
recorded them (``ack``), and the position only moves past answers that are all acknowledged,
so an answer polled but not yet recorded (the process died, the store was down) is polled
again, never skipped. An unreadable answer is passed over (the position moves past it) and
reported once through ``take_quarantined``.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.domain.adapter import QuarantinedAnswer, Result

__all__ = ["ResultCursor"]


class ResultCursor:
    def __init__(self) -> None:
        self.since = 0  # what the next poll asks for
        self._pending: dict[str, int] = {}  # polled, not yet acknowledged: result id -> seq
        self._max_seen = 0
        self._quarantined: list[QuarantinedAnswer] = []

    def seen(self, seq: int) -> None:
        """An answer at ``seq`` was read (readable or not): the position may pass it."""
        self._max_seen = max(self._max_seen, seq)

    def hold(self, result_id: str, seq: int) -> None:
        """A readable answer handed to the hub: the position waits for its ``ack``."""
        self._pending[result_id] = seq

    def skip(self, where: str, reason: str) -> None:
        """An unreadable answer, passed over and reported."""
        self._quarantined.append(QuarantinedAnswer(where, reason))

    def ack(self, results: Sequence[Result]) -> None:
        for r in results:
            self._pending.pop(r.result_id, None)
        # Advance only past results that are all acknowledged, so none is skipped.
        self.since = min(self._pending.values()) - 1 if self._pending else self._max_seen

    def take_quarantined(self) -> list[QuarantinedAnswer]:
        """Answers skipped as unreadable since the last call."""
        out, self._quarantined = self._quarantined, []
        return out
