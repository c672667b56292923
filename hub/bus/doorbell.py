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

    def wait(self, rung: int, timeout_s: float) -> bool:
        """Wait until rung again since ``rung`` was read (True), or ``timeout_s`` passed."""
        with self._cond:
            if self.rung == rung:
                self._cond.wait(timeout_s)
            return self.rung != rung


class IdlePoll:
    """How long a poller waits when it found nothing.

    While its work arrives by doorbell (the producer shares its process), it waits the full
    ``ceiling_s``: the ring ends the wait at once, and polling faster would only burn the
    interpreter lock the other threads need. While work arrives without a ring (the producer
    is another process), it polls fast, backing off from ``floor_s`` to ``ceiling_s``."""

    def __init__(self, bell: Doorbell, floor_s: float = 0.001, ceiling_s: float = 0.05) -> None:
        self.bell = bell
        self.floor_s = floor_s
        self.ceiling_s = ceiling_s
        self._idle = 0.0
        self._rung_last = False

    def found(self) -> None:
        """Work was found: the next idle wait starts over."""
        self._idle = 0.0

    @property
    def next_wait_s(self) -> float:
        if self._rung_last:
            return self.ceiling_s
        return min(self.ceiling_s, max(self.floor_s, self._idle * 2))

    def wait(self, rung: int) -> None:
        """Nothing found since ``rung`` was read: wait for a ring or the next poll."""
        self._idle = self.next_wait_s
        self._rung_last = self.bell.wait(rung, self._idle)
