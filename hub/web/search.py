"""Find catalogue items the way a clerk or resident says it: words, synonyms and pinyin.

A query matches an item's plain name, official title, synonyms and life-event group as
Chinese text, or their pinyin: the full spelling (``shenghaizi``) or the initials (``shz``
finds 我要生孩子). Pinyin comes from pypinyin, which knows polyphonic characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from hub.config.catalogue import CatalogueItem
from hub.web.labels import group, synonyms


@lru_cache(maxsize=4096)
def spellings(text: str) -> tuple[str, str]:
    """(full spelling, initials) of ``text``, lower case, without spaces."""
    full = "".join(lazy_pinyin(text)).lower()
    initials = "".join(lazy_pinyin(text, style=Style.FIRST_LETTER)).lower()
    return full, initials


def _score(item: CatalogueItem, q: str) -> tuple[int, int]:
    """(score, -length of the text that matched): among equal scores the shorter text, where
    the query is most of what is said, comes first (bx: 我要办保险 before 我要报销生孩子的费用)."""
    texts = [(item.name, 100), *((s, 80) for s in synonyms(item)), (item.title, 60),
             (group(item), 50)]
    best = (0, 0)
    for text, weight in texts:
        if q in text.lower():
            best = max(best, (weight + (10 if text.lower().startswith(q) else 0), -len(text)))
            continue
        if not q.isascii() or not q.isalpha():
            continue
        full, initials = spellings(text)
        if q in initials:
            best = max(best, (weight - 20, -len(text)))
        elif q in full:
            best = max(best, (weight - 30, -len(text)))
    return best


def search(items: Sequence[CatalogueItem], query: str, limit: int = 20) -> list[CatalogueItem]:
    q = "".join(query.split()).lower()[:40]
    if not q:
        return []
    scored = [(s, n, i) for n, i in enumerate(items) if (s := _score(i, q))[0] > 0]
    scored.sort(key=lambda x: (-x[0][0], -x[0][1], x[1]))
    return [i for _, _, i in scored[:limit]]
