"""Secrets by name: configuration names a secret (``*_env``), never holds its value.

``lookup_secret`` is the one way the hub and the transports read one: from the ``secrets``
mapping a process was given (the demo's simulators, tests), else the process environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["lookup_secret"]


def lookup_secret(name: str | None, secrets: Mapping[str, str] | None = None) -> str | None:
    """The secret called ``name``: from ``secrets`` first, then the environment."""
    if not name:
        return None
    if secrets is not None and name in secrets:
        return secrets[name]
    return os.environ.get(name)
