"""Masking of personal data (resident ID numbers, mobile numbers, names) for logs and metrics.

Guarantees:

* ``mask_id_number`` keeps the first 3 and last 4 characters of an ID number and stars the rest
  (``510***********1234``); the region code and birth date never survive.
* ``mask_phone`` keeps the first 3 and last 4 digits of a mobile number (``138****5678``).
* ``mask_name`` keeps the surname only (``张*``, ``欧阳**``); a Latin name keeps its first letter.
* ``scrub(text)`` masks, anywhere in free text, every 18-character ID number (17 digits and a
  digit or ``X``), every 11-digit mainland mobile number (also written ``138-1234-5678`` or
  ``+86 138 1234 5678``), and the value of any ``key=value`` / ``"key": "value"`` pair whose key
  names a person (``name``, ``id_number``, ``phone``, ``姓名`` ...), which is how dict and model
  reprs leak into messages.
* ``scrub_obj(obj)`` returns a masked deep copy of dicts / lists / tuples: values under known
  personal keys are masked by kind, every other string goes through ``scrub``.

Masking errs on the side of over-masking: any digit run shaped like an ID or a mobile number is
masked, valid check digit or not. Names in free text cannot be recognised in general, so code must
pass them only under a known key (``extra={"name": ...}``), never inside a message string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Two-character surnames, the common ones; anything else is treated as a one-character surname.
_COMPOUND_SURNAMES = frozenset(
    """欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 端木
    西门 南宫 独孤 轩辕 呼延 申屠 太史 闻人 万俟 澹台 公冶 宗政 濮阳 淳于 单于""".split()  # noqa: SIM905
)

NAME_KEYS = frozenset(
    {"name", "full_name", "applicant_name", "resident_name", "guardian_name", "contact_name",
     "person_name", "holder_name", "spouse_name", "child_name", "xm", "姓名"}
)
ID_KEYS = frozenset(
    {"id_number", "id_no", "idno", "id_card", "idcard", "id_card_number", "citizen_id",
     "guardian_id_number", "spouse_id_number", "sfzh", "sfzhm", "身份证号", "身份证号码"}
)
PHONE_KEYS = frozenset(
    {"phone", "mobile", "mobile_phone", "telephone", "tel", "contact_phone", "phone_number",
     "sjhm", "lxdh", "手机号", "联系电话"}
)
_PERSONAL_KEYS = NAME_KEYS | ID_KEYS | PHONE_KEYS

# Not preceded by a letter/digit and not followed by one: an ID inside a longer number is not
# an ID, but an ID glued to Chinese text ("身份证510...") still is.
_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
_PHONE_RE = re.compile(
    r"(?<![0-9A-Za-z])(?:(?:\+|00)86[ -]?)?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})(?![0-9A-Za-z])"
)
# key=value, key: value, 'key': 'value', "key": "value" (reprs, JSON, logfmt).
_KEYS_ALT = "|".join(sorted((re.escape(k) for k in _PERSONAL_KEYS), key=len, reverse=True))
_PAIR_RE = re.compile(
    r"(?P<key>(?<![A-Za-z0-9_])(?:" + _KEYS_ALT + r"))(?P<sep>['\"]?\s*[:=：]\s*['\"]?)"
    r"(?P<val>[^\s'\",;，；)}\]]+)",
    re.IGNORECASE,
)


def mask_id_number(value: str) -> str:
    """``510104199001011234`` -> ``510***********1234``; short input is starred entirely."""
    v = value.strip()
    if len(v) < 8:
        return "*" * len(v)
    return v[:3] + "*" * (len(v) - 7) + v[-4:]


def mask_phone(value: str) -> str:
    """``13812345678`` -> ``138****5678``; separators and a +86 prefix are dropped.

    Idempotent: stars are kept as characters, so a masked number masks to itself.
    """
    digits = re.sub(r"[^\d*]", "", value)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) < 8:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(value: str) -> str:
    """``张三`` -> ``张*``; ``欧阳娜娜`` -> ``欧阳**``; ``Zhang San`` -> ``Z********``."""
    v = value.strip()
    if not v:
        return ""
    if v.isascii():
        return v[0] + "*" * (len(v) - 1)
    keep = 2 if len(v) >= 3 and v[:2] in _COMPOUND_SURNAMES else 1
    if len(v) == 1:
        return "*"
    return v[:keep] + "*" * (len(v) - keep)


def _mask_by_key(key: str, value: str) -> str:
    k = key.lower()
    if k in ID_KEYS:
        return mask_id_number(value)
    if k in PHONE_KEYS:
        return mask_phone(value)
    return mask_name(value)


def scrub(text: str) -> str:
    """Mask every ID number, mobile number and personal ``key=value`` pair in ``text``."""
    if not text:
        return text
    out = _ID_RE.sub(lambda m: mask_id_number(m.group(1)), text)
    out = _PHONE_RE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", out)
    return _PAIR_RE.sub(
        lambda m: m.group("key") + m.group("sep") + _mask_by_key(m.group("key"), m.group("val")),
        out,
    )


def scrub_obj(obj: Any) -> Any:
    """A masked deep copy of ``obj`` (dicts, lists, tuples, sets, strings; others as they are)."""
    if isinstance(obj, str):
        return scrub(obj)
    if isinstance(obj, Mapping):
        result: dict[Any, Any] = {}
        for key, value in obj.items():
            if isinstance(key, str) and key.lower() in _PERSONAL_KEYS and value is not None:
                result[key] = _mask_by_key(key, str(value))
            else:
                result[key] = scrub_obj(value)
        return result
    if isinstance(obj, list | tuple | set | frozenset):
        items = [scrub_obj(v) for v in obj]
        return items if isinstance(obj, list | set | frozenset) else tuple(items)
    return obj
