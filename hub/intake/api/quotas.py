"""Per-terminal quotas beside the request rate: open event streams and uploaded bytes.

``StreamSlots`` caps the ``/v1/events`` streams one terminal holds open at once (each may last
an hour); ``UploadVolume`` caps the bytes one terminal uploads in a sliding hour, counted as
they arrive, so an upload that crosses the budget stops there. Both answer 429 with a plain
Chinese message and ``Retry-After``. Like ``hub.intake.api.limits.RateLimiter`` they are kept in this
process: with several API instances each enforces its limit on its own share.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from hub.intake.api.errors import ApiError

WINDOW_S = 3600.0


def too_many_streams(limit: int) -> ApiError:
    return ApiError.one(429, "events.too_many_streams",
                        f"本终端同时打开的消息推送连接已达上限（{limit}个），请先关闭不用的连接",
                        headers={"Retry-After": "30"})


def upload_volume_exceeded(limit: int, wait_s: float) -> ApiError:
    mib = max(1, limit // (1024 * 1024))
    return ApiError.one(429, "attachment.volume",
                        f"本终端一小时内上传的附件已超过上限（{mib} MB），请稍后再上传",
                        "(body)", headers={"Retry-After": str(max(1, math.ceil(wait_s)))})


class StreamSlots:
    def __init__(self, per_terminal: int) -> None:
        self.per_terminal = per_terminal
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> None:
        """Take a slot or raise the 429; every acquire must be paired with ``release``."""
        with self._lock:
            n = self._open.get(key, 0)
            if n >= self.per_terminal:
                raise too_many_streams(self.per_terminal)
            self._open[key] = n + 1

    def release(self, key: str) -> None:
        with self._lock:
            n = self._open.get(key, 0) - 1
            if n > 0:
                self._open[key] = n
            else:
                self._open.pop(key, None)

    def open_count(self, key: str) -> int:
        with self._lock:
            return self._open.get(key, 0)


class UploadVolume:
    def __init__(self, bytes_per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.bytes_per_hour = bytes_per_hour
        self._clock = clock
        self._taken: dict[str, deque[tuple[float, int]]] = {}
        self._sums: dict[str, int] = {}  # running total of each deque: no re-summing per chunk
        self._lock = threading.Lock()

    def _used(self, key: str, now: float) -> tuple[int, float]:
        """Bytes counted in the window, and seconds until the oldest of them leaves it."""
        taken = self._taken.setdefault(key, deque())
        while taken and taken[0][0] <= now - WINDOW_S:
            self._sums[key] -= taken.popleft()[1]
        wait = taken[0][0] + WINDOW_S - now if taken else 0.0
        return self._sums.setdefault(key, 0), wait

    def check(self, key: str, declared: int = 0) -> None:
        """Refuse at once when the window is full, or cannot hold a declared length."""
        with self._lock:
            used, wait = self._used(key, self._clock())
        if used + declared > self.bytes_per_hour or used >= self.bytes_per_hour:
            raise upload_volume_exceeded(self.bytes_per_hour, wait or WINDOW_S)

    def take(self, key: str, size: int) -> None:
        """Count ``size`` bytes that arrived; raise the 429 once the budget is exceeded."""
        now = self._clock()
        with self._lock:
            used, wait = self._used(key, now)
            self._taken[key].append((now, size))
            self._sums[key] = used + size
        if used + size > self.bytes_per_hour:
            raise upload_volume_exceeded(self.bytes_per_hour, wait or WINDOW_S)
