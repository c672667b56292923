"""A doorbell: one thread says "there is new work", waiting threads wake at once.

Used where a poller and the producer of its work share a process: consumers of the embedded bus
(rung by every publish to that bus file) and the outbox relay (rung by every intake commit).
Pollers still poll, with backoff, for work that other processes produce.
"""

from __future__ import annotations

import threading


class Doorbell:
    """``rung`` is read before looking for work, so a ring in between is never missed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.rung = 0

    def ring(self) -> None:
        with self._cond:
            self.rung += 1
            self._cond.notify_all()

    def wait(self, rung: int, timeout_s: float) -> None:
        """Wait until rung again since ``rung`` was read, or ``timeout_s`` passed."""
        with self._cond:
            if self.rung == rung:
                self._cond.wait(timeout_s)


def backoff(idle_s: float, floor_s: float = 0.001, ceiling_s: float = 0.05) -> float:
    """The next idle wait: doubling from ``floor_s`` up to ``ceiling_s``."""
    return min(ceiling_s, max(floor_s, idle_s * 2))
