"""Resident ID numbers (GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2 check character.

Characters 1-6 are the household region code, 7-14 the birth date (YYYYMMDD), 15-17 a
sequence number (odd for men), 18 the check character (0-9 or X).
"""

from __future__ import annotations

import datetime as dt

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_char(first17: str) -> str:
    """The check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need exactly 17 ASCII digits")
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def problem(id_number: str) -> tuple[str, str] | None:
    """None when valid, else (code, Chinese message) naming what is wrong."""
    if len(id_number) != 18:
        return "id_number.length", "身份证号码应为18位"
    body, last = id_number[:17], id_number[17].upper()
    if not (body.isascii() and body.isdigit()) or last not in "0123456789X":
        return "id_number.format", "身份证号码只能由数字和末位X组成"
    try:
        dt.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        return "id_number.birth_date", "身份证号码中的出生日期无效"
    if check_char(body) != last:
        return "id_number.checksum", "身份证号码校验位不正确，请核对后重新输入"
    return None


def is_valid(id_number: str) -> bool:
    return problem(id_number) is None


def birth_date(id_number: str) -> dt.date:
    return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def make(region6: str, born: dt.date, seq: int) -> str:
    """Build a valid ID number (tests, simulators and the demo use it)."""
    first17 = f"{region6}{born:%Y%m%d}{seq:03d}"
    return first17 + check_char(first17)
