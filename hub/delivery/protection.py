"""Protection of department systems: a token-bucket rate limiter and a circuit breaker.

``RateLimiter(rate_per_s)`` lets at most ``rate_per_s`` calls through per second on average
(bursts up to ``burst``, default one second's worth). ``acquire(stop)`` blocks until a token is
free and returns False when ``stop`` is set first, so a worker shutting down never hangs.

``CircuitBreaker(failures, probe_after_s)``: after ``failures`` consecutive transient failures
it opens (the worker stops consuming the department's queue: an outage becomes a backlog, not a
storm); after ``probe_after_s`` it lets exactly one probe through (half-open); the probe's success
closes it, its failure opens it again for another ``probe_after_s``. Every outcome of a probe
settles the breaker: a call that ends with neither verdict (a permanent refusal, an unmappable
record, an unexpected exception, a worker stopping) calls ``release()``, which hands the probe
back so the next call probes — a half-open breaker can never stay jammed. Both are thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from hub.config.departments import CircuitPolicy
from hub.domain.circuit import CircuitState

__all__ = ["CircuitBreaker", "CircuitState", "RateLimiter"]

class RateLimiter:
    def __init__(self, rate_per_s: float, *, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.rate = rate_per_s
        self.capacity = burst if burst is not None else max(1.0, rate_per_s)
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        """Take a token when one is free (returns 0) or say how long to wait for one."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def try_acquire(self) -> bool:
        return self._reserve() == 0.0

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until a token is taken (True) or ``stop`` is set (False)."""
        while True:
            wait = self._reserve()
            if wait == 0.0:
                return True
            if stop is None:
                time.sleep(wait)
            elif stop.wait(wait):
                return False


class CircuitBreaker:
    def __init__(self, failures: int = 5, probe_after_s: float = 15.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        self.failures = failures
        self.probe_after_s = probe_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state: CircuitState = CircuitState.CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._probe_owner: int | None = None  # the thread that holds the probe

    @classmethod
    def from_policy(cls, policy: CircuitPolicy) -> CircuitBreaker:
        return cls(policy.failures, policy.probe_after_s)

    @property
    def state(self) -> CircuitState:
        with self._lock:
            if self._state == CircuitState.OPEN and self._clock() - self._opened_at >= self.probe_after_s:
                return CircuitState.HALF_OPEN
            return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def allow(self) -> bool:
        """May a call go to the department now? In half-open state only one probe may."""
        with self._lock:
            if self._state == CircuitState.CLOSED:
                return True
            if self._state == CircuitState.OPEN:
                if self._clock() - self._opened_at < self.probe_after_s:
                    return False
                self._state = CircuitState.HALF_OPEN
            if self._probe_in_flight:
                return False
            self._probe_in_flight = True
            self._probe_owner = threading.get_ident()
            return True

    def release(self) -> None:
        """End the calling thread's allowed call; a probe with no verdict is handed back.

        Call it after every allowed call, however it ended (``try``/``finally``): after
        ``record_success``/``record_failure`` it does nothing; otherwise the breaker stays
        half-open and lets the next call probe. A call of another thread never releases it."""
        with self._lock:
            if self._probe_in_flight and self._probe_owner == threading.get_ident():
                self._probe_in_flight = False
                self._probe_owner = None

    def record_success(self) -> None:
        with self._lock:
            self._state = CircuitState.CLOSED
            self._consecutive = 0
            self._probe_in_flight = False
            self._probe_owner = None

    def record_failure(self) -> None:
        """Count one transient failure (a permanent one says nothing about the peer's health)."""
        with self._lock:
            self._consecutive += 1
            self._probe_in_flight = False
            self._probe_owner = None
            if self._state == CircuitState.HALF_OPEN or self._consecutive >= self.failures:
                self._state = CircuitState.OPEN
                self._opened_at = self._clock()
