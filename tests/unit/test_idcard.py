"""GB 11643 check character: property-based and known vectors."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from hub.domain import idcard

regions = st.sampled_from(["110101", "513401", "440305", "650102"])
births = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31))
seqs = st.integers(min_value=0, max_value=999)


def test_known_vector_from_the_standard() -> None:
    # The example in GB 11643-1999 annex: 11010519491231002X.
    assert idcard.check_char("11010519491231002") == "X"
    assert idcard.is_valid("11010519491231002X")
    assert idcard.is_valid("11010519491231002x".upper())


@given(regions, births, seqs)
def test_every_generated_number_is_valid_and_keeps_its_birth_date(
    region: str, born: dt.date, seq: int
) -> None:
    number = idcard.make(region, born, seq)
    assert idcard.problem(number) is None
    assert idcard.birth_date(number) == born


@given(regions, births, seqs, st.integers(min_value=0, max_value=16), st.integers(1, 9))
def test_changing_any_single_digit_is_caught(
    region: str, born: dt.date, seq: int, pos: int, delta: int
) -> None:
    number = idcard.make(region, born, seq)
    digit = (int(number[pos]) + delta) % 10
    tampered = number[:pos] + str(digit) + number[pos + 1 :]
    # MOD 11-2 detects every single-digit substitution; a changed date may also be invalid.
    assert idcard.problem(tampered) is not None


@given(regions, births, seqs)
def test_a_wrong_check_character_is_named_checksum(region: str, born: dt.date, seq: int) -> None:
    number = idcard.make(region, born, seq)
    wrong = next(c for c in "0123456789X" if c != number[-1])
    assert idcard.problem(number[:17] + wrong) == (
        "id_number.checksum", "身份证号码校验位不正确，请核对后重新输入")


def test_malformed_numbers_get_their_own_codes() -> None:
    assert idcard.problem("123") is not None and idcard.problem("123")[0] == "id_number.length"  # type: ignore[index]
    assert idcard.problem("51340119A0010100X1")[0] == "id_number.format"  # type: ignore[index]
    assert idcard.problem(idcard.make("513401", dt.date(2000, 1, 1), 1)[:10] + "1332" + "0011")[0] in (  # type: ignore[index]
        "id_number.birth_date", "id_number.checksum")
