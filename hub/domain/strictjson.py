"""The one JSON decoder for bytes that come from outside the hub (request bodies, callbacks).

``loads(text)`` is ``json.loads`` with what the standard library lets through refused:

* non-finite numbers: ``NaN``, ``Infinity``, ``-Infinity`` (not JSON at all, but accepted by
  ``json.loads``) and literals such as ``1e999`` that overflow to infinity. A non-finite number
  defeats every range check (``NaN < min`` is False) and is stored as ``null``;
* duplicate keys (``{"a": 1, "a": 2}``): parsers disagree on which value wins, so the hub and a
  department system could read different data from the same body.

Both raise ``StrictJsonError`` (a ``ValueError``) with a ``code`` and a zh-CN ``message`` ready
for the API's problem list; malformed JSON raises ``json.JSONDecodeError`` as before.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["DuplicateKey", "NonFiniteNumber", "StrictJsonError", "loads"]


class StrictJsonError(ValueError):
    code = "body.json"
    message = "请求内容不是有效的JSON"


class DuplicateKey(StrictJsonError):
    code = "body.duplicate_key"

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key
        self.message = f"JSON中字段“{key[:40]}”重复出现"


class NonFiniteNumber(StrictJsonError):
    code = "body.number"
    message = "JSON中的数字无效（不能是 NaN、Infinity 或超出范围的数）"

    def __init__(self, literal: str) -> None:
        super().__init__(f"non-finite number {literal[:40]!r}")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise NonFiniteNumber(literal)
    return value


def _refuse_constant(literal: str) -> Any:
    raise NonFiniteNumber(literal)


def loads(text: str | bytes) -> Any:
    """Decode JSON from outside; see the module docstring for what is refused."""
    return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_float=_finite_float,
                      parse_constant=_refuse_constant)
