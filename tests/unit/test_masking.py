"""Masking of ID numbers, mobile numbers and names, alone and inside free text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.observability.masking import mask_id_number, mask_name, mask_phone, scrub, scrub_obj

ID = "510104199001011234"
ID_X = "11010519491231002X"
PHONE = "13812345678"


def test_id_number_keeps_only_first_three_and_last_four() -> None:
    assert mask_id_number(ID) == "510***********1234"
    assert mask_id_number(ID_X) == "110***********002X"
    # The birth date (characters 7-14) must not survive.
    assert "19900101" not in mask_id_number(ID)


def test_phone_keeps_prefix_and_last_four() -> None:
    assert mask_phone(PHONE) == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_phone(mask_phone(PHONE)) == "138****5678"


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("王小明", "王**"), ("欧阳娜娜", "欧阳**"), ("欧阳修", "欧阳*"),
     ("欧阳", "欧*"), ("李", "*"), ("Zhang San", "Z********"), ("", "")],
)
def test_name_keeps_only_the_surname(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_scrub_masks_ids_and_phones_inside_text() -> None:
    # Given a log message with an ID, a phone written three ways, glued to Chinese text
    text = f"居民身份证{ID}，电话{PHONE}；备用 +86 139 1234 5678 / 150-1111-2222, ID {ID_X}."
    # When scrubbed
    out = scrub(text)
    # Then no digits of the personal numbers remain beyond what masking keeps
    for secret in (ID, ID_X, PHONE, "13912345678", "139 1234 5678", "150-1111-2222"):
        assert secret not in out
    assert "510***********1234" in out
    assert "138****5678" in out and "139****5678" in out and "150****2222" in out


def test_scrub_leaves_other_numbers_alone() -> None:
    # A 19-digit number, a 12-digit number, a uuid and a timestamp are not personal numbers.
    text = ("seq 1234567890123456789 n 213812345678 "
            "id 550e8400-e29b-41d4-a716-446655440000 at 2026-05-01T08:00:00Z")
    assert scrub(text) == text


def test_scrub_masks_values_of_personal_keys_in_reprs() -> None:
    text = ("Applicant(name='张三', id_number='X', phone=\"1\") "
            "{\"姓名\": \"王五\"} resident_name=李四")
    out = scrub(text)
    assert "张三" not in out and "王五" not in out and "李四" not in out
    assert "name='张*'" in out and '"姓名": "王*"' in out and "resident_name=李*" in out


def test_scrub_obj_masks_by_key_and_by_value_recursively() -> None:
    given_obj = {
        "case_id": "c-1",
        "applicant": {"name": "欧阳娜娜", "id_number": ID, "phone": PHONE},
        "notes": [f"call {PHONE}", ("x", ID)],
        "count": 3,
    }
    out = scrub_obj(given_obj)
    assert out == {
        "case_id": "c-1",
        "applicant": {"name": "欧阳**", "id_number": "510***********1234", "phone": "138****5678"},
        "notes": ["call 138****5678", ("x", "510***********1234")],
        "count": 3,
    }
    # The input is not modified.
    assert given_obj["applicant"]["name"] == "欧阳娜娜"  # type: ignore[index]


@given(st.from_regex(r"\A[1-6]\d{16}[\dX]\Z"), st.from_regex(r"\A1[3-9]\d{9}\Z"),
       st.text(alphabet="村民办理社保医保 ,.:;()", max_size=20))
def test_no_id_or_phone_survives_scrub(id_number: str, phone: str, filler: str) -> None:
    out = scrub(f"{filler}{id_number}{filler} {phone}{filler}")
    assert id_number not in out
    assert phone not in out
