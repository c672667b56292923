"""Group commit for intake: many callers' cases committed together, each answered on its own.

    committer = GroupCommitter(store, max_batch=64, max_wait_s=0.002)
    result = committer.submit(case, legs, body_hash)   # blocks until durably committed
    committer.close()                                  # drains, then refuses new work

A store write costs one commit (one fsync on SQLite, one round trip + WAL flush on PostgreSQL)
under the store's single-writer lock, so intake one transaction per case tops out at a few
hundred cases/s. Here one committer thread drains a queue and writes up to ``max_batch`` cases
with ``Store.create_cases`` in ONE transaction; every caller blocks until the transaction that
holds its case has committed, then gets its own ``CreateResult``.

Guarantees:

* ``submit`` returns only after the batch holding the case committed; the result is exactly what
  ``create_case`` would have answered (``create_cases`` keeps per-case semantics, including the
  same case id submitted twice in one batch).
* A failing batch commits nothing, and every caller in it gets that same exception: no case is
  answered as accepted unless it is stored, none is stored twice (the case id is the key).
* A lone request is never held back: the committer waits (at most ``max_wait_s``) for more work
  only when other requests are already queued behind the first, i.e. under concurrent load.
* ``close()`` commits everything already submitted, then ``submit`` raises ``TransientError``
  (the hub is shutting down; the terminal retries with the same case id).
* The committer thread is started on first use and exits after ``idle_exit_s`` without work,
  so a committer that is never closed leaves no thread behind for long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hub.domain.errors import TransientError
from hub.domain.models import Case, LegMessage
from hub.store.base import CreateResult, Store

log = logging.getLogger("hub.store.group")

CLOSED_MESSAGE = "intake is shutting down: no new cases are accepted"


@dataclass
class _Pending:
    case: Case
    legs: Sequence[LegMessage]
    body_hash: str
    done: threading.Event = field(default_factory=threading.Event)
    result: CreateResult | None = None
    error: BaseException | None = None


class GroupCommitter:
    def __init__(self, store: Store, max_batch: int = 64, max_wait_s: float = 0.002,
                 idle_exit_s: float = 5.0,
                 on_commit: Callable[[], None] | None = None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._store = store
        self._max_batch = max_batch
        self._max_wait_s = max(0.0, max_wait_s)
        self._idle_exit_s = idle_exit_s
        self._on_commit = on_commit  # e.g. ring the outbox relay: new rows are committed
        self._queue: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.batches = 0  # committed batches and cases (figures for benchmarks and tests)
        self.cases = 0

    def submit(self, case: Case, legs: Sequence[LegMessage], body_hash: str) -> CreateResult:
        """Create the case as ``Store.create_case`` would; return once it is committed."""
        pending = _Pending(case, legs, body_hash)
        with self._cond:
            if self._closed:
                raise TransientError(CLOSED_MESSAGE)
            self._queue.append(pending)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="group-commit",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def close(self, timeout_s: float | None = None) -> None:
        """Commit what was already submitted, then refuse new work. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def queued(self) -> int:
        """Cases waiting for the committer (not counting the batch being committed)."""
        with self._cond:
            return len(self._queue)

    @property
    def running(self) -> bool:
        with self._cond:
            return self._thread is not None

    # -- committer thread -------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                self._commit(batch)
        finally:
            with self._cond:
                if self._thread is threading.current_thread():
                    # Left abnormally: hand the queue to a fresh thread so no caller hangs.
                    self._thread = None
                    if self._queue:
                        self._thread = threading.Thread(target=self._run, name="group-commit",
                                                        daemon=True)
                        self._thread.start()

    def _next_batch(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue:
                if self._closed:
                    self._thread = None
                    return None
                if not self._cond.wait(self._idle_exit_s) and not self._queue:
                    self._thread = None  # idle: the next submit starts a fresh thread
                    return None
            if 1 < len(self._queue) < self._max_batch and self._max_wait_s > 0:
                # Others are already waiting: give their peers a moment to join the batch.
                deadline = time.monotonic() + self._max_wait_s
                while len(self._queue) < self._max_batch and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            n = min(len(self._queue), self._max_batch)
            return [self._queue.popleft() for _ in range(n)]

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            results = self._store.create_cases([(p.case, p.legs, p.body_hash) for p in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"store answered {len(results)} results for {len(batch)}")
        except BaseException as exc:  # every caller must be answered, whatever happened
            log.warning("group commit of %d cases failed: %s", len(batch), type(exc).__name__)
            for p in batch:
                p.error = exc
                p.done.set()
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        self.cases += len(batch)
        if self._on_commit is not None:
            try:
                self._on_commit()
            except Exception:  # a wake-up only; the relay polls anyway
                log.exception("on_commit callback failed")
        for p, result in zip(batch, results, strict=True):
            p.result = result
            p.done.set()
