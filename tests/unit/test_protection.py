"""Rate limiter and circuit breaker, on a fake clock where time matters."""

from __future__ import annotations

import threading

from hub.config.departments import CircuitPolicy
from hub.delivery.protection import CircuitBreaker, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_rate_limiter_allows_a_burst_then_throttles() -> None:
    clock = Clock()
    limiter = RateLimiter(5, clock=clock)
    assert sum(limiter.try_acquire() for _ in range(10)) == 5
    clock.t += 0.2  # one token refills in 1/5 s
    assert limiter.try_acquire()
    assert not limiter.try_acquire()


def test_rate_limiter_acquire_waits_and_stops_on_event() -> None:
    limiter = RateLimiter(1000)
    assert all(limiter.acquire() for _ in range(1100))  # real clock: finishes, rate is high
    slow = RateLimiter(0.01, burst=1)
    assert slow.acquire()
    stop = threading.Event()
    stop.set()
    assert slow.acquire(stop) is False  # a worker shutting down never hangs on the limiter


def test_circuit_opens_after_consecutive_failures_then_probes_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, probe_after_s=10, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.t += 10
    assert breaker.state == "half_open"
    assert breaker.allow()  # exactly one probe
    assert not breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_failed_probe_reopens_for_another_period() -> None:
    clock = Clock()
    breaker = CircuitBreaker.from_policy(CircuitPolicy(failures=1, probe_after_s=5))
    breaker._clock = clock  # the policy's breaker on a fake clock
    breaker.record_failure()
    clock.t += 5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.t += 5
    assert breaker.allow()


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failures=2, probe_after_s=1)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"
