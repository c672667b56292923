"""What the pages read from catalogue items, in Chinese, with fallbacks for today's catalogue.

The catalogue is gaining Chinese choice labels, guides, synonyms and life-event groups; until an
item carries them, the tables here answer. Each accessor reads the item's own field first
(``getattr``), so the pages pick up the catalogue's fields as soon as they exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.config.catalogue import CatalogueItem, FormField

CHOICE_ZH = {
    "lost": "遗失", "damaged": "损坏", "expired": "过期", "male": "男", "female": "女",
    "primary": "小学", "junior": "初中", "senior": "高中（中专）", "college": "大专及以上",
    "illness": "疾病", "accident": "意外事故", "disaster": "自然灾害", "other": "其他",
    "home": "分散供养（在家）", "institution": "集中供养（进供养机构）", "spouse": "配偶",
    "child": "子女", "parent": "父母",
}

GROUP_ORDER = ("出生", "参保", "缴费", "报销", "救助", "养老", "就业", "证卡", "身后事", "乡镇审批")
_GROUP = {
    "BIRTH": "出生", "INSURE_BOTH": "参保", "MED_ENROLL": "参保", "PENSION_ENROLL": "参保",
    "MED_PAY": "缴费", "MED_REIMB": "报销", "MED_ASSIST": "救助", "DIBAO": "救助",
    "TEMP_AID": "救助", "TEKUN": "救助", "PENSION_CERT": "养老", "PENSION_CLAIM": "养老",
    "ELDER_ALLOWANCE": "养老", "JOB_REG": "就业", "SSCARD_REPLACE": "证卡", "DEATH": "身后事",
}
_SYNONYMS = {
    "BIRTH": ("生娃", "添孩子", "生小孩", "新生儿", "上户口", "出生证"),
    "INSURE_BOTH": ("参保", "买保险", "养老医疗一起办"),
    "MED_ENROLL": ("合作医疗", "新农合", "参加医保"),
    "MED_PAY": ("交医保", "医保缴费", "交合作医疗"),
    "MED_REIMB": ("看病报销", "医药费报销", "住院报销"),
    "PENSION_ENROLL": ("交养老保险", "农村养老保险"),
    "PENSION_CERT": ("生存认证", "刷脸认证", "年审"),
    "PENSION_CLAIM": ("退休金", "领养老钱", "养老金"),
    "SSCARD_REPLACE": ("社保卡丢了", "补卡", "换卡"),
    "JOB_REG": ("失业登记", "就业登记", "打工"),
    "DIBAO": ("低保", "困难补助"),
    "TEMP_AID": ("急难救助", "救急", "临时困难"),
    "ELDER_ALLOWANCE": ("老人补贴", "高龄", "八十岁补贴"),
    "TEKUN": ("五保", "特困"),
    "MED_ASSIST": ("大病救助", "看不起病"),
    "DEATH": ("去世", "过世", "老人走了", "丧葬费", "销户"),
}
_DAYS = {"BIRTH": 5, "INSURE_BOTH": 5, "MED_ENROLL": 3, "MED_PAY": 1, "MED_REIMB": 20,
         "PENSION_ENROLL": 5, "PENSION_CERT": 1, "PENSION_CLAIM": 15, "SSCARD_REPLACE": 10,
         "JOB_REG": 3, "DIBAO": 30, "TEMP_AID": 10, "ELDER_ALLOWANCE": 20, "TEKUN": 30,
         "MED_ASSIST": 20, "DEATH": 15}
_CONDITIONS = {
    "BIRTH": "新生儿出生后，由父母一方持出生医学证明到户籍所在村办理。",
    "DEATH": "居民去世后，由家属持死亡证明办理养老保险注销、医保停保和丧葬补助。",
    "DIBAO": "家庭人均收入低于当地低保标准，且家庭财产符合规定。",
    "TEKUN": "无劳动能力、无生活来源、无法定赡养抚养扶养义务人或其无履行能力的老年人、残疾人和未成年人。",
    "ELDER_ALLOWANCE": "本村户籍、年满80周岁的老年人。",
    "TEMP_AID": "因疾病、意外事故、自然灾害等导致基本生活暂时出现严重困难的家庭。",
    "MED_ASSIST": "低保、特困等困难群众，医保报销后个人负担仍然较重。",
}


@dataclass(frozen=True)
class Guide:
    conditions: str
    time_limit: str
    fees: str
    notes: str


def choices(field: FormField) -> list[tuple[str, str]]:
    """``(value, Chinese label)`` of an enum field's choices."""
    table = getattr(field, "choice_labels", None)
    out: list[tuple[str, str]] = []
    for choice in field.choices:
        value = str(getattr(choice, "code", choice))
        label = getattr(choice, "label", None)
        if label is None and isinstance(table, Mapping):
            label = table.get(value)
        out.append((value, str(label or CHOICE_ZH.get(value, "其他"))))
    return out


def choice_label(field: FormField, value: Any) -> str:
    return dict(choices(field)).get(str(value), "其他")


def group(item: CatalogueItem) -> str:
    own = getattr(item, "group", None)
    if not own and item.decided_by == "town":
        return "乡镇审批"  # decided at the town's window (hub.town)
    return str(own) if own else _GROUP.get(item.code, "其他")


def synonyms(item: CatalogueItem) -> tuple[str, ...]:
    own = getattr(item, "synonyms", None)
    return tuple(str(s) for s in own) if own else _SYNONYMS.get(item.code, ())


def guide(item: CatalogueItem) -> Guide:
    own = getattr(item, "guide", None)
    days = _DAYS.get(item.code, 10)
    fallback = Guide(
        conditions=_CONDITIONS.get(item.code, "本村户籍居民，或在本村参保的居民。"),
        time_limit=f"{days}个工作日",
        fees="不收费",
        notes="请带齐材料原件，服务室当场扫描后退还；代办的请带上代办人身份证。")
    if own is None:
        return fallback
    return Guide(conditions=str(getattr(own, "conditions", "") or fallback.conditions),
                 time_limit=str(getattr(own, "time_limit", "") or fallback.time_limit),
                 fees=str(getattr(own, "fees", "") or fallback.fees),
                 notes=str(getattr(own, "notes", "") or fallback.notes))


RELATION_ZH = {"newborn": "新生儿", "deceased": "逝者", "spouse": "配偶", "child": "子女",
               "parent": "父母", "other": "其他"}
