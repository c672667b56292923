"""The state of a department's circuit breaker (``hub.delivery.protection``).

Also the value of the ``hub_circuit_state`` gauge (``gauge``: 0 closed, 1 half-open, 2 open).
"""

from __future__ import annotations

import enum


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"

    @property
    def gauge(self) -> int:
        """The value ``hub_circuit_state`` shows: 0 closed, 1 half-open, 2 open."""
        return _GAUGE[self]


_GAUGE = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}
