"""Bounded label values: a label never grows without limit, whatever callers pass.

A ``LabelSet`` maps a raw value to the label value used in metrics. With a known set (from
configuration) only those names pass; without one, values matching a pattern (a lower-case slug
by default) pass until ``cap`` distinct values were seen. Everything else becomes ``"other"``.
This is what keeps case ids, person names and terminal ids out of the time-series database
even when a caller passes the wrong thing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

OTHER = "other"
SLUG = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
TOKEN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
ROUTE_TEMPLATE = re.compile(r"^/[A-Za-z0-9_./{}:-]{0,100}$")


class LabelSet:
    """Bounds one label's values: known names pass, others become ``"other"``."""

    def __init__(
        self, cap: int, known: Iterable[str] | None = None, pattern: re.Pattern[str] = SLUG
    ) -> None:
        self.cap = cap
        self._pattern = pattern
        self._lock = threading.Lock()
        self._known: frozenset[str] | None = None if known is None else frozenset(known)
        self._seen: set[str] = set()

    def set_known(self, names: Iterable[str] | None) -> None:
        """Only ``names`` pass from now on (``None``: back to pattern-and-cap admission)."""
        with self._lock:
            self._known = None if names is None else frozenset(names)

    def __call__(self, value: object) -> str:
        v = str(value)
        if self._known is not None:
            return v if v in self._known else OTHER
        if not self._pattern.match(v):
            return OTHER
        with self._lock:
            if v in self._seen:
                return v
            if len(self._seen) >= self.cap:
                return OTHER
            self._seen.add(v)
            return v
