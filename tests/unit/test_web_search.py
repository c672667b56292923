"""Finding an item the way a clerk or resident says it, and the Chinese labels of choices."""

from __future__ import annotations

import pytest

from hub.web import labels
from hub.web.lookup import normalise_code
from hub.web.search import search
from tests.support.config import shipped_config


@pytest.mark.parametrize(("query", "first"), [
    ("shz", "我要生孩子"), ("shenghaizi", "我要生孩子"), ("生娃", "我要生孩子"),
    ("添孩子", "我要生孩子"), ("bx", "我要办保险"), ("去世", "我家有人去世了"),
    ("丧葬费", "我家有人去世了"), ("社保卡丢了", "我要补换社保卡"), ("低保", "我要申请低保"),
    ("SHZ", "我要生孩子"), (" s h z ", "我要生孩子"),
])
def test_search_finds_by_words_synonyms_and_pinyin(query: str, first: str) -> None:
    found = search(shipped_config().catalogue.items, query)
    assert found and found[0].name == first


def test_search_finds_nothing_for_nonsense_or_empty() -> None:
    items = shipped_config().catalogue.items
    assert search(items, "zzzz") == []
    assert search(items, "   ") == []


def test_every_choice_and_group_has_a_chinese_label() -> None:
    cfg = shipped_config()
    for item in cfg.catalogue.items:
        assert labels.group(item) in labels.GROUP_ORDER
        for f in item.all_forms():
            for value, label in labels.choices(f):
                assert (label != value and label != "其他") or value == "other", (item.code, value)
    education = next(f for f in cfg.catalogue.get("JOB_REG").form  # type: ignore[union-attr]
                     if f.key == "education")
    assert labels.choices(education) == [("primary", "小学"), ("junior", "初中"),
                                        ("senior", "高中（中专）"), ("college", "大专及以上")]


def test_tracking_codes_are_read_forgivingly() -> None:
    assert normalise_code("abcd efgh-jkmn") == "ABCD-EFGH-JKMN"
    assert normalise_code("ABCDEFGHJKMO") == "ABCD-EFGH-JKM0"  # O read as 0
    assert normalise_code("not a code") is None
    assert normalise_code("1b4e28ba-2fa1-11d2-883f-0016d3cca427") is None
