"""What the pages read from catalogue items, in Chinese.

The catalogue carries it all (``hub.config.catalogue``): choice labels resolved from the code
tables, the life-event group, synonyms and the guide; these accessors give the pages one place
to read them from, and ``GROUP_ORDER`` the order life events are listed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.config.catalogue import CatalogueItem, FormField

GROUP_ORDER = ("出生", "上学", "就业", "社保卡", "参保", "缴费", "就医报销", "救助", "养老", "残疾",
               "住房", "户籍", "身后事", "其他")


@dataclass(frozen=True)
class Guide:
    conditions: str
    time_limit: str
    fees: str
    notes: str


def choices(field: FormField) -> list[tuple[str, str]]:
    """``(value, Chinese label)`` of an enum field's choices."""
    return [(c, field.choice_labels.get(c, "其他")) for c in field.choices]


def choice_label(field: FormField, value: Any) -> str:
    return dict(choices(field)).get(str(value), "其他")


def group(item: CatalogueItem) -> str:
    return item.group


def synonyms(item: CatalogueItem) -> tuple[str, ...]:
    return item.synonyms


def guide(item: CatalogueItem) -> Guide:
    g = item.guide
    return Guide(conditions=g.conditions, time_limit=g.time_limit, fees=g.fee, notes=g.notes)


def marks(item: CatalogueItem) -> list[str]:
    """What the workbench and the catalogue API show beside an item: 上门办 (the service team
    can take it at the resident's home), 村里当场办结 (decided on the spot in the village) and
    乡镇审批 (decided at the town's window, ``hub.town``)."""
    return [m for m, on in (("上门办", item.flags.door_to_door),
                            ("村里当场办结", item.decided_by == "village"),
                            ("乡镇审批", item.decided_by == "town")) if on]


RELATION_ZH = {"newborn": "新生儿", "deceased": "逝者", "spouse": "配偶", "child": "子女",
               "parent": "父母", "other": "其他"}
