"""Which town a village (and so a case) belongs to, from the code tables.

A 12-digit village code's first 9 digits name its town or township. A pre-merger village code
(``village_merge``) is mapped to the village that absorbed it first, so an old code lands at the
town that serves the village today. Town names come from the ``towns`` code table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hub.config.codetables import CodeTable, current_village

TOWN_CODE = re.compile(r"^\d{9}$")


def town_of_village(code: str, tables: Mapping[str, CodeTable]) -> str | None:
    current = current_village(code, tables)
    return current[:9] if current else None


def town_name(town: str, tables: Mapping[str, CodeTable]) -> str:
    table = tables.get("towns")
    return table.entries.get(town, "本乡镇") if table else "本乡镇"


def village_name(code: str, tables: Mapping[str, CodeTable]) -> str:
    table = tables.get("villages")
    current = current_village(code, tables) or code
    return table.entries.get(current, "其他村") if table else "其他村"


def villages_of(town: str, tables: Mapping[str, CodeTable]) -> list[str]:
    """The town's current villages (post-merger codes), in code order."""
    table = tables.get("villages")
    return sorted(c for c in (table.entries if table else {}) if c[:9] == town)


def codes_of(town: str, tables: Mapping[str, CodeTable]) -> list[str]:
    """Every village code that lands at the town: current ones and pre-merger ones."""
    merge = tables.get("village_merge")
    old = [o for o, new in (merge.entries.items() if merge else ()) if new[:9] == town]
    return sorted({*villages_of(town, tables), *old})


def known_town(town: str, tables: Mapping[str, CodeTable]) -> bool:
    return bool(TOWN_CODE.match(town)) and bool(villages_of(town, tables))
