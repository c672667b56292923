"""Quick in-process retries: a few jittered tries of a call for transient errors.

The first line of defence before the bus's delayed tiers: a brief network hiccup is absorbed
inside one delivery. Only ``TransientError`` is retried; anything else, and the last transient
error once the tries are used up, propagates unchanged (the bus then retries later or parks it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from hub.config.departments import RetryPolicy
from hub.domain.errors import TransientError

T = TypeVar("T")


def quick_retry(fn: Callable[[], T], policy: RetryPolicy) -> T:
    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(policy.quick_attempts),
        wait=wait_random_exponential(multiplier=max(policy.quick_wait_s, 1e-3),
                                     max=max(policy.quick_wait_s * 8, 1e-3)),
        reraise=True,
    )
    return retrying(fn)
